"""Every job lands in MLflow and TensorBoard (issue #28): read back from the session's real MLflow
server (``mlflow server`` with SQLite on a loopback port, what ``visiontrain up`` starts) and from
the TensorBoard files in each job's folder. A search's trials as child runs: tests/test_search.py."""
from __future__ import annotations

import glob
import json
import os
import time

import httpx
import pytest
import yaml

from conftest import job_ended, signed_up
from serve_app.local import start_mlflow, stop_mlflow
from train_jobs import onnx_predict
from train_jobs.tracking import TRACKERS, Tracking, flat_params

def _submit(api_url: str, who: dict, **hyperparameters) -> str:
    config = {"task": "classification", "model": {"name": "test_resnet"}, "dataset": {"uri": "name:shapes"},
              "hyperparameters": {"epochs": 2, "batch_size": 16, "image_size": 32, **hyperparameters}}
    r = httpx.post(f"{api_url}/v1/jobs", headers=who, json={"config": config}, timeout=60)
    assert r.status_code == 201, r.text
    return r.json()["job_id"]


def _upload(api_url: str, who: dict, shapes: str, tmp_path) -> None:
    import shutil

    with open(shutil.make_archive(str(tmp_path / "shapes"), "zip", shapes), "rb") as f:
        r = httpx.post(f"{api_url}/v1/datasets", params={"name": "shapes"}, content=f.read(), timeout=120,
                       headers={**who, "content-type": "application/zip"})
    assert r.status_code == 201, r.text


def _scalars(folder: str) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(os.path.join(folder, "tensorboard"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.mark.ray
def test_every_job_is_an_mlflow_run_and_tensorboard_files(api_url, admin_token, shapes, tmp_path):
    import mlflow
    import mlflow.onnx
    import onnx

    admin = {"authorization": f"Bearer {admin_token}"}
    _upload(api_url, admin, shapes, tmp_path)
    jobs = [_submit(api_url, admin, learning_rate=0.003), _submit(api_url, admin, learning_rate=0.01)]
    records = {j: job_ended(api_url, admin, j) for j in jobs}
    assert all(r["state"] == "succeeded" for r in records.values()), records

    runs = [r for r in mlflow.search_runs(experiment_names=["visiontrain/root"], output_format="list")
            if r.data.tags["visiontrain.job_id"] in jobs]
    assert sorted(r.data.tags["visiontrain.job_id"] for r in runs) == sorted(jobs)
    client = mlflow.MlflowClient()
    for run in runs:
        job_id = run.data.tags["visiontrain.job_id"]
        folder = records[job_id]["folder_uri"]
        assert run.info.status == "FINISHED" and run.info.run_name == job_id
        assert run.data.tags["visiontrain.owner"] == "root" and run.data.tags["visiontrain.task"] == "classification"
        assert run.data.tags["visiontrain.model"] == "timm/test_resnet" and run.data.tags["ray.job_id"]
        with open(os.path.join(folder, "config.yaml")) as f:
            stored = yaml.safe_load(f)
        assert run.data.params == flat_params(stored)  # the whole config, every field
        assert run.data.params["hyperparameters.learning_rate"] in ("0.003", "0.01")

        with open(os.path.join(folder, "history.json")) as f:
            history = json.load(f)
        assert [h["epoch"] for h in history] == [1, 2]
        tensorboard = _scalars(folder)
        for name in ("val_accuracy", "val_loss", "train_loss", "learning_rate", "images_per_s"):
            logged = client.get_metric_history(run.info.run_id, name)
            assert [(m.step, m.value) for m in logged] == [(h["epoch"], h[name]) for h in history], name
            assert tensorboard[name] == [(h["epoch"], pytest.approx(h[name], rel=1e-6)) for h in history], name
        with open(os.path.join(folder, "metrics.json")) as f:
            final = json.load(f)
        assert run.data.metrics["final/accuracy"] == final["accuracy"]
        assert client.get_metric_history(run.info.run_id, "step_loss"), "each step's loss, live"
        assert any(k.startswith("system/") for k in run.data.metrics), "the monitor's system samples"

    # The logged model is the exported ONNX, with its signature and class names, and answers as the endpoint does.
    run = next(r for r in runs if r.data.tags["visiontrain.job_id"] == jobs[0])
    info = mlflow.models.get_model_info(f"runs:/{run.info.run_id}/model")
    assert tuple(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == (-1, 3, 32, 32)  # any batch
    assert info.metadata["classes"] == sorted(os.listdir(shapes))
    onnx.save(mlflow.onnx.load_model(f"runs:/{run.info.run_id}/model"), str(tmp_path / "from-mlflow.onnx"))
    image = sorted(glob.glob(os.path.join(shapes, "*", "*.png")))[0]
    with open(image, "rb") as f:
        r = httpx.post(f"{api_url}/v1/jobs/{jobs[0]}/predict", headers=admin, timeout=300,
                       files=[("images", ("a.png", f.read(), "image/png"))])
    endpoint = r.json()["predictions"][0]["top"]
    (ours,) = onnx_predict.predict(str(tmp_path / "from-mlflow.onnx"), [image])
    assert [t["class"] for t in ours["top"]] == [t["class"] for t in endpoint]
    assert [t["score"] for t in ours["top"]] == pytest.approx([t["score"] for t in endpoint], abs=1e-3)


@pytest.mark.ray
def test_a_job_whose_tracking_server_goes_away_still_succeeds(api_url, admin_token, ray_cluster, shapes, tmp_path):
    """The server is stopped mid-job: the job trains on, and its events say what happened."""
    who = signed_up(api_url, admin_token, "trina")
    _upload(api_url, who, shapes, tmp_path)
    job_id = _submit(api_url, who, epochs=4)
    url = os.environ["MLFLOW_TRACKING_URI"]
    deadline = time.time() + 300
    record = httpx.get(f"{api_url}/v1/jobs/{job_id}", headers=who, timeout=30).json()
    while not os.path.exists(os.path.join(record["folder_uri"], "events.jsonl")) or \
            not any(e["kind"] == "metrics" for e in _events(record)):
        assert time.time() < deadline, "no epoch ended"
        time.sleep(1)
    stop_mlflow(ray_cluster.home)
    try:
        record = job_ended(api_url, who, job_id)
    finally:
        start_mlflow(ray_cluster.home, int(url.rsplit(":", 1)[1]))  # the same server again, for the tests after
    assert record["state"] == "succeeded", record
    errors = [e for e in _events(record) if e["kind"] == "tracking_error"]
    assert [e["tracker"] for e in errors] == ["mlflow"], errors
    assert "goes on without it" in errors[0]["message"]
    history = httpx.get(f"{api_url}/v1/jobs/{job_id}/artifacts/history.json", headers=who, timeout=30).json()
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert [s for s, _ in _scalars(record["folder_uri"])["val_accuracy"]] == [1, 2, 3, 4]  # TensorBoard kept on


def _events(record: dict) -> list[dict]:
    with open(os.path.join(record["folder_uri"], "events.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_an_unknown_tracker_name_is_an_event_not_a_failure(tmp_path, monkeypatch):
    from train_jobs.config import config_from_dict
    from train_jobs.state import JobFolder
    from train_jobs.store import open_store

    monkeypatch.setenv("VISIONTRAIN_TRACKERS", "tensorboard,wandb")
    cfg = config_from_dict({"task": "classification", "model": {"name": "test_resnet"},
                            "dataset": {"uri": str(tmp_path)}, "storage": {"uri": str(tmp_path / "store")}})
    job = JobFolder(open_store(cfg.storage.uri), "job-one")
    tracking = Tracking(cfg, job)
    assert tracking.names == ["tensorboard"]
    (error,) = [e for e in job.events() if e["kind"] == "tracking_error"]
    assert "unknown tracker 'wandb'" in error["error"] and "'mlflow'" in error["error"]


def _folder(tmp_path, job_id: str = "job-one"):
    from train_jobs.config import config_from_dict
    from train_jobs.state import JobFolder
    from train_jobs.store import open_store

    cfg = config_from_dict({"task": "classification", "model": {"name": "test_resnet"}, "owner": "olga",
                            "dataset": {"uri": str(tmp_path)}, "storage": {"uri": str(tmp_path / "store")},
                            "job_id": job_id})
    return cfg, JobFolder(open_store(cfg.storage.uri), job_id)


def test_a_job_run_twice_is_one_run_with_each_epoch_once(tmp_path, monkeypatch):
    """Without a server: the local SQLite store. A restarted driver goes on with the same run and
    forwards only what it had not (no epoch twice); the run ends with the job's state."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    cfg, job = _folder(tmp_path)
    first = Tracking(cfg, job).start()
    job.event("metrics", epoch=1, epochs=2, val_accuracy=0.5, train_loss=1.0)
    job.event("progress", epoch=1, step=3, steps=4, loss=0.9)
    job.store.append_line(job.key("telemetry/rank-0.jsonl"), json.dumps(
        {"time": time.time(), "kind": "system", "rank": 0, "epoch": 1, "step": 3, "cpu_percent": 97.0}))
    first.close("stopped")
    first.close("failed")  # once only
    job.event("metrics", epoch=2, epochs=2, val_accuracy=0.75, train_loss=0.5)
    second = Tracking(cfg, job).start()
    second.close("succeeded")

    (run,) = mlflow.search_runs(experiment_names=["visiontrain/olga"], output_format="list")
    client = mlflow.MlflowClient()
    assert run.info.status == "FINISHED" and run.data.params["model.name"] == "test_resnet"
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "val_accuracy")] == [(1, 0.5), (2, 0.75)]
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "step_loss")] == [(3, 0.9)]
    assert run.data.metrics["system/cpu_percent"] == 97.0
    assert [s for s, _ in _scalars(job.store.child_uri(job.prefix))["val_accuracy"]] == [1, 2]
    assert not [e for e in job.events() if e["kind"] == "tracking_error"]


def test_a_tracker_that_cannot_be_reached_is_one_event_and_the_rest_goes_on(tmp_path, monkeypatch):
    from serve_app.local import free_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    cfg, job = _folder(tmp_path)
    tracking = Tracking(cfg, job).start()
    job.event("metrics", epoch=1, epochs=1, val_accuracy=0.5)
    started = time.time()
    tracking.close("succeeded")
    assert time.time() - started < 60
    (error,) = [e for e in job.events() if e["kind"] == "tracking_error"]
    assert error["tracker"] == "mlflow" and "stopped recording this job" in error["message"]
    assert _scalars(job.store.child_uri(job.prefix))["val_accuracy"] == [(1, 0.5)]  # TensorBoard went on


def test_where_a_run_is_tracked_is_shown_without_credentials():
    from gradio_ui.render import result_summary
    from train_jobs.tracking import _without_credentials

    assert _without_credentials("https://ann:secret@mlflow.example.com/") == "https://mlflow.example.com/"
    assert _without_credentials("sqlite:////home/x/mlflow.db") == "sqlite:////home/x/mlflow.db"
    tracking = {"mlflow": {"url": "http://127.0.0.1:5000/#/experiments/1/runs/abc"},
                "tensorboard": {"logdir": "/store/jobs/j1/tensorboard"}}
    shown = result_summary("en", {"job_id": "j1", "state": "succeeded", "message": "done"}, {"accuracy": 0.9},
                           tracking=tracking)
    assert "MLflow run: [http://127.0.0.1:5000/#/experiments/1/runs/abc]" in shown
    assert "/store/" not in shown  # a server path: never in the UI
    assert flat_params({"a": {"b": 1, "c": None}, "d": [1, 2]}) == {"a.b": "1", "a.c": "", "d": "[1, 2]"}


@pytest.mark.parametrize("name", sorted(TRACKERS.names()))
def test_every_registered_tracker_takes_a_whole_job(name, tmp_path, monkeypatch):
    """Each tracker alone (a new one without a case here fails its own run): opened, an epoch, a trial, ended."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("VISIONTRAIN_TRACKERS", name)
    cfg, job = _folder(tmp_path)
    tracking = Tracking(cfg, job).start()
    job.event("metrics", epoch=1, epochs=1, val_accuracy=0.5)
    job.event("trial", trial="t00", state="running", params={"learning_rate": 0.01})
    job.event("trial_metrics", trial="t00", epoch=1, val_accuracy=0.25)
    job.event("trial", trial="t00", state="finished", params={"learning_rate": 0.01})
    tracking.close("succeeded")
    assert not [e for e in job.events() if e["kind"] == "tracking_error"]
    saved = job.store.read_json(job.key("tracking.json"))
    assert list(saved) == ["cursors", name] and saved[name]
    trial = job.store.read_json(job.key("trials/t00/tracking.json"))
    assert trial[name]
