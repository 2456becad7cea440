"""Local autoscaling from cluster.yaml: a job that needs two worker nodes, on a cluster that has
none, gets them from the autoscaler, finishes, and the nodes go away after the idle timeout.
The cluster is this test's own (own ports, own process group); only it is stopped."""
from __future__ import annotations

import os
import time

import pytest
import yaml

from serve_app.local import LocalRay, free_port
from tests.conftest import tiny_config

pytestmark = pytest.mark.ray
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _wait(what: str, check, timeout_s: float, every_s: float = 1.0):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if value := check():
            return value
        time.sleep(every_s)
    raise AssertionError(f"{what} did not happen within {timeout_s:.0f} s")


def test_job_gets_worker_nodes_and_they_leave_when_idle(tmp_path, shapes):
    with open(os.path.join(ROOT, "cluster.yaml")) as f:
        config = yaml.safe_load(f)
    config["idle_timeout_minutes"] = 0.25  # the only change: 15 s instead of 5 min
    cpus = config["available_node_types"]["cpu-workers"]["resources"]["CPU"]
    with open(tmp_path / "cluster.yaml", "w") as f:
        yaml.safe_dump(config, f)
    cluster = LocalRay(str(tmp_path / "home"), gcs_port=free_port(), dashboard_port=free_port(),
                       autoscaling_config=str(tmp_path / "cluster.yaml"))
    cluster.start()
    try:
        nodes = _wait("the head listed", cluster.alive_nodes, 30)
        assert [n["is_head_node"] for n in nodes] == [True]
        cfg = tiny_config(shapes, str(tmp_path / "artifacts"), job_id="autoscale",
                          hyperparameters={"epochs": 1}, resources={"num_workers": 2, "cpus_per_worker": cpus})
        with open(tmp_path / "train.yaml", "w") as f:
            yaml.safe_dump(cfg, f)
        job = cluster.submit_job(f"python -m train_jobs.run --config {tmp_path / 'train.yaml'}")

        def workers():
            return [n for n in cluster.alive_nodes() if not n["is_head_node"]]

        added = _wait("two cpu-workers nodes added", lambda: len(workers()) >= 2 and workers(), 180)
        assert all(n["resources_total"].get("CPU") == cpus for n in added)

        def ended():
            info = cluster.job_info(job, logs=True)
            return info if info["status"] in ("SUCCEEDED", "FAILED", "STOPPED") else None

        info = _wait("the job ending", ended, 600, every_s=3)
        assert info["status"] == "SUCCEEDED", info["logs"][-3000:]
        assert os.path.exists(tmp_path / "artifacts" / "jobs" / "autoscale" / "metrics.json")
        _wait("worker nodes removed after the idle timeout", lambda: not workers() or None, 120, every_s=2)
    finally:
        cluster.stop()
