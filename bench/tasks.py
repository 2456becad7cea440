"""Each task on its synthetic data through the platform's job driver (a Ray Job on a local cluster),
with a fixed budget of epochs each (about 5 minutes each on 2 CPU cores). One JSON line per task
(task, metric, value, images_per_s, wall_s, state, timed_out); the last line is the summary listing them.
Each job runs to its end: a slower machine takes longer rather than reporting nothing, up to
``--cap-s`` (30 minutes), after which the job is reported timed_out with the state it was in, and
stopped. What has no trainer yet is listed under "not_measured"."""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _local import run_to_end  # noqa: E402
from train_jobs.config import config_from_dict  # noqa: E402
from train_jobs.data.synth import make_anomaly, make_classification, make_detection, make_segmentation  # noqa: E402
from train_jobs.tasks import TASKS, list_tasks  # noqa: E402

# name -> (metric, target); "segmentation" is semantic (mIoU), "instance_segmentation" has no target set.
TARGETS = {"classification": ("accuracy", 0.95), "detection": ("mAP50", 0.85), "segmentation": ("miou", 0.85),
           "instance_segmentation": ("mAP50", None), "anomaly_detection": ("auroc", 0.95),
           "anomaly_detection_patchcore": ("auroc", None)}


def setups(d: str) -> dict:
    """name -> (task, config fields, training images seen in the whole run)."""
    cls_data, det_data, sem_data, seg_data, ano_data = (os.path.join(d, n) for n in ("cls", "det", "sem", "seg", "ano"))
    make_classification(cls_data, 3, 500, 32, seed=0)
    make_detection(det_data, 3, 300, 128, seed=0, val_fraction=0.2)
    make_segmentation(sem_data, 3, 400, 64, seed=0, val_fraction=0.2)
    make_detection(seg_data, 3, 300, 128, seed=0, val_fraction=0.2, polygons=True)
    make_anomaly(ano_data, 200, 40, 40, 64, seed=0)
    return {
        "classification": ("classification", {
            "model": {"name": "test_resnet"}, "dataset": {"uri": cls_data},
            "hyperparameters": {"epochs": 12, "batch_size": 16, "learning_rate": 0.003, "image_size": 32}}, 1200 * 12),
        "detection": ("detection", {
            "model": {"source": "ultralytics", "name": "yolov8n"}, "dataset": {"uri": det_data},
            "hyperparameters": {"epochs": 30, "batch_size": 16, "learning_rate": 0.002, "image_size": 128}}, 240 * 30),
        "segmentation": ("segmentation", {
            "model": {"source": "huggingface", "name": "nvidia/mit-b0"}, "dataset": {"uri": sem_data, "format": "mask"},
            "hyperparameters": {"epochs": 12, "batch_size": 16, "learning_rate": 0.002, "image_size": 64}}, 320 * 12),
        "instance_segmentation": ("segmentation", {
            "model": {"source": "ultralytics", "name": "yolov8n-seg"}, "dataset": {"uri": seg_data},
            "hyperparameters": {"epochs": 25, "batch_size": 16, "learning_rate": 0.002, "image_size": 128}}, 240 * 25),
        "anomaly_detection": ("anomaly_detection", {
            "model": {"name": "resnet18"}, "dataset": {"uri": ano_data, "format": "mvtec"},
            "hyperparameters": {"epochs": 12, "batch_size": 16, "learning_rate": 0.002, "image_size": 64}}, 160 * 12),
        "anomaly_detection_patchcore": ("anomaly_detection", {  # a backbone without pretrained weights here
            "model": {"name": "resnet18"}, "dataset": {"uri": ano_data, "format": "mvtec"}, "anomaly": {"method": "patchcore"},
            "hyperparameters": {"epochs": 1, "image_size": 64}}, 160),
    }


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="each task's metric after a fixed budget, through the job driver")
    ap.add_argument("--tasks", nargs="*", help="run only these tasks")
    ap.add_argument("--cap-s", type=float, default=1800, help="a job still running after this long is reported "
                    "timed_out (with its state) and stopped")
    args = ap.parse_args()
    from serve_app.services.jobs import JobService
    from serve_app.local import LocalRay, free_port, ray_client_env
    from serve_app.services.records import Records
    from train_jobs.state import JobFolder
    from train_jobs.store import open_store

    lines = []
    with tempfile.TemporaryDirectory(prefix="vt-bench-tasks-") as d:
        home = os.path.join(d, "home")
        os.environ.update(ray_client_env(home))
        ray = LocalRay(home, gcs_port=free_port(), dashboard_port=free_port()).start()
        try:
            service = JobService(Records(f"sqlite:///{home}/records.db"), ray.dashboard_url)
            for name, (task, spec, images) in setups(d).items():
                if args.tasks and name not in args.tasks:
                    continue
                cfg = config_from_dict({"task": task, "job_id": f"bench-{name.replace('_', '-')}-{int(time.time())}",
                                        "resources": {"num_workers": 1, "cpus_per_worker": os.cpu_count() or 1},
                                        "storage": {"uri": os.path.join(d, "artifacts")}, **spec})
                record = run_to_end(service, cfg, args.cap_s, poll_s=5)
                folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
                metric, target = TARGETS[name]
                value = folder.store.read_json(folder.key("metrics.json"))[metric] if record["state"] == "succeeded" else None
                train_s = sum(e.get("epoch_s", 0) for e in folder.events() if e["kind"] == "metrics")
                line = {"bench": "tasks", "task": name, "model": cfg.model.name, "metric": metric, "value": value,
                        "target": target, "met": None if target is None else (value is not None and value >= target),
                        "images_per_s": round(images / train_s, 1) if train_s else None, "wall_s": record["wall_s"],
                        "state": record["state"], "timed_out": record["timed_out"],
                        **({"message": record["message"]} if value is None else {})}
                lines.append(line)
                print(json.dumps(line), flush=True)
        finally:
            ray.stop()
    print(json.dumps({"bench": "tasks", "tasks": lines,
                      "not_measured": [t for t in TASKS.names() if t not in list_tasks()],
                      "machine": {"cpus": os.cpu_count()}}))


if __name__ == "__main__":
    main()
