"""``make demo``: the main job end to end on the local default.

Starts (or reuses) the local Ray head, generates a 3-class shapes dataset, submits a small timm
classifier as a real Ray Job, shows progress while it trains, and prints the validation accuracy
and where the artifacts are.
"""
from __future__ import annotations

import os
import time

from serve_app.local import LocalRay, home_dir, ray_client_env

__all__ = ["run_demo", "demo_config"]


def demo_config(dataset: str, epochs: int, job_id: str, cpus: int) -> dict:
    return {
        "job_id": job_id,
        "task": "classification",
        "model": {"source": "timm", "name": "test_resnet"},  # timm's 0.37M-parameter ResNet
        "dataset": {"uri": dataset, "format": "imagefolder", "val_fraction": 0.2},
        "hyperparameters": {"epochs": epochs, "batch_size": 16, "learning_rate": 0.003, "image_size": 32},
        "augmentation": {"horizontal_flip": True},
        "resources": {"num_workers": 1, "cpus_per_worker": cpus, "use_gpu": False},
    }


def run_demo(args) -> int:
    from serve_app.cli import follow, print_result
    from serve_app.jobs import JobService
    from serve_app.records import Records
    from train_jobs.config import config_from_dict
    from train_jobs.data.synth import make_classification

    home = home_dir()
    os.environ.update(ray_client_env(home))
    ray = LocalRay.load(home)
    if ray and ray.is_up():
        print(f"[1/4] reusing the local Ray at {ray.dashboard_url}")
    else:
        print("[1/4] starting a local Ray head (token auth on) ...", flush=True)
        ray = LocalRay(home).start()
        print(f"      dashboard {ray.dashboard_url}")

    dataset = os.path.join(home, "datasets", f"shapes-3x{args.per_class}")
    if not os.path.exists(os.path.join(dataset, ".complete")):
        print(f"[2/4] generating a 3-class shapes dataset ({args.per_class} images per class, 32 px) ...", flush=True)
        make_classification(dataset, num_classes=3, per_class=args.per_class, image_size=32, seed=0)
        open(os.path.join(dataset, ".complete"), "w").close()
    else:
        print(f"[2/4] reusing the dataset at {dataset}")

    cpus = max(1, min(2, os.cpu_count() or 1))
    cfg = config_from_dict(demo_config(dataset, args.epochs, f"demo-{time.strftime('%Y%m%d-%H%M%S')}", cpus), "demo config")
    service = JobService(Records(), ray.dashboard_url)
    record = service.submit(cfg)
    print(f"[3/4] submitted job {record['job_id']} as Ray job {record['ray_job_id']}; following it ...", flush=True)
    record = follow(service, record["job_id"])
    print("[4/4] done")
    print_result(service, record)
    print(f"\nRay stays up for the next run (dashboard {ray.dashboard_url}); `make down` stops it.")
    return 0 if record["state"] == "succeeded" else 1
