"""The dataset manager over real HTTP: CVAT's VOC and COCO exports uploaded, listed with their counts and
health, looked over with their boxes drawn (all, or one class), renamed, converted to YOLO as a new
version that names its source, downloaded; named in a chat and trained for an epoch; deleted only once
no running job uses them; none of it reachable by another user."""
import base64
import io
import shutil
import zipfile

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import job_ended, signed_up
from test_exports import (cvat_coco_export, cvat_voc_export, mvtec_category, roboflow_coco_export, roboflow_export,
                          ultralytics_folder)

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def people(api_url, admin_token) -> dict:
    return {name: signed_up(api_url, admin_token, name) for name in ("dora", "eve")}


def _upload(api_url: str, who: dict, folder: str, name: str) -> dict:
    archive = shutil.make_archive(folder, "zip", folder)
    with open(archive, "rb") as f:
        r = httpx.post(f"{api_url}/v1/datasets", params={"name": name}, content=f.read(), timeout=120,
                       headers={**who, "content-type": "application/zip"})
    assert r.status_code == 201, r.text
    return r.json()


def _red_pixels(drawn: str) -> int:
    """Pixels of the colour boxes are drawn in."""
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(drawn))).convert("RGB")).astype(int)
    return int((np.abs(pixels - [255, 32, 32]).sum(axis=2) < 10).sum())


def test_the_dataset_manager(api_url, people, tmp_path):
    dora, eve = people["dora"], people["eve"]
    voc = _upload(api_url, dora, cvat_voc_export(str(tmp_path / "cvat-voc")), "site-a")
    coco = _upload(api_url, dora, cvat_coco_export(str(tmp_path / "cvat-coco")), "site-b")
    assert voc["report"]["ok"] and coco["report"]["ok"], (voc["report"]["summary"], coco["report"]["summary"])

    listed = {d["name"]: d for d in httpx.get(f"{api_url}/v1/datasets", headers=dora).json()}
    assert {n: (d["format"], d["task"], d["images"], d["ok"], d["version"]) for n, d in listed.items()} == {
        "site-a": ("voc", "detection", 4, True, 1), "site-b": ("coco", "detection", 4, True, 1)}
    assert httpx.get(f"{api_url}/v1/datasets", headers=eve).json() == []

    # The gallery: every image with its boxes drawn; one class's images only; a class it does not have.
    r = httpx.get(f"{api_url}/v1/datasets/{voc['dataset_id']}/samples", headers=dora)
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["matching"] == 4 and len(seen["samples"]) == 4
    assert all(_red_pixels(s["drawn"]) > 100 and sorted(s["classes"]) == ["head", "helmet"] for s in seen["samples"])
    heads = httpx.get(f"{api_url}/v1/datasets/{coco['dataset_id']}/samples", params={"class_name": "head", "limit": 2},
                      headers=dora).json()
    assert heads["matching"] == 4 and len(heads["samples"]) == 2 and all("head" in s["classes"] for s in heads["samples"])
    r = httpx.get(f"{api_url}/v1/datasets/{coco['dataset_id']}/samples", params={"class_name": "zebra"}, headers=dora)
    assert r.status_code == 422 and "helmet" in r.json()["detail"]

    # Rename; convert to YOLO (a new version that names its source); download it.
    r = httpx.patch(f"{api_url}/v1/datasets/{coco['dataset_id']}", json={"name": "site-b-final"}, headers=dora)
    assert r.status_code == 200 and r.json()["name"] == "site-b-final"
    r = httpx.post(f"{api_url}/v1/datasets/{voc['dataset_id']}/convert", params={"to": "yolo"}, headers=dora,
                   timeout=120)
    assert r.status_code == 201, r.text
    yolo = r.json()
    assert yolo["report"]["format"] == "yolo" and yolo["report"]["ok"] and yolo["name"] == "site-a-yolo"
    assert yolo["report"]["source"] == voc["dataset_id"] and yolo["report"]["images"] == 4
    listed = {d["name"]: d for d in httpx.get(f"{api_url}/v1/datasets", headers=dora).json()}
    assert set(listed) == {"site-a", "site-b-final", "site-a-yolo"}
    assert listed["site-a-yolo"]["source"] == voc["dataset_id"]
    r = httpx.post(f"{api_url}/v1/datasets/{voc['dataset_id']}/convert", params={"to": "voc"}, headers=dora)
    assert r.status_code == 422 and "voc already" in r.json()["detail"]
    r = httpx.get(f"{api_url}/v1/datasets/{yolo['dataset_id']}/archive", headers=dora, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert "data.yaml" in names and sum(n.endswith(".txt") and "labels" in n for n in names) == 4

    # Another user reaches none of it.
    for method, path in (("GET", "samples"), ("GET", "archive"), ("DELETE", ""), ("POST", "convert?to=coco")):
        url = f"{api_url}/v1/datasets/{voc['dataset_id']}/{path}".rstrip("/")
        assert httpx.request(method, url, headers=eve).status_code == 404, (method, path)
    assert httpx.patch(f"{api_url}/v1/datasets/{voc['dataset_id']}", json={"name": "mine"},
                       headers=eve).status_code == 404

    # Named in a chat, trained for an epoch; not deleted while the job runs, deleted after.
    turn = httpx.post(f"{api_url}/v1/chat", headers=dora, timeout=60, json={
        "message": "site-a 데이터셋으로 yolov8n 검출 모델 학습해줘, 1 에폭, 이미지 크기 64, 배치 4"}).json()
    assert turn["plan"], turn
    assert turn["plan"]["config"]["dataset"]["uri"] == voc["dataset_id"]
    r = httpx.post(f"{api_url}/v1/jobs", headers=dora, json={"session_id": turn["session_id"]})
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]
    r = httpx.delete(f"{api_url}/v1/datasets/{voc['dataset_id']}", headers=dora)
    assert r.status_code == 409 and job_id in r.json()["detail"]
    ended = job_ended(api_url, dora, job_id)
    assert ended["state"] == "succeeded", (ended["message"], ended["history"][-3:])
    assert httpx.delete(f"{api_url}/v1/datasets/{voc['dataset_id']}", headers=dora).status_code == 200
    assert httpx.get(f"{api_url}/v1/datasets/{voc['dataset_id']}", headers=dora).status_code == 404
    assert {d["name"] for d in httpx.get(f"{api_url}/v1/datasets", headers=dora).json()} == {"site-b-final",
                                                                                           "site-a-yolo"}
    again = httpx.post(f"{api_url}/v1/chat", headers=dora, timeout=60,
                       json={"message": "train yolov8n on the site-a dataset"}).json()
    assert again["plan"] is None and "site-a" in again["plan_problem"] and "site-b-final" in again["plan_problem"]
    # the converted version stays, its files intact
    assert httpx.get(f"{api_url}/v1/datasets/{yolo['dataset_id']}/samples", headers=dora).json()["matching"] == 4


EXPORTS = {  # archive layout: (how it is made, the job trained on it)
    "roboflow-yolov8": (roboflow_export, {"task": "detection", "model": {"source": "ultralytics", "name": "yolov8n"}}),
    "roboflow-coco": (roboflow_coco_export, {"task": "detection",
                                             "model": {"source": "ultralytics", "name": "yolov8n"}}),
    "ultralytics-coco8": (ultralytics_folder, {"task": "detection",
                                               "model": {"source": "ultralytics", "name": "yolov8n"}}),
    "cvat-coco": (lambda root: cvat_coco_export(root, crowd=True),
                  {"task": "detection", "model": {"source": "ultralytics", "name": "yolov8n"}}),
    "mvtec-category": (mvtec_category, {"task": "anomaly_detection", "model": {"source": "timm", "name": "resnet18"}}),
}


@pytest.mark.parametrize("layout", sorted(EXPORTS))
def test_an_export_uploaded_through_the_api_trains_an_epoch(api_url, people, tmp_path, layout):
    """Archives laid out as the tools export them (CVAT's VOC export trains in test_the_dataset_manager)."""
    make, job = EXPORTS[layout]
    up = _upload(api_url, people["eve"], make(str(tmp_path / layout)), layout)
    assert up["report"]["ok"], up["report"]["summary"]
    cfg = {**job, "dataset": {"uri": up["dataset_id"]},
           "hyperparameters": {"epochs": 1, "batch_size": 4, "image_size": 32}}
    r = httpx.post(f"{api_url}/v1/jobs", headers=people["eve"], json={"config": cfg})
    assert r.status_code == 201, r.text
    ended = job_ended(api_url, people["eve"], r.json()["job_id"])
    assert ended["state"] == "succeeded", (ended["message"], ended["history"][-3:])
    assert "training" in [h["state"] for h in ended["history"]] and ended["result"]  # trained and evaluated
    # the crowd region of the held-out image is kept for the evaluation, which does not count answers in it
    assert ended["result"].get("ignored_regions") == (1 if layout == "cvat-coco" else None), ended["result"]
