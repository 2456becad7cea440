"""The platform over real HTTP: upload a dataset, talk to it, confirm the plan, follow the job's
event stream to a trained model, fetch its artifacts; other users cannot see or stop it; a
second job over the quota gets 429 and is not submitted; a flood of requests gets 429."""
import asyncio
import json
import os
import shutil
import time

import httpx
import psutil
import pytest

pytestmark = pytest.mark.ray


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def people(api_url, admin_token) -> dict:
    tokens = {}
    for name, role in (("alice2", "user"), ("bob2", "user"), ("vera2", "viewer"), ("rita2", "user")):
        r = httpx.post(f"{api_url}/v1/users", headers=bearer(admin_token),
                       json={"username": name, "password": f"{name}-password", "role": role})
        assert r.status_code in (201, 409), r.text
        login = httpx.post(f"{api_url}/v1/auth/login", json={"username": name, "password": f"{name}-password"})
        tokens[name] = bearer(login.json()["access_token"])
    return tokens


@pytest.fixture(scope="module")
def shapes_zip(shapes, tmp_path_factory) -> bytes:
    path = shutil.make_archive(str(tmp_path_factory.mktemp("zip") / "shapes"), "zip", shapes)
    with open(path, "rb") as f:
        return f.read()


def processes(part: str) -> list[psutil.Process]:
    """This machine's processes whose command line contains ``part``."""
    found = []
    for proc in psutil.process_iter():
        try:
            if part in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def sse(url: str, headers: dict, timeout_s: float = 300, ids: bool = False) -> list[tuple]:
    """(kind, event) pairs, or (id, kind, event) with ``ids``."""
    events, kind, event_id = [], None, None
    with httpx.stream("GET", url, headers=headers, timeout=timeout_s) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((event_id, kind, json.loads(line[6:])) if ids else (kind, json.loads(line[6:])))
                event_id = None
    return events


def test_upload_chat_confirm_follow_and_fetch(api_url, people, shapes_zip):
    alice, bob, vera = people["alice2"], people["bob2"], people["vera2"]
    r = httpx.post(f"{api_url}/v1/datasets", params={"name": "shapes"}, content=shapes_zip,
                   headers={**alice, "content-type": "application/zip"})
    assert r.status_code == 201, r.text
    dataset = r.json()
    assert dataset["dataset_id"].startswith("ds-") and dataset["report"]["ok"]
    assert [d["dataset_id"] for d in httpx.get(f"{api_url}/v1/datasets", headers=alice).json()] == [dataset["dataset_id"]]
    assert httpx.get(f"{api_url}/v1/datasets", headers=bob).json() == []
    assert httpx.get(f"{api_url}/v1/datasets/{dataset['dataset_id']}", headers=bob).status_code == 404

    turn = httpx.post(f"{api_url}/v1/chat", headers=alice, json={
        "message": "Train resnet18 to classify 3 kinds of shapes, 2 epochs, image size 32, batch size 16"}).json()
    assert turn["result"]["status"] == "needs_clarification" and turn["plan"] is None
    assert turn["result"]["missing"] == ["dataset"]
    r = httpx.post(f"{api_url}/v1/chat", headers=alice,
                   json={"session_id": turn["session_id"], "message": "use the dataset I uploaded"})
    plan = r.json()["plan"]
    assert plan, r.json()
    config = plan["config"]
    assert config["dataset"]["uri"] == dataset["dataset_id"] and config["owner"] == "alice2"
    assert config["hyperparameters"]["epochs"] == 2 and "hyperparameters.epochs" not in plan["defaults"]
    assert "hyperparameters.learning_rate" in plan["defaults"] and "resources.num_workers" in plan["defaults"]
    assert httpx.post(f"{api_url}/v1/chat", headers=bob, json={"session_id": turn["session_id"],
                                                              "message": "hi"}).status_code == 404

    assert httpx.post(f"{api_url}/v1/jobs", headers=vera, json={"session_id": turn["session_id"]}).status_code == 403
    r = httpx.post(f"{api_url}/v1/jobs", headers=alice, json={"session_id": turn["session_id"]})
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]

    # Over the quota (one active job in this test cluster): 429, and nothing new is recorded.
    again = httpx.post(f"{api_url}/v1/jobs", headers=alice, json={"session_id": turn["session_id"]})
    assert again.status_code == 429 and job_id in again.json()["detail"], again.text
    assert [j["job_id"] for j in httpx.get(f"{api_url}/v1/jobs", headers=alice).json()] == [job_id]

    # Other people: bob cannot see or stop it; the viewer can read but not stop.
    assert httpx.get(f"{api_url}/v1/jobs/{job_id}", headers=bob).status_code == 404
    assert httpx.post(f"{api_url}/v1/jobs/{job_id}/stop", headers=bob).status_code == 404
    assert job_id not in [j["job_id"] for j in httpx.get(f"{api_url}/v1/jobs", headers=bob).json()]
    assert httpx.get(f"{api_url}/v1/jobs/{job_id}", headers=vera).json()["ended"] is False  # read, not ended yet
    assert httpx.post(f"{api_url}/v1/jobs/{job_id}/stop", headers=vera).status_code == 403

    # While the job starts and runs, the API keeps the machine's normal priority and the job's
    # driver runs at that of Ray's workers (nice 15), below it.
    def driver() -> list[psutil.Process]:  # the Python process, not the shell that started it
        return [p for p in processes(f"/jobs/{job_id}/config.yaml") if p.cmdline()[0] != "/bin/sh"]

    deadline = time.time() + 60
    while not (driver() and {p.nice() for p in driver()} == {15}) and time.time() < deadline:
        time.sleep(0.2)
    assert driver() and {p.nice() for p in driver()} == {15}, [(p.cmdline(), p.nice()) for p in driver()]
    api = processes("ServeReplica:visiontrain:") + processes("ray::ProxyActor")
    assert len(api) >= 4 and {p.nice() for p in api} == {0}, [(p.cmdline(), p.nice()) for p in api]

    events = sse(f"{api_url}/v1/jobs/{job_id}/events", alice)
    states = [e["state"] for kind, e in events if kind == "job" and e["kind"] == "state"]
    assert states[-1] == "succeeded" and events[-1] == ("end", {"job_id": job_id, "state": "succeeded"}), states
    assert [e["epoch"] for kind, e in events if kind == "job" and e["kind"] == "metrics"] == [1, 2]
    progress = [e for kind, e in events if kind == "telemetry" and e["kind"] == "progress"]
    assert progress and all(e["job_id"] == job_id and e["rank"] == 0 and "loss" in e for e in progress)

    # A client that lost the stream reconnects with the last id it got: nothing lost, nothing repeated.
    url = f"{api_url}/v1/jobs/{job_id}/events"
    full = sse(url, alice, ids=True)
    assert sorted(json.dumps(e) for _, _, e in full) == sorted(json.dumps(e) for _, e in events)
    for cut in (1, len(full) // 2, len(full) - 2):
        assert full[:cut] + sse(url, {**alice, "last-event-id": full[cut - 1][0]}, ids=True) == full
    refused = httpx.get(url, headers={**alice, "last-event-id": "events:1;rm -rf"})
    assert refused.status_code == 400 and "reconnect without it" in refused.json()["detail"]

    record = httpx.get(f"{api_url}/v1/jobs/{job_id}", headers=alice).json()
    assert record["state"] == "succeeded" and record["ended"] and record["owner"] == "alice2" and record["ray_job_id"]

    # The same job's progress said in Korean: the stream's state messages and the record's history.
    said = {e["state"]: e["message"] for kind, e in sse(f"{url}?language=ko", alice) if e.get("kind") == "state"}
    assert said["training"] == "워커 1개, CPU, 에폭 2회" and said["evaluating"] == "최고 가중치를 검증 데이터로 평가하는 중"
    assert said["pending"] in ("대기열: Ray에 제출되기를 기다리는 중", "Ray에 제출하는 중 (워커 1개)")
    korean = httpx.get(f"{api_url}/v1/jobs/{job_id}", headers=alice, params={"language": "ko"}).json()
    assert "분류용 timm/resnet18 모델 준비 중" in [h["message"] for h in korean["history"]]
    assert [h["state"] for h in korean["history"]] == [h["state"] for h in record["history"]]
    assert httpx.get(f"{api_url}/v1/jobs/{job_id}", headers=alice, params={"language": "fr"}).status_code == 422
    assert [h["state"] for h in record["history"]][-1] == "succeeded"
    names = httpx.get(f"{api_url}/v1/jobs/{job_id}/artifacts", headers=alice).json()["artifacts"]
    assert {"metrics.json", "export/model.onnx", "weights/model.pt", "config.yaml", "samples/prediction_0.png"} <= set(names)
    metrics = httpx.get(f"{api_url}/v1/jobs/{job_id}/artifacts/metrics.json", headers=alice).json()
    assert metrics["accuracy"] == record["result"]["accuracy"]
    weights = httpx.get(f"{api_url}/v1/jobs/{job_id}/artifacts/weights/model.pt", headers=alice)
    stored = os.path.join(record["folder_uri"], "weights", "model.pt")
    assert weights.status_code == 200 and weights.content == open(stored, "rb").read()  # larger than one Serve message
    assert httpx.get(f"{api_url}/v1/jobs/{job_id}/artifacts/metrics.json", headers=bob).status_code == 404
    assert httpx.get(f"{api_url}/v1/jobs/{job_id}/artifacts/../../users.db", headers=alice).status_code == 404
    assert "epoch 2/2" in httpx.get(f"{api_url}/v1/jobs/{job_id}/logs", headers=alice).text


@pytest.mark.parametrize("body, status, words", [
    ({"config": {"task": "classification", "model": {"name": "resnet18"}, "dataset": {"uri": "/etc"}}}, 403,
     "only admins"),
    ({"config": {"task": "classification", "model": {"name": "resnet18"}, "dataset": {"uri": "ds-0000000000000000000000000000000000000000000000000000000000000000"}}},
     422, "no dataset ds-0000000000000000000000000000000000000000000000000000000000000000 among yours"),
    ({"config": {"task": "classification", "model": {"name": "resnet18"}, "dataset": {"uri": "s3://b/d"},
                 "script": {"path": "/tmp/x.py"}}}, 403, "admins"),
    ({"config": {"task": "painting", "model": {"name": "resnet18"}, "dataset": {"uri": "s3://b/d"}}}, 422, "task"),
    ({"config": {"task": "classification", "model": {"name": "resnet18"}, "dataset": {"uri": "s3://b/d"},
                 "resources": {"cpus_per_worker": 64}}}, 422, "could never start: each worker asks for 64 CPUs, but the "
     "largest node has 2"),
    ({"config": {"task": "classification", "model": {"name": "resnet18"}, "dataset": {"uri": "s3://b/d"},
                 "resources": {"use_gpu": True}}}, 422, "asks for 1 GPU(s) and the cluster has 0"),
    ({"session_id": "0" * 32, "config": {}}, 422, "either"),
    ({"session_id": "0" * 32}, 404, "no conversation"),
])
def test_bad_submissions_say_what_is_wrong(api_url, people, body, status, words):
    r = httpx.post(f"{api_url}/v1/jobs", headers=people["bob2"], json=body)
    assert r.status_code == status and words in json.dumps(r.json()), r.text


def test_bad_uploads_are_refused(api_url, people):
    rita = people["bob2"]
    r = httpx.post(f"{api_url}/v1/datasets", params={"name": "x"}, content=b"not a zip",
                   headers={**rita, "content-type": "application/zip"})
    assert r.status_code == 422
    r = httpx.post(f"{api_url}/v1/datasets", params={"name": "x"}, content=b"{}", headers={**rita,
                                                                                           "content-type": "application/json"})
    assert r.status_code == 415 and "application/zip" in r.json()["detail"]


def test_a_flood_of_requests_gets_429_with_retry_after(api_url, people):
    async def flood():
        async with httpx.AsyncClient(headers=people["rita2"]) as client:
            return await asyncio.gather(*[client.get(f"{api_url}/v1/me") for _ in range(150)])

    answers = asyncio.run(flood())
    refused = [r for r in answers if r.status_code == 429]
    assert refused and all(r.status_code in (200, 429) for r in answers)
    assert int(refused[0].headers["retry-after"]) >= 1 and "try again" in refused[0].json()["detail"]
    assert httpx.get(f"{api_url}/v1/me", headers=people["bob2"]).status_code == 200  # others are not held up


def test_the_vocabulary_is_public_and_comes_from_the_registries(api_url):
    from adapters import list_adapters
    from train_jobs.tasks import TASKS
    from train_jobs.data.formats import list_formats
    from train_jobs.state import STATES

    r = httpx.get(f"{api_url}/v1/vocabulary")
    assert r.status_code == 200, r.text
    words = r.json()
    assert words["tasks"] == TASKS.names() and words["sources"] == list_adapters()
    assert [f["name"] for f in words["formats"]] == list_formats()
    assert {"name": "mvtec", "tasks": ["anomaly_detection"], "layout": "MVTec (train/good/ + test/<defect>/)",
            "writable": False} in words["formats"]
    assert [f["name"] for f in words["formats"] if f["writable"]] == list_formats(writable=True)
    assert words["words"]["ko"]["task.detection"] == "객체 검출" and words["words"]["en"]["state.succeeded"] == "succeeded"
    assert set(words["words"]["ko"]) == {f"task.{t}" for t in TASKS.names()} | {f"state.{s}" for s in STATES}
