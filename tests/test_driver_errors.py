"""Bad input to the driver: one clear error, nothing half-written."""
import os
import subprocess
import sys

import pytest
import yaml

from conftest import tiny_config
from train_jobs.config import config_from_dict
from train_jobs.state import JobFolder
from train_jobs.store import open_store

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _driver(config_path, *extra, env=None):
    return subprocess.run([sys.executable, "-m", "train_jobs.run", "--config", str(config_path), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def test_bad_config_is_refused_before_anything_is_written(tmp_path, shapes):
    cfg = tiny_config(shapes, str(tmp_path / "artifacts"))
    cfg["hyperparameters"]["epochs"] = 0
    cfg["resources"]["num_gpus"] = 2
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = _driver(path, "--address", "127.0.0.1:1")
    assert out.returncode == 2
    assert "hyperparameters.epochs: Input should be greater than or equal to 1 (got 0)" in out.stderr
    assert "resources.num_gpus: unknown field. Allowed here: num_workers, use_gpu, gpus_per_worker" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "artifacts").exists()


def test_missing_config_file(tmp_path):
    out = _driver(tmp_path / "nope.yaml", "--address", "127.0.0.1:1")
    assert out.returncode == 2 and "cannot read config" in out.stderr and "Traceback" not in out.stderr


def test_no_cluster_given_says_how_to_give_one(tmp_path, shapes):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_config(shapes, str(tmp_path / "a"))))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out = subprocess.run([sys.executable, "-m", "train_jobs.run", "--config", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2 and "ray job submit" in out.stderr and "--address" in out.stderr


def test_unreachable_s3_storage_is_one_clear_error(tmp_path, shapes):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_config(shapes, "s3://bucket/runs")))
    out = _driver(path, "--address", "127.0.0.1:1",
                  env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                       "VISIONTRAIN_S3_MAX_ATTEMPTS": "3"})
    assert out.returncode == 1, out.stderr
    assert "cannot reach the S3 endpoint http://127.0.0.1:9" in out.stderr and "after 3 attempts" in out.stderr
    assert out.stderr.count("error:") == 1 and "Traceback" not in out.stderr


@pytest.mark.ray
def test_missing_dataset_fails_the_job_with_the_reason(ray_cluster, tmp_path):
    cfg = config_from_dict(tiny_config(str(tmp_path / "no-such-data"), str(tmp_path / "artifacts")))
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    out = _driver(path, "--address", ray_cluster.gcs_address)
    assert out.returncode == 1
    assert "does not exist on this node" in out.stderr
    folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    state = folder.state()
    assert state["state"] == "failed" and "no-such-data" in state["message"]
    assert [h["state"] for h in state["history"]] == ["validating", "failed"]
    # a record of the failure and its health report (and where it was tracked), nothing else: no checkpoints,
    # weights or exports
    kept = sorted(k for k in folder.store.list(folder.prefix) if not k.startswith(folder.key("tensorboard/")))
    assert kept == [folder.key(k) for k in ("config.yaml", "dataset_report.json", "events.jsonl", "state.json",
                                            "tracking.json")]
    assert not folder.store.read_json(folder.key("dataset_report.json"))["ok"]


@pytest.mark.ray
def test_broken_dataset_stops_the_job_with_its_health_report(ray_cluster, tmp_path):
    from train_jobs.data.synth import make_classification

    data = tmp_path / "data"
    make_classification(str(data), num_classes=3, per_class=6, image_size=32)
    (data / "circle" / "broken.png").write_bytes(b"\x89PNG truncated")
    cfg = config_from_dict(tiny_config(str(data), str(tmp_path / "artifacts")))
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    out = _driver(path, "--address", ray_cluster.gcs_address)
    assert out.returncode == 1
    state = JobFolder(open_store(cfg.storage.uri), cfg.job_id).state()
    assert state["state"] == "failed"
    assert "cannot train" in state["message"] and "circle/broken.png" in state["message"]


def test_training_waits_out_an_artifact_store_outage_then_gives_up_with_the_reason(tmp_path, monkeypatch):
    from train_jobs import run
    from train_jobs.store import StoreError

    monkeypatch.setattr(run, "OUTAGE_WAITS_S", (0, 0, 0))
    job = JobFolder(open_store(str(tmp_path)), "outage-job")
    outage = RuntimeError("Training failed due to controller error: AWS Error NETWORK_CONNECTION during "
                          "CreateMultipartUpload operation: Could not connect to server")
    calls = []

    def fit(failures: int):
        def attempt():
            calls.append(1)
            if len(calls) <= failures:
                raise outage
            return "trained"
        return attempt

    assert run._waiting_out_store_outages(job, fit(2)) == "trained" and len(calls) == 3
    assert [e["kind"] for e in job.events()] == ["store_outage", "store_outage"]
    calls.clear()
    with pytest.raises(StoreError, match="could not reach the artifact store .* submit the job again"):
        run._waiting_out_store_outages(job, fit(99))
    assert len(calls) == 4
    calls.clear()
    with pytest.raises(ZeroDivisionError):  # anything else is not waited out
        run._waiting_out_store_outages(job, lambda: calls.append(1) or 1 / 0)
    assert len(calls) == 1
