"""Each task on its synthetic data through the platform's job driver (a Ray Job on a local cluster),
with a fixed budget of at most 5 minutes each on 2 CPU cores. One JSON line per task
(task, metric, value, images_per_s, wall_s); the last line is the summary listing them.
What has no trainer yet is listed under "not_measured"."""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from train_jobs.config import TASKS, config_from_dict  # noqa: E402
from train_jobs.data.synth import make_classification, make_detection  # noqa: E402
from train_jobs.tasks import list_tasks  # noqa: E402

TARGETS = {"classification": ("accuracy", 0.95), "detection": ("mAP50", 0.85),
           "segmentation": ("mAP50", None), "anomaly_detection": ("auroc", 0.95)}  # segmentation: instance (mask mAP50)


def setups(d: str) -> dict:
    cls_data, det_data, seg_data = (os.path.join(d, n) for n in ("cls", "det", "seg"))
    make_classification(cls_data, 3, 500, 32, seed=0)
    make_detection(det_data, 3, 300, 128, seed=0, val_fraction=0.2)
    make_detection(seg_data, 3, 300, 128, seed=0, val_fraction=0.2, polygons=True)
    return {
        "classification": ({"model": {"name": "test_resnet"}, "dataset": {"uri": cls_data},
                            "hyperparameters": {"epochs": 12, "batch_size": 16, "learning_rate": 0.003, "image_size": 32}},
                           1200 * 12),
        "detection": ({"model": {"source": "ultralytics", "name": "yolov8n"}, "dataset": {"uri": det_data},
                       "hyperparameters": {"epochs": 30, "batch_size": 16, "learning_rate": 0.002, "image_size": 128}},
                      240 * 30),
        "segmentation": ({"model": {"source": "ultralytics", "name": "yolov8n-seg"}, "dataset": {"uri": seg_data},
                          "hyperparameters": {"epochs": 25, "batch_size": 16, "learning_rate": 0.002, "image_size": 128}},
                         240 * 25),
    }


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="each task's metric after a fixed budget, through the job driver")
    ap.add_argument("--tasks", nargs="*", help="run only these tasks")
    args = ap.parse_args()
    from serve_app.jobs import JobService
    from serve_app.local import LocalRay, ray_client_env
    from serve_app.records import Records
    from train_jobs.state import JobFolder
    from train_jobs.store import open_store

    lines = []
    with tempfile.TemporaryDirectory(prefix="vt-bench-tasks-") as d:
        home = os.path.join(d, "home")
        os.environ.update(ray_client_env(home))
        ray = LocalRay(home, gcs_port=6391, dashboard_port=8276).start()
        try:
            service = JobService(Records(f"sqlite:///{home}/records.db"), ray.dashboard_url)
            for task, (spec, images) in setups(d).items():
                if args.tasks and task not in args.tasks:
                    continue
                cfg = config_from_dict({"task": task, "job_id": f"bench-{task}-{int(time.time())}",
                                        "resources": {"num_workers": 1, "cpus_per_worker": os.cpu_count() or 1},
                                        "storage": {"uri": os.path.join(d, "artifacts")}, **spec})
                t0 = time.time()
                service.submit(cfg)
                record = service.wait(cfg.job_id, timeout_s=300, poll_s=5)
                wall = time.time() - t0
                folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
                metric, target = TARGETS[task]
                value = folder.store.read_json(folder.key("metrics.json"))[metric] if record["state"] == "succeeded" else None
                train_s = sum(e.get("epoch_s", 0) for e in folder.events() if e["kind"] == "metrics")
                line = {"bench": "tasks", "task": task, "model": cfg.model.name, "metric": metric, "value": value,
                        "target": target, "met": None if target is None else (value is not None and value >= target),
                        "images_per_s": round(images / train_s, 1) if train_s else None, "wall_s": round(wall, 1),
                        "state": record["state"], **({"message": record["message"]} if value is None else {})}
                lines.append(line)
                print(json.dumps(line), flush=True)
        finally:
            ray.stop()
    print(json.dumps({"bench": "tasks", "tasks": lines,
                      "not_measured": ["segmentation (semantic, mIoU): no trainer yet"] +
                                      [t for t in TASKS if t not in list_tasks()],
                      "machine": {"cpus": os.cpu_count()}}))


if __name__ == "__main__":
    main()
