"""End to end on a real local Ray cluster, submitted through Ray's job submission API."""
import json
import os
import tempfile
import time

import boto3
import numpy as np
import onnxruntime as ort
import pytest
import torch
import yaml

from conftest import tiny_config
from train_jobs.config import config_from_dict
from train_jobs.data.versions import add_dataset
from train_jobs.state import JobFolder
from train_jobs.store import open_store
from train_jobs.tasks.classification import build_model

pytestmark = pytest.mark.ray

STEPS = ["validating", "preparing", "training", "evaluating", "exporting", "succeeded"]


def _check_artifacts(folder: JobFolder, cfg, epochs: int):
    store = folder.store
    state = folder.state()
    assert state["state"] == "succeeded", state
    assert [h["state"] for h in state["history"]][-len(STEPS):] == STEPS
    times = [h["time"] for h in state["history"]]
    assert times == sorted(times)

    assert yaml.safe_load(store.read_text(folder.key("config.yaml"))) == cfg.model_dump(mode="json")
    history = store.read_json(folder.key("history.json"))
    assert [h["epoch"] for h in history] == list(range(1, epochs + 1))
    assert all({"train_loss", "val_loss", "val_accuracy", "images_per_s"} <= set(h) for h in history)

    metrics = store.read_json(folder.key("metrics.json"))
    names = metrics["class_names"]
    assert names == ["circle", "square", "triangle"]
    cm = np.array(metrics["confusion_matrix"])
    assert cm.shape == (3, 3) and cm.sum() == metrics["num_images"] > 0
    assert metrics["accuracy"] == pytest.approx(np.trace(cm) / cm.sum(), abs=1e-3)
    assert set(metrics["per_class"]) == set(names)
    assert all({"precision", "recall", "f1", "support"} == set(v) for v in metrics["per_class"].values())

    # The weights load into the model as built for export, and the ONNX file agrees with them.
    with tempfile.TemporaryDirectory() as d:
        store.download_file(folder.key("weights/model.pt"), f"{d}/model.pt")
        store.download_file(folder.key("export/model.onnx"), f"{d}/model.onnx")
        for key in store.list(folder.key("export")):
            store.download_file(key, os.path.join(d, key.rsplit("/", 1)[1]))
        model = build_model(cfg, len(names))
        model.load_state_dict(torch.load(f"{d}/model.pt", weights_only=False)["model"])
        model.eval()
        batch = torch.rand(5, 3, 32, 32)
        sess = ort.InferenceSession(f"{d}/model.onnx", providers=["CPUExecutionProvider"])
        with torch.no_grad():
            np.testing.assert_allclose(sess.run(None, {"images": batch.numpy()})[0], model(batch).numpy(), atol=1e-3)


def test_job_trains_on_two_workers_and_stores_every_artifact(job_service, shapes, tmp_path):
    """An uploaded dataset version (by id), two Ray Train workers, every artifact checked."""
    storage = str(tmp_path / "artifacts")
    added = add_dataset(shapes, open_store(storage))
    assert added["report"]["ok"]
    cfg = config_from_dict(tiny_config(added["dataset_id"], storage, resources={"num_workers": 2}))
    record = job_service.submit(cfg)
    assert record["ray_job_id"] and record["state"] == "pending"
    final = job_service.wait(cfg.job_id, timeout_s=300)
    assert final["state"] == "succeeded", job_service.logs(cfg.job_id)[-3000:]
    assert final["result"]["accuracy"] >= 0
    assert job_service.records.get_job(cfg.job_id)["state"] == "succeeded"
    _check_artifacts(JobFolder(open_store(cfg.storage.uri), cfg.job_id), cfg, epochs=2)
    logs = job_service.logs(cfg.job_id)
    assert "epoch 2/2" in logs and "succeeded" in logs


def test_stopped_job_resumes_from_its_checkpoint(job_service, shapes, tmp_path):
    cfg = config_from_dict(tiny_config(shapes, str(tmp_path / "artifacts"),
                                       hyperparameters={"epochs": 6, "batch_size": 4}))
    folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    job_service.submit(cfg)
    deadline = time.time() + 240
    while not any(e["kind"] == "checkpoint" for e in folder.events()):
        assert time.time() < deadline, "no checkpoint within 240 s"
        assert job_service.get(cfg.job_id)["state"] not in ("failed", "succeeded")
        time.sleep(0.5)
    job_service.stop(cfg.job_id)
    stopped = job_service.wait(cfg.job_id, timeout_s=60)
    assert stopped["state"] == "stopped"
    done_before = max(e["epoch"] for e in folder.events() if e["kind"] == "checkpoint")
    assert done_before < 6

    job_service.submit(cfg)  # the same job again
    final = job_service.wait(cfg.job_id, timeout_s=300)
    assert final["state"] == "succeeded", job_service.logs(cfg.job_id)[-3000:]
    events = folder.events()
    resumed = [e for e in events if e["kind"] == "resumed"]
    assert len(resumed) == 1 and 1 <= resumed[0]["from_epoch"] <= done_before
    after = [e["epoch"] for e in events[events.index(resumed[0]):] if e["kind"] == "metrics"]
    assert after == list(range(resumed[0]["from_epoch"] + 1, 7))  # continued, not from epoch 1
    assert folder.state()["attempt"] == 2
    _check_artifacts(folder, cfg, epochs=6)


def test_a_damaged_checkpoint_is_skipped_for_the_one_before_it(job_service, shapes, tmp_path):
    """The newest checkpoint's state is cut short (as by a crash mid-write): the rerun notices the
    hash mismatch, says so, resumes from the checkpoint before it and finishes."""
    cfg = config_from_dict(tiny_config(shapes, str(tmp_path / "artifacts"),
                                       hyperparameters={"epochs": 6, "batch_size": 4}))
    folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    job_service.submit(cfg)
    deadline = time.time() + 240
    while sum(e["kind"] == "checkpoint" for e in folder.events()) < 2:
        assert time.time() < deadline, "no second checkpoint within 240 s"
        time.sleep(0.5)
    job_service.stop(cfg.job_id)
    assert job_service.wait(cfg.job_id, timeout_s=60)["state"] == "stopped"
    train = os.path.join(cfg.storage.uri, "jobs", cfg.job_id, "train")
    with open(os.path.join(train, "checkpoint_manager_snapshot.json")) as f:
        latest = json.load(f)["latest_checkpoint_result"]["checkpoint_dir_name"]  # what Ray Train hands over
    before = max(d for d in os.listdir(train) if d.startswith("checkpoint_") and d < latest)
    with open(os.path.join(train, latest, "state.pt"), "r+b") as f:
        f.truncate(100)
    with open(os.path.join(train, before, "manifest.json")) as f:
        older_epoch = json.load(f)["epoch"]

    job_service.submit(cfg)
    final = job_service.wait(cfg.job_id, timeout_s=300)
    assert final["state"] == "succeeded", job_service.logs(cfg.job_id)[-3000:]
    events = folder.events()
    skipped = [e for e in events if e["kind"] == "checkpoint_skipped"]
    assert len(skipped) == 1 and skipped[0]["checkpoint"].endswith(latest) and "hash" in skipped[0]["reason"]
    resumed = [e for e in events if e["kind"] == "resumed"]
    assert len(resumed) == 1 and resumed[0]["from_epoch"] == older_epoch
    assert resumed[0]["checkpoint"].endswith(before)
    _check_artifacts(folder, cfg, epochs=6)


def test_s3_storage_and_dataset_through_a_ray_job(job_service, shapes, s3_bucket):
    s3 = boto3.client("s3")
    for root, _, files in os.walk(shapes):
        for f in files:
            s3.upload_file(os.path.join(root, f), s3_bucket, "datasets/shapes/" + os.path.relpath(os.path.join(root, f), shapes))
    cfg = config_from_dict(tiny_config(f"s3://{s3_bucket}/datasets/shapes", f"s3://{s3_bucket}/runs"))
    job_service.submit(cfg)
    final = job_service.wait(cfg.job_id, timeout_s=300)
    assert final["state"] == "succeeded", job_service.logs(cfg.job_id)[-3000:]
    keys = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket, Prefix="runs/")
            for o in page.get("Contents", [])}
    prefix = f"runs/jobs/{cfg.job_id}/"
    for name in ("config.yaml", "state.json", "events.jsonl", "metrics.json", "history.json",
                 "weights/model.pt", "export/model.onnx"):
        assert prefix + name in keys
    assert any(k.startswith(prefix + "train/checkpoint_") for k in keys)
    _check_artifacts(JobFolder(open_store(cfg.storage.uri), cfg.job_id), cfg, epochs=2)
