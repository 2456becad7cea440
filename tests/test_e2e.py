"""End to end on a real local Ray cluster, submitted through Ray's job submission API."""
import os
import tempfile

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
        model.load_state_dict(torch.load(f"{d}/model.pt", weights_only=True)["model"])  # tensors only
        model.eval()
        batch = torch.rand(5, 3, 32, 32)
        sess = ort.InferenceSession(f"{d}/model.onnx", providers=["CPUExecutionProvider"])
        with torch.no_grad():
            np.testing.assert_allclose(sess.run(None, {"images": batch.numpy()})[0], model(batch).numpy(), atol=1e-3)
        # timm itself loads the network the job exported for it (export/timm/), with the same outputs.
        import timm

        how = open(f"{d}/LOAD.txt").read().strip()
        native = eval(how.replace("'model.safetensors'", repr(f"{d}/model.safetensors")), {"timm": timm}).eval()
        with torch.no_grad():
            np.testing.assert_allclose(native(batch).numpy(), model[1](batch).numpy(), atol=1e-4)


def test_job_trains_on_two_workers_and_stores_every_artifact(job_service, shapes, tmp_path):
    """An uploaded dataset version (by id), two Ray Train workers (class-weighted loss), every artifact checked."""
    storage = str(tmp_path / "artifacts")
    added = add_dataset(shapes, open_store(storage))
    assert added["report"]["ok"]
    cfg = config_from_dict(tiny_config(added["dataset_id"], storage, resources={"num_workers": 2},
                                       hyperparameters={"class_weights": "balanced"}))
    record = job_service.submit(cfg)
    assert record["ray_job_id"] and record["state"] == "pending"
    final = job_service.wait(cfg.job_id, timeout_s=300)
    assert final["state"] == "succeeded", job_service.logs(cfg.job_id)[-3000:]
    assert final["result"]["accuracy"] >= 0
    assert job_service.records.get_job(cfg.job_id)["state"] == "succeeded"
    _check_artifacts(JobFolder(open_store(cfg.storage.uri), cfg.job_id), cfg, epochs=2)
    logs = job_service.logs(cfg.job_id)
    assert "epoch 2/2" in logs and "succeeded" in logs
