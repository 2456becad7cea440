"""Monitoring overhead: the same classification run through Ray Train with the monitoring actor
on and off, alternating (off, on, off, on, ...) in one run so that drift moves both alike.

Prints JSON lines; the last is the summary with off_images_per_s, on_images_per_s and ratio
(on / off, steady state: epochs after the first), plus what the monitor saw of the worker (CPU,
memory and, on a GPU, utilisation, memory, temperature and power) in the last monitored round.
On a GPU the loop runs in bf16 autocast with channels_last, as every platform run does there.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import ray  # noqa: E402
import torch  # noqa: E402

from train_jobs.config import config_from_dict  # noqa: E402
from train_jobs.data.synth import make_classification  # noqa: E402
from train_jobs.state import JobFolder  # noqa: E402
from train_jobs.store import open_store  # noqa: E402
from train_jobs.tasks._base import fit_with_ray_train  # noqa: E402


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def one_round(base, monitored: bool, i: int) -> dict:
    cfg = base.model_copy(update={"job_id": f"{base.job_id}-{'on' if monitored else 'off'}-{i}",
                                  "monitor": base.monitor.model_copy(update={"enabled": monitored})})
    job = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    t0 = time.time()
    fit_with_ray_train(cfg, job)
    epochs = [e for e in job.events() if e["kind"] == "metrics"][1:]
    out = {"monitor": monitored, "images_per_s": sum(e["train_images"] for e in epochs) / sum(e["train_s"] for e in epochs),
           "epoch_images_per_s": [e["images_per_s"] for e in epochs], "wall_s": round(time.time() - t0, 1)}
    if monitored:
        system = [e for e in job.telemetry() if e["kind"] == "system"]
        out["seen"] = {k: max(e.get(k, 0.0) for e in system) for k in system[-1] if k.endswith(
            ("percent", "bytes", "celsius", "watts"))} if system else {}
        out["progress_events"] = sum(e["kind"] == "progress" for e in job.telemetry())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--per-class", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2, help="rounds of each (off and on)")
    args = ap.parse_args()
    gpu = torch.cuda.is_available()
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="vt-bench-") as d:
        data = os.path.join(d, "data")
        make_classification(data, 3, args.per_class, args.image_size, seed=0)
        cpus_per_worker = max(1, min(cpus, 8) - 1) if gpu else cpus
        cfg = config_from_dict({
            "job_id": f"monitor-{int(time.time())}", "task": "classification",
            "model": {"name": args.model}, "dataset": {"uri": data},
            "hyperparameters": {"epochs": args.epochs, "batch_size": args.batch_size, "image_size": args.image_size},
            "augmentation": {"horizontal_flip": False},
            "resources": {"num_workers": 1, "cpus_per_worker": cpus_per_worker, "use_gpu": gpu},
            "monitor": {"sample_interval_s": 5.0},
            "storage": {"uri": os.path.join(d, "artifacts")},
        })
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        try:
            rounds = {False: [], True: []}
            for i in range(args.rounds):
                for monitored in (False, True):
                    rounds[monitored].append(one_round(cfg, monitored, i))
                    emit({"bench": "monitor_overhead", "phase": f"{'on' if monitored else 'off'}_{i}",
                          **rounds[monitored][-1]})
        finally:
            ray.shutdown()
    off = sum(r["images_per_s"] for r in rounds[False]) / args.rounds
    on = sum(r["images_per_s"] for r in rounds[True]) / args.rounds
    emit({
        "bench": "monitor_overhead", "model": args.model, "image_size": args.image_size, "batch_size": args.batch_size,
        "epochs": args.epochs, "rounds": args.rounds, "off_images_per_s": round(off, 2), "on_images_per_s": round(on, 2),
        "ratio": round(on / off, 4), "seen_by_monitor": rounds[True][-1].get("seen"),
        "machine": {"cpus": cpus, "gpu": torch.cuda.get_device_name(0) if gpu else None,
                    "python": platform.python_version(), "torch": torch.__version__},
    })


if __name__ == "__main__":
    main()
