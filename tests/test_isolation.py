"""Tenant isolation, attack by attack (issue #22): a hostile dataset or a hostile user reaches nothing
that is not theirs. Each test performs the attack and checks what a victim would: nothing of another
tenant's is read, nothing outside the dataset is opened, and no payload runs (its canary file stays
absent). The HTTP tests run against the real API on the session's local Ray cluster."""
import json
import os
import pickle
import shutil
import stat
import time

import boto3
import httpx
import pytest
import torch
import yaml

from tests.conftest import job_ended
from train_jobs.config import TrainingConfig
from train_jobs.data.fetch import local_dataset_path
from train_jobs.data.synth import make_classification, make_detection
from train_jobs.data.validate import validate_dataset
from train_jobs.data.versions import add_dataset, dataset_id
from train_jobs.state import JobFolder
from train_jobs.store import LocalStore


class Payload:
    """What an attacker pickles: unpickling it creates the canary file."""

    def __init__(self, canary: str):
        self.canary = canary

    def __reduce__(self):
        return (open, (self.canary, "w"))


def hostile_yolo(folder, canary) -> str:
    """A YOLO dataset carrying a pickled label cache for each split, and other files a loader might unpickle."""
    root = make_detection(str(folder), num_classes=2, images=8, image_size=64, seed=1)["path"]
    for split in os.listdir(os.path.join(root, "labels")):
        with open(os.path.join(root, "labels", f"{split}.cache"), "wb") as f:
            pickle.dump(Payload(canary), f)
    for name in ("weights.pt", "extra.npy", "model.pkl", "run.py", ".DS_Store"):
        with open(os.path.join(root, name), "wb") as f:
            pickle.dump(Payload(canary), f)
    return root


def zipped(root: str) -> bytes:
    return open(shutil.make_archive(root, "zip", root), "rb").read()


# 1. Code execution through files a trainer deserializes

def test_an_upload_keeps_only_images_labels_and_metadata(tmp_path):
    canary = str(tmp_path / "canary")
    root = hostile_yolo(tmp_path / "yolo", canary)
    store = LocalStore(str(tmp_path / "store"))
    added = add_dataset(shutil.make_archive(root, "zip", root), store)
    kept = store.list(f"datasets/{added['dataset_id']}/files")
    assert kept and all(k.endswith((".png", ".jpg", ".txt", ".yaml")) for k in kept), kept
    dropped = next(f for f in added["report"]["findings"] if f["code"] == "files_dropped")
    assert dropped["count"] == 7 and dropped["severity"] == "warning"
    assert "not an image or a label/metadata file" in " ".join(dropped["examples"]) and added["report"]["ok"]
    assert str(tmp_path) not in json.dumps(added["report"]) and not os.path.exists(canary)


@pytest.mark.ray  # Ultralytics may import Ray: after the session cluster set Ray's auth mode
def test_ultralytics_reads_a_working_copy_that_holds_no_file_of_the_users(ray_cluster, tmp_path, monkeypatch):
    """A dataset from a bucket is not ingested: the per-job copy is what keeps its cache from Ultralytics,
    whose loader unpickles ``labels/*.cache`` before checking it."""
    from ultralytics.cfg import get_cfg
    from ultralytics.data.dataset import YOLODataset

    from train_jobs.tasks.ultralytics_run import prepare_yolo_data

    monkeypatch.setenv("TMPDIR", str(tmp_path / "work"))
    canary = str(tmp_path / "canary")
    root = hostile_yolo(tmp_path / "bucket-copy", canary)
    cfg = TrainingConfig(task="detection", model={"source": "ultralytics", "name": "yolov8n"}, dataset={"uri": root},
                         job_id="detection-hostile")
    data_yaml, names = prepare_yolo_data(cfg, root)
    with open(data_yaml) as f:
        data = yaml.safe_load(f)
    copy = data["path"]
    assert not copy.startswith(root)
    files = [os.path.relpath(os.path.join(d, n), copy) for d, _, ns in os.walk(copy) for n in ns]
    assert files and all(f.endswith((".png", ".txt", ".yaml")) for f in files), files
    YOLODataset(img_path=os.path.join(copy, data["train"]), data={"names": dict(enumerate(names)), "channels": 3},
                augment=False, hyp=get_cfg())
    assert not os.path.exists(canary)


@pytest.mark.ray  # imports Ray: after the session cluster set its auth mode, which Ray reads once
def test_checkpoints_and_weights_are_never_unpickled(ray_cluster, tmp_path):
    import ray.train

    from train_jobs.worker import CheckpointCorrupt, _load_checked, load_tensors
    from train_jobs.store import file_sha256

    canary = str(tmp_path / "canary")
    ckpt = tmp_path / "checkpoint_000001"
    ckpt.mkdir()
    torch.save({"epoch": 1, "model": Payload(canary)}, ckpt / "state.pt")
    (ckpt / "manifest.json").write_text(json.dumps({"epoch": 1, "sha256": file_sha256(str(ckpt / "state.pt"))}))
    with pytest.raises(CheckpointCorrupt, match="more than tensors"):
        _load_checked(ray.train.Checkpoint.from_directory(str(ckpt)))
    with pytest.raises(Exception):
        load_tensors(str(ckpt / "state.pt"))
    assert not os.path.exists(canary)


@pytest.mark.ray  # Ultralytics imports Ray (its Tune callbacks): after the session cluster set Ray's auth mode
def test_ultralytics_keeps_only_tensors_in_the_store_and_still_resumes(ray_cluster, tmp_path, monkeypatch):
    """Its checkpoints are pickled modules: the store gets their tensors, and a rerun rebuilds the file
    Ultralytics reads from its architecture and those tensors."""
    from train_jobs.store import file_sha256, open_store
    from train_jobs.tasks import ultralytics_run as u
    from train_jobs.worker import load_tensors, save_tensors

    monkeypatch.setenv("TMPDIR", str(tmp_path / "work"))
    data = make_detection(str(tmp_path / "data"), num_classes=2, images=16, image_size=64, seed=0)["path"]
    cfg = TrainingConfig(task="detection", model={"source": "ultralytics", "name": "yolov8n"}, dataset={"uri": data},
                         hyperparameters={"epochs": 2, "batch_size": 8, "image_size": 64},
                         storage={"uri": str(tmp_path / "store")}, job_id="detection-tensors")
    u._fit_task(cfg.model_dump(mode="json"))
    job = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    stored = os.path.join(job.store.root, job.key(f"{u.STORED}/state.pt"))
    assert load_tensors(stored)["epoch"] == 1 and load_tensors(job.store.child_uri(job.key("weights/model.pt")))["class_names"]
    state = load_tensors(stored)  # as if the run had stopped after its first epoch
    save_tensors({**state, "epoch": 0}, stored)
    job.store.write_json(job.key(f"{u.STORED}/manifest.json"), {"epoch": 1, "sha256": file_sha256(stored)})
    shutil.rmtree(os.path.join(u.work_dir(cfg), "run"))
    u._fit_task(cfg.model_dump(mode="json"))
    events = [(e["kind"], e.get("epoch") or e.get("from_epoch")) for e in job.events() if e["kind"] in ("resumed", "metrics")]
    assert events == [("metrics", 1), ("metrics", 2), ("resumed", 1), ("metrics", 2)]
    assert u.trained_yolo(cfg, job).names == {0: "circle", 1: "square"}


# 2. Paths named inside a dataset

def _yolo_with(tmp_path, **data_yaml) -> str:
    root = make_detection(str(tmp_path / "attacker"), num_classes=2, images=8, image_size=64, seed=2)["path"]
    with open(os.path.join(root, "data.yaml")) as f:
        data = yaml.safe_load(f)
    with open(os.path.join(root, "data.yaml"), "w") as f:
        yaml.safe_dump({**data, **data_yaml}, f)
    return root


def _coco_with(tmp_path, file_name: str) -> str:
    root = tmp_path / "coco"
    (root / "images").mkdir(parents=True)
    (root / "annotations.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": file_name, "width": 8, "height": 8}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}))
    return str(root)


def _voc_with(tmp_path, filename: str) -> str:
    root = tmp_path / "voc"
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    (root / "Annotations" / "a.xml").write_text(
        f"<annotation><filename>{filename}</filename><size><width>8</width><height>8</height></size>"
        "<object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>4</xmax><ymax>4</ymax></bndbox></object>"
        "</annotation>")
    return str(root)


@pytest.mark.parametrize("make, entry", [
    (lambda t: _yolo_with(t, path="../victim"), "../victim"),
    (lambda t: _yolo_with(t, path="/"), "'/'"),
    (lambda t: _yolo_with(t, train="../victim/images/train"), "../victim/images/train"),
    (lambda t: _coco_with(t, "/dev/zero"), "/dev/zero"),
    (lambda t: _coco_with(t, "../../victim/images/train/0000.png"), "../../victim"),
    (lambda t: _voc_with(t, "../../victim/images/train/0000.png"), "../../victim"),
])
def test_a_dataset_cannot_name_files_outside_itself(tmp_path, make, entry):
    victim = make_detection(str(tmp_path / "victim"), num_classes=2, images=8, image_size=64, seed=3)["path"]
    root = make(tmp_path)
    report = validate_dataset(root)
    assert not report["ok"] and report["images"] == 0, report["summary"]
    assert entry in report["summary"] and "inside" in report["summary"]
    assert str(tmp_path) not in json.dumps(report)
    assert victim  # its images were not indexed: the report counts none


def test_devices_are_never_opened_as_images(tmp_path):
    from train_jobs.data.validate import check_images

    assert check_images(["/dev/zero"]) == [{"path": "/dev/zero", "error": "corrupt_image", "detail": "not a regular file"}]


# 3. s3:// locations

def _plan(uri: str, role: str = "user", storage: str = "s3://vt-platform/store"):
    from serve_app.services.plan import platform_config

    class NoRecords:
        pass

    cfg = {"task": "classification", "model": {"name": "resnet18"}, "dataset": {"uri": uri}}
    return platform_config(cfg, {"username": "mallory", "role": role}, NoRecords(), storage)


@pytest.mark.parametrize("uri", [
    "s3://vt-platform/store/datasets/ds-" + "a" * 64 + "/files",  # another user's stored dataset
    "s3://vt-platform/store/datasets",                              # everyone's
    "s3://vt-platform/",                                            # a folder holding the storage
    "s3://vt-platform//store/./datasets",                           # the same, spelled so S3 reads it alike
])
def test_the_platforms_own_storage_is_never_a_dataset_location(uri, monkeypatch):
    from serve_app.services.plan import PlanError

    monkeypatch.setenv("VISIONTRAIN_USER_S3_PREFIXES", "s3://vt-platform/")
    for role in ("user", "admin"):
        with pytest.raises(PlanError, match="platform's own storage"):
            _plan(uri, role)


def test_users_read_only_the_s3_prefixes_admins_allow(monkeypatch):
    from serve_app.services.plan import AdminOnly

    monkeypatch.delenv("VISIONTRAIN_USER_S3_PREFIXES", raising=False)
    with pytest.raises(AdminOnly, match="none are allowed on this platform"):
        _plan("s3://team-data/shapes")
    assert _plan("s3://team-data/shapes", role="admin").dataset.uri == "s3://team-data/shapes"
    monkeypatch.setenv("VISIONTRAIN_USER_S3_PREFIXES", "s3://team-data/shared, s3://other/x")
    assert _plan("s3://team-data/shared/shapes").dataset.uri == "s3://team-data/shared/shapes"
    for outside in ("s3://team-data/shared-v2/shapes", "s3://team-data/", "s3://team-data/shared/../private"):
        with pytest.raises(Exception, match="not under an s3:// prefix you may read|'\\.\\.'"):
            _plan(outside)


def _put(bucket: str, key: str, body: bytes = b"x") -> None:
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


def test_an_s3_folder_is_that_folder_fetched_by_content_and_bounded(s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONTRAIN_DATA_CACHE", str(tmp_path / "cache"))
    src = make_classification(str(tmp_path / "shapes"), num_classes=2, per_class=3, image_size=32)["path"]
    for d, _, names in os.walk(src):
        for n in names:
            path = os.path.join(d, n)
            _put(s3_bucket, "data/shapes/" + os.path.relpath(path, src), open(path, "rb").read())
    _put(s3_bucket, "data/shapes-v2/secret/x.png", b"not yours")     # a sibling with the same start
    _put(s3_bucket, "data/shapes/labels/train.cache", pickle.dumps(1))  # not a dataset file

    first = local_dataset_path(f"s3://{s3_bucket}/data/shapes")
    files = sorted(os.path.relpath(os.path.join(d, n), first) for d, _, ns in os.walk(first) for n in ns)
    assert len([f for f in files if f.endswith(".png")]) == 6 and not any("secret" in f or "cache" in f for f in files)
    for f in (f for f in files if f.endswith(".png")):  # fetched many at once, each whole
        assert open(os.path.join(first, f), "rb").read() == open(os.path.join(src, f), "rb").read()
    assert local_dataset_path(f"s3://{s3_bucket}/data/shapes") == first       # cached
    _put(s3_bucket, "data/shapes/circle/circle_00000.png", b"changed")
    again = local_dataset_path(f"s3://{s3_bucket}/data/shapes")
    assert again != first and open(os.path.join(again, "circle", "circle_00000.png"), "rb").read() == b"changed"

    monkeypatch.setenv("VISIONTRAIN_INGEST_MAX_FILES", "3")
    with pytest.raises(Exception, match="the limits are 3 files"):
        local_dataset_path(f"s3://{s3_bucket}/data/shapes")
    monkeypatch.delenv("VISIONTRAIN_INGEST_MAX_FILES")

    old = time.time() - 7200  # unused for two hours: may be evicted when the cache is over its bound
    os.utime(os.path.join(first, ".complete"), (old, old))
    monkeypatch.setenv("VISIONTRAIN_DATA_CACHE_BYTES", "1")
    local_dataset_path(f"s3://{s3_bucket}/data/shapes")
    assert not os.path.exists(first) and os.path.exists(again)


# 4. Job ids and trial folders; 5. content ids

def test_a_search_trial_lives_inside_its_job_and_users_cannot_name_job_ids():
    store = LocalStore("/nonexistent")
    assert JobFolder(store, "classification-1a2b--t03").prefix == "jobs/classification-1a2b/trials/t03"
    assert JobFolder(store, "classification-1a2b").prefix == "jobs/classification-1a2b"
    with pytest.raises(Exception, match="single '-'"):
        TrainingConfig(task="classification", model={"name": "resnet18"}, dataset={"uri": "/d"}, job_id="victim--x")
    victim = "classification-0123456789ab"
    cfg = _plan_with_id(victim + "-t00")
    assert cfg.job_id != victim + "-t00" and not cfg.job_id.startswith(victim)


def _plan_with_id(job_id: str):
    from serve_app.services.plan import platform_config

    cfg = {"job_id": job_id, "task": "classification", "model": {"name": "resnet18"}, "dataset": {"uri": "/d"}}
    return platform_config(cfg, {"username": "mallory", "role": "admin"}, None, "/store")


def test_dataset_ids_are_a_full_hash_of_an_unambiguous_encoding(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    (one / "a").write_bytes(b"x\0b\0y")   # the old framing hashed path\0bytes\0 per file:
    (two / "a").write_bytes(b"x")        # both folders gave "a\0x\0b\0y\0"
    (two / "b").write_bytes(b"y")
    assert dataset_id(str(one)) != dataset_id(str(two))
    assert len(dataset_id(str(one))) == len("ds-") + 64


# 10. Smaller findings

def test_the_home_folder_is_its_owners_only(tmp_path, monkeypatch):
    from train_jobs.config import home_dir

    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    monkeypatch.setenv("VISIONTRAIN_HOME", str(home))
    assert stat.S_IMODE(os.stat(home_dir()).st_mode) == 0o700
    monkeypatch.setenv("VISIONTRAIN_HOME", str(tmp_path / "new"))
    assert stat.S_IMODE(os.stat(home_dir()).st_mode) == 0o700


def test_a_reupload_is_the_latest_dataset(tmp_path):
    from serve_app.services.records import Records

    records = Records(f"sqlite:///{tmp_path}/records.db")
    records.add_dataset("ds-1", "amy", "first", {"format": "imagefolder", "ok": True, "summary": ""})
    records.add_dataset("ds-2", "amy", "second", {"format": "imagefolder", "ok": True, "summary": ""})
    records.add_dataset("ds-1", "amy", "first again", {"format": "imagefolder", "ok": True, "summary": ""})
    assert [(d["dataset_id"], d["name"]) for d in records.list_datasets("amy")][0] == ("ds-1", "first again")


def test_a_model_answer_that_searches_the_optimizer_is_checked_not_a_crash():
    from test_intent_llm import fake, intent

    from serve_app.intent._llm import parse_with_llm

    for values, kept in ((["adamw", "sgd"], ["adamw", "sgd"]), (["adamw", "rmsprop"], None), ([0.1, 1], None)):
        llm = fake(intent(task="classification", model={"source": "timm", "name": "resnet18"}, dataset={"uri": "s3://b/x"},
                          search={"parameters": {"optimizer": {"values": values}}}))
        result = parse_with_llm("search the optimizer for resnet18 on s3://b/x", chat_model=llm)
        found = result.intent.search and result.intent.search.parameters["optimizer"].values
        assert found == kept, result


# Through the real API

@pytest.fixture(scope="module")
def tenants(api_url, admin_token) -> dict:
    from tests.conftest import signed_up

    return {name: signed_up(api_url, admin_token, name) for name in ("mallory", "walter")}


def _upload(api_url, who, body: bytes, name: str) -> httpx.Response:
    return httpx.post(f"{api_url}/v1/datasets", params={"name": name}, content=body, timeout=120,
                      headers={**who, "content-type": "application/zip"})


@pytest.mark.ray
def test_a_hostile_yolo_upload_trains_without_running_its_payload(api_url, tenants, tmp_path):
    canary = str(tmp_path / "canary")
    root = hostile_yolo(tmp_path / "hostile", canary)
    up = _upload(api_url, tenants["mallory"], zipped(root), "helmets")
    assert up.status_code == 201, up.text
    report = up.json()["report"]
    assert report["ok"] and any(f["code"] == "files_dropped" for f in report["findings"])
    cfg = {"task": "detection", "model": {"source": "ultralytics", "name": "yolov8n"},
           "dataset": {"uri": up.json()["dataset_id"]}, "class_names": report["class_names"],
           "hyperparameters": {"epochs": 1, "batch_size": 4, "image_size": 64}}
    r = httpx.post(f"{api_url}/v1/jobs", headers=tenants["mallory"], json={"config": cfg})
    assert r.status_code == 201, r.text
    job = job_ended(api_url, tenants["mallory"], r.json()["job_id"])
    log = httpx.get(f"{api_url}/v1/jobs/{job['job_id']}/logs", headers=tenants["mallory"]).text
    assert job["state"] == "succeeded", log[-3000:]
    assert not os.path.exists(canary)


@pytest.mark.ray
def test_a_dataset_that_points_outside_itself_is_refused_at_upload(api_url, tenants, tmp_path):
    root = _yolo_with(tmp_path, path="../../")
    r = _upload(api_url, tenants["mallory"], zipped(root), "escape")
    assert r.status_code == 201, r.text
    report = r.json()["report"]
    assert not report["ok"] and report["images"] == 0 and "points outside the dataset" in report["summary"]
    assert "/tmp" not in json.dumps(report) and "artifacts" not in json.dumps(report)


@pytest.mark.ray
def test_users_cannot_name_s3_locations_or_job_ids(api_url, tenants):
    base = {"task": "classification", "model": {"name": "resnet18"}}
    r = httpx.post(f"{api_url}/v1/jobs", headers=tenants["mallory"],
                   json={"config": {**base, "dataset": {"uri": "s3://someone-elses/data"}}})
    assert r.status_code == 403 and "not under an s3:// prefix you may read" in r.json()["detail"], r.text
    victim = httpx.get(f"{api_url}/v1/jobs", headers=tenants["walter"]).json()
    r = httpx.post(f"{api_url}/v1/jobs", headers=tenants["mallory"],
                   json={"config": {**base, "job_id": "classification-0123456789ab-t00", "dataset": {"uri": "s3://b/d"}}})
    assert r.status_code in (201, 429) and "classification-0123456789ab-t00" not in r.text, r.text
    if r.status_code == 201:
        assert r.json()["job_id"] != "classification-0123456789ab-t00"
        httpx.post(f"{api_url}/v1/jobs/{r.json()['job_id']}/stop", headers=tenants["mallory"])
    assert httpx.get(f"{api_url}/v1/jobs", headers=tenants["walter"]).json() == victim


@pytest.mark.ray
def test_a_malformed_parse_history_is_a_422(api_url, tenants):
    r = httpx.post(f"{api_url}/v1/parse", headers=tenants["mallory"],
                   json={"message": "train resnet18", "history": [{"intent": 5, "status": "complete"}]})
    assert r.status_code == 422 and "history[0]" in r.text, r.text


# 8. Bounded API resources

@pytest.mark.ray
def test_event_streams_are_bounded_per_user_and_kept_alive(api_url, tenants, ray_cluster, shapes):
    """A job queued and not yet launched is quiet: its stream sends keep-alive comments (every second
    in this test session, VISIONTRAIN_STREAM_KEEPALIVE_S), and a fifth stream of one user is refused."""
    import asyncio

    from conftest import tiny_config
    from serve_app.services.jobs import JobService
    from serve_app.services.records import Records
    from train_jobs.config import config_from_dict

    records = Records(f"sqlite:///{ray_cluster.home}/records.db")  # the API's own records
    cfg = config_from_dict({**tiny_config(shapes, os.path.join(ray_cluster.home, "artifacts")), "owner": "walter"})
    JobService(records, ray_cluster.dashboard_url).submit(cfg, queue=True)
    url, who = f"{api_url}/v1/jobs/{cfg.job_id}/events", tenants["walter"]

    async def hold(client, lines: list, seconds: float):
        async with client.stream("GET", url, headers=who) as r:
            lines.append(r.status_code)
            async for line in r.aiter_lines():
                lines.append(line)
                if time.monotonic() > seconds:
                    return

    async def scenario():
        async with httpx.AsyncClient(timeout=30) as client:
            held = [[] for _ in range(4)]
            until = time.monotonic() + 4
            tasks = [asyncio.create_task(hold(client, lines, until)) for lines in held]
            await asyncio.sleep(2)
            fifth = await client.get(url, headers=who)
            await asyncio.gather(*tasks)
            for _ in range(20):  # the four were closed: their slots are given back (or lapse within 3 s)
                again = []
                await hold(client, again, time.monotonic() + 1.5)
                if again[0] == 200:
                    break
                await asyncio.sleep(0.5)
            return held, fifth, again

    try:
        held, fifth, again = asyncio.run(scenario())
        assert fifth.status_code == 429 and "event streams open" in fifth.json()["detail"], fifth.text
        assert all(lines[0] == 200 and ": keep-alive" in lines for lines in held), held
        assert again[0] == 200
    finally:
        httpx.post(f"{api_url}/v1/jobs/{cfg.job_id}/stop", headers=who)


@pytest.mark.ray
def test_uploads_are_limited_in_concurrency_per_user(api_url, tenants, shapes):
    import asyncio

    body = zipped(shutil.copytree(shapes, os.path.join(os.path.dirname(shapes), "upload-limit"), dirs_exist_ok=True))

    async def slow():  # about 4 s to send
        step = max(1, len(body) // 40)
        for i in range(0, len(body), step):
            await asyncio.sleep(0.1)
            yield body[i:i + step]

    async def scenario():
        async with httpx.AsyncClient(timeout=120) as client:
            def send(content):
                return client.post(f"{api_url}/v1/datasets", params={"name": "slow"}, content=content,
                                   headers={**tenants["mallory"], "content-type": "application/zip"})
            first = [asyncio.create_task(send(slow())) for _ in range(2)]
            await asyncio.sleep(1)
            third = await send(body)
            return [await t for t in first], third

    (one, two), third = asyncio.run(scenario())
    assert third.status_code == 429 and "uploads under way" in third.json()["detail"], third.text
    assert one.status_code == two.status_code == 201, (one.text, two.text)


def test_s3_artifacts_are_read_in_chunks_and_linked(s3_bucket):
    from train_jobs.store import open_store

    store = open_store(f"s3://{s3_bucket}/platform")
    store.write_bytes("jobs/j/weights/model.pt", b"w" * 3_000_000)
    url = store.presigned_url("jobs/j/weights/model.pt", 60)
    assert httpx.get(url).content == b"w" * 3_000_000
    assert "platform/jobs/j/weights/model.pt" in url and "Signature" in url or "X-Amz-Signature" in url


def test_conversations_and_the_ended_jobs_cache_are_bounded(tmp_path, monkeypatch):
    import serve_app.services.jobs as jobs_module
    import serve_app.services.records as records_module
    from serve_app.services.jobs import JobService
    from serve_app.services.records import Records

    records = Records(f"sqlite:///{tmp_path}/records.db")
    monkeypatch.setattr(records_module, "CHATS_PER_USER", 3)
    for i in range(5):
        records.save_chat(f"amy-{i}", "amy", ["hi"], None)
    records.save_chat("bob-0", "bob", ["hi"], None)
    assert [s for s in ("amy-0", "amy-1", "amy-2", "amy-3", "amy-4", "bob-0") if records.get_chat(s)] == \
        ["amy-2", "amy-3", "amy-4", "bob-0"]

    monkeypatch.setattr(jobs_module, "ENDED_KEPT", 2)
    store = LocalStore(str(tmp_path / "artifacts"))
    service = JobService(records, "http://127.0.0.1:9")
    for i in range(4):
        folder = JobFolder(store, f"job-{i}")
        folder.transition("succeeded", "done")
        records.add_job(job_id=f"job-{i}", owner="amy", task="classification", model="timm/resnet18", state="succeeded",
                        config_uri=folder.uri("config.yaml"), folder_uri=folder.uri())
        assert service.get(f"job-{i}")["state"] == "succeeded"
    assert list(service._ended) == ["job-2", "job-3"]


def test_a_yaml_alias_bomb_in_class_names_is_refused_at_once(tmp_path):
    """YAML aliases nest a list 9 times into itself: as text it would be gigabytes (the API's memory)."""
    root = _yolo_with(tmp_path)
    levels = ["&a [" + ",".join(["lol"] * 9) + "]"]
    for prev, cur in zip("abcdefg", "bcdefgh"):
        levels.append(f"&{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    text = open(os.path.join(root, "data.yaml")).read()
    with open(os.path.join(root, "data.yaml"), "w") as f:
        f.write("\n".join(line for line in text.splitlines() if not line.startswith(("names", "- ", "nc")))
                + "\nnames: [" + ", ".join(levels) + "]\n")
    report = validate_dataset(root)
    assert not report["ok"] and "one class name" in report["summary"] and len(report["summary"]) < 2000
