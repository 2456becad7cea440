"""Local autoscaling from cluster.yaml: a training job that needs two cpu-workers nodes is
submitted to a cluster with none. How long until the autoscaler's first node is alive, until the
job's training has started on the new nodes (its first heartbeat), until the job ends, and until
the idle nodes are gone (idle timeout shortened to 15 s here; 5 min in cluster.yaml).

Prints JSON lines; the last is the summary with submit_to_first_node_s, submit_to_job_start_s,
plus submit_to_second_node_s, job_wall_s, idle_to_removed_s and the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from serve_app.local import LocalRay, free_port  # noqa: E402
from train_jobs.data.synth import make_classification  # noqa: E402

IDLE_TIMEOUT_MINUTES = 0.25


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vt-bench-autoscale-")
    with open(os.path.join(ROOT, "cluster.yaml")) as f:
        config = yaml.safe_load(f)
    config["idle_timeout_minutes"] = IDLE_TIMEOUT_MINUTES
    cpus = config["available_node_types"]["cpu-workers"]["resources"]["CPU"]
    with open(os.path.join(work, "cluster.yaml"), "w") as f:
        yaml.safe_dump(config, f)
    make_classification(os.path.join(work, "shapes"), num_classes=3, per_class=24, image_size=32, seed=0)
    train = {"task": "classification", "job_id": "autoscale", "model": {"source": "timm", "name": "test_resnet"},
             "dataset": {"uri": os.path.join(work, "shapes")}, "storage": {"uri": os.path.join(work, "artifacts")},
             "hyperparameters": {"epochs": args.epochs, "batch_size": 16, "image_size": 32},
             "resources": {"num_workers": 2, "cpus_per_worker": cpus}}
    with open(os.path.join(work, "train.yaml"), "w") as f:
        yaml.safe_dump(train, f)
    heartbeat = os.path.join(work, "artifacts", "jobs", "autoscale", "telemetry", "rank-0.jsonl")

    cluster = LocalRay(os.path.join(work, "home"), gcs_port=free_port(), dashboard_port=free_port(),
                       autoscaling_config=os.path.join(work, "cluster.yaml"))
    os.makedirs(cluster.home)
    cluster.start()
    try:
        while not cluster.alive_nodes():
            time.sleep(0.5)
        t0 = time.time()
        job = cluster.submit_job(f"python -m train_jobs.run --config {os.path.join(work, 'train.yaml')}")
        marks: dict[str, float] = {}
        status = "PENDING"
        while status not in ("SUCCEEDED", "FAILED", "STOPPED"):
            workers = [n for n in cluster.alive_nodes() if not n["is_head_node"]]
            for count, name in ((1, "submit_to_first_node_s"), (2, "submit_to_second_node_s")):
                if len(workers) >= count:
                    marks.setdefault(name, round(time.time() - t0, 2))
            if os.path.exists(heartbeat):
                marks.setdefault("submit_to_job_start_s", round(time.time() - t0, 2))
            status = cluster.job_info(job)["status"]
            time.sleep(0.5)
        marks["job_wall_s"] = round(time.time() - t0, 2)
        ended = time.time()
        while [n for n in cluster.alive_nodes() if not n["is_head_node"]]:
            time.sleep(1)
        marks["idle_to_removed_s"] = round(time.time() - ended, 2)
    finally:
        cluster.stop()
    print(json.dumps({"bench": "autoscale", "status": status, **marks, "idle_timeout_s": IDLE_TIMEOUT_MINUTES * 60,
                      "node_type": {"name": "cpu-workers", "CPU": cpus}, "workers": 2,
                      "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}), flush=True)


if __name__ == "__main__":
    main()
