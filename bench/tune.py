"""A hyperparameter search against the same trials run one after another: an N-trial learning-rate
search (Ray Tune, ASHA, trials side by side) as one Ray Job, then a single-run Ray Job for each
trial's learning rate with the same epochs, sequentially, on the same local cluster.

Prints JSON lines (one per sequential run); the last is the summary with trials, search_s,
sequential_s, ratio (search / sequential), how many trials ASHA stopped early, and the machine.
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


def _run(cluster: LocalRay, work: str, config: dict) -> float:
    """Seconds from submitting ``config`` as a Ray Job to its end; raises when it did not succeed."""
    path = os.path.join(work, f"{config['job_id']}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    t0 = time.time()
    job = cluster.submit_job(f"python -m train_jobs.run --config {path}")
    while (status := cluster.job_info(job)["status"]) not in ("SUCCEEDED", "FAILED", "STOPPED"):
        time.sleep(0.5)
    if status != "SUCCEEDED":
        raise RuntimeError(f"{config['job_id']} ended {status}:\n{cluster.job_info(job, logs=True).get('logs', '')[-3000:]}")
    return time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--concurrent", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--model", default="test_resnet")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vt-bench-tune-")
    make_classification(os.path.join(work, "shapes"), num_classes=3, per_class=40, image_size=32, seed=0)
    storage = os.path.join(work, "artifacts")
    base = {"task": "classification", "model": {"source": "timm", "name": args.model},
            "dataset": {"uri": os.path.join(work, "shapes")}, "storage": {"uri": storage},
            "hyperparameters": {"epochs": args.epochs, "batch_size": 16, "image_size": 32},
            "resources": {"num_workers": 1}}
    search = {**base, "job_id": "search", "search": {
        "parameters": {"learning_rate": {"low": 1e-3, "high": 0.3, "log": True}}, "num_trials": args.trials,
        "max_concurrent_trials": args.concurrent}}

    cluster = LocalRay(os.path.join(work, "home"), gcs_port=free_port(), dashboard_port=free_port())
    os.makedirs(cluster.home)
    cluster.start()
    try:
        search_s = _run(cluster, work, search)
        with open(os.path.join(storage, "jobs", "search", "search", "results.json")) as f:
            results = json.load(f)
        sequential_s = 0.0
        for trial in results["trials"]:
            one = {**base, "job_id": f"single-{trial['trial']}",
                   "hyperparameters": {**base["hyperparameters"], **trial["params"]}}
            seconds = _run(cluster, work, one)
            sequential_s += seconds
            print(json.dumps({"bench": "tune", "run": one["job_id"], "params": trial["params"],
                              "wall_s": round(seconds, 2)}), flush=True)
    finally:
        cluster.stop()
    stopped = sum(t["state"] == "stopped_early" for t in results["trials"])
    print(json.dumps({"bench": "tune", "trials": args.trials, "concurrent": args.concurrent, "epochs": args.epochs,
                      "search_s": round(search_s, 2), "sequential_s": round(sequential_s, 2),
                      "ratio": round(search_s / sequential_s, 3), "stopped_early": stopped,
                      "best": results["best"], "metric": results["metric"],
                      "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}), flush=True)


if __name__ == "__main__":
    main()
