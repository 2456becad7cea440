"""The Serve app over real HTTP: the ingress composed over the IntentParser and ModelRegistry
deployments on the session's local Ray cluster, deployed by the CLI as `make up` does."""
import httpx
import pytest

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def api(api_url, admin_token):
    with httpx.Client(base_url=api_url, timeout=120, headers={"authorization": f"Bearer {admin_token}"}) as client:
        yield client


def test_health(api):
    assert api.get("/healthz").json()["status"] == "ok"


@pytest.mark.parametrize("message, language, task, model", [
    ("ResNet50으로 고양이 3종류 분류해줘", "ko", "classification", "resnet50"),
    ("train a YOLOv8n detector for helmets, 50 epochs", "en", "detection", "yolov8n"),
])
def test_parse_over_http(api, message, language, task, model):
    r = api.post("/v1/parse", json={"message": message})
    assert r.status_code == 200
    body = r.json()
    assert (body["language"], body["intent"]["task"], body["intent"]["model"]["name"]) == (language, task, model)
    assert body["missing"] == ["dataset"] and body["status"] == "needs_clarification"


def test_parse_follow_up_over_http(api):
    first = api.post("/v1/parse", json={"message": "train a yolov8n detector for helmets on s3://bucket/helmets"}).json()
    second = api.post("/v1/parse", json={"message": "use yolo11s instead, 20 epochs", "history": [first]}).json()
    assert second["status"] == "complete"
    assert second["intent"]["model"]["name"] == "yolo11s" and second["intent"]["hyperparameters"]["epochs"] == 20


@pytest.mark.parametrize("body", [{"message": ""}, {"message": "x" * 5000}, {"text": "hi"},
                                  {"message": "resnet18", "history": "not a list"}, {"message": "hi", "admin": True}])
def test_bad_parse_requests_say_what_is_wrong(api, body):
    r = api.post("/v1/parse", json=body)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][0] == "body"


def test_model_search_by_task_and_query(api):
    r = api.get("/v1/models", params={"task": "detection", "q": "YOLO11"}).json()
    names = [m["name"] for m in r["models"]]
    assert names == ["yolo11n", "yolo11s", "yolo11m", "yolo11l", "yolo11x"]
    assert all(m["tasks"] == ["detection"] and m["params"] > 1_000_000 for m in r["models"])
    first = api.get("/v1/models", params={"q": "ResNet-50", "limit": 3}).json()
    assert first["models"][0]["name"] == "resnet50" and first["total"] > 3 and len(first["models"]) == 3
    seg = api.get("/v1/models", params={"task": "segmentation"}).json()
    assert {"nvidia/mit-b0", "yolov8n-seg"} <= {m["name"] for m in seg["models"]} | {
        m["name"] for m in api.get("/v1/models", params={"task": "segmentation", "offset": 20}).json()["models"]}


def test_one_model_with_metadata(api):
    m = api.get("/v1/models/huggingface/nvidia/mit-b0").json()
    assert m["tasks"] == ["segmentation"] and m["params"] == pytest.approx(3.7e6, rel=0.05)
    assert api.get("/v1/models/timm/resnet50").json()["params"] == 25_557_032


def test_unknown_model_or_source_is_404_with_closest_names(api):
    r = api.get("/v1/models/timm/resnet51")
    assert r.status_code == 404 and "resnet50" in r.json()["detail"] and "Traceback" not in r.text
    r = api.get("/v1/models", params={"source": "keras"})
    assert r.status_code == 404 and "timm" in r.json()["detail"]
    assert api.get("/v1/models", params={"task": "juggling"}).status_code == 422


def test_an_unexpected_failure_answers_json_naming_the_request(ray_cluster):
    """The API's own 500 is JSON, so a bare-text 500 can only be Serve's proxy saying that the
    ingress replica died while answering, which the clients send again (tests/test_replica_faults.py)."""
    from fastapi.testclient import TestClient

    from serve_app.app import api as app

    @app.get("/v1/broken-route-for-this-test", include_in_schema=False)
    def broken() -> None:
        raise KeyError("a bug")

    try:
        r = TestClient(app, raise_server_exceptions=False).get("/v1/broken-route-for-this-test")
    finally:
        app.router.routes.pop()
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert "GET /v1/broken-route-for-this-test (KeyError)" in r.json()["detail"]
    assert "a bug" not in r.text  # nothing of the exception's text crosses the wire
