"""Recovery from a lost training worker: a job runs through the job service on a local cluster, its
worker is killed with SIGKILL in the middle of an epoch, and Ray Train restarts it from the newest
complete checkpoint. Measures the seconds from the kill to training resumed (the restarted worker
has loaded its checkpoint) and the epochs of work lost (completed epochs trained again, plus the
part of the epoch in progress at the kill).

Prints JSON lines; the last is the summary with recovery_s, epochs_lost, plus the kill's epoch,
the epoch resumed from, the job's final state and the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _local import local_platform  # noqa: E402
from serve_app.services.jobs import JobService  # noqa: E402
from serve_app.services.records import Records  # noqa: E402
from train_jobs.config import config_from_dict  # noqa: E402
from train_jobs.data.synth import make_classification  # noqa: E402
from train_jobs.state import JobFolder  # noqa: E402
from train_jobs.store import open_store  # noqa: E402


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--per-class", type=int, default=200, help="images per class (3 classes, 64 px)")
    args = ap.parse_args()
    with local_platform("recovery") as (d, cluster, _):
        make_classification(os.path.join(d, "shapes"), 3, args.per_class, 64, seed=0)
        cfg = config_from_dict({
            "task": "classification", "model": {"source": "timm", "name": "resnet18"},
            "dataset": {"uri": os.path.join(d, "shapes")}, "storage": {"uri": os.path.join(d, "artifacts")},
            "hyperparameters": {"epochs": args.epochs, "batch_size": 16, "image_size": 64},
            "resources": {"num_workers": 1, "cpus_per_worker": os.cpu_count()}})
        service = JobService(Records(f"sqlite:///{d}/records.db"), cluster.dashboard_url)
        folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
        service.submit(cfg)
        while not (done := [e for e in folder.events() if e["kind"] == "metrics"]):
            time.sleep(0.1)
        epoch_s = done[0]["epoch_s"]
        time.sleep(epoch_s / 2)  # into the second epoch, about halfway
        done = [e for e in folder.events() if e["kind"] == "metrics"]
        started = max(e["time"] for e in done)
        pid = folder.workers()[0]["worker_pid"]
        os.kill(pid, signal.SIGKILL)
        killed = time.time()
        emit({"bench": "recovery", "phase": "killed", "pid": pid, "epochs_done": len(done),
              "into_epoch_s": round(killed - started, 2), "epoch_s": epoch_s})
        final = service.wait(cfg.job_id, timeout_s=900)
        events = folder.events()
        resumed = next(e for e in events if e["kind"] == "resumed")
        failed = next(e for e in events if e["kind"] == "worker_failed")
        partial = min(1.0, (killed - started) / epoch_s)
    emit({"bench": "recovery", "recovery_s": round(resumed["time"] - killed, 2),
          "epochs_lost": round(len(done) - resumed["from_epoch"] + partial, 2),
          "kill_to_failure_seen_s": round(failed["time"] - killed, 2), "killed_in_epoch": len(done) + 1,
          "resumed_from_epoch": resumed["from_epoch"], "state": final["state"], "epoch_s": epoch_s,
          "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}})


if __name__ == "__main__":
    main()
