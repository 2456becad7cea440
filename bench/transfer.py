"""Fine-tuning against training from scratch, through the platform's job driver on a local cluster:
a platform job trains resnet18 on one synthetic dataset (8 shapes); its weights go into the weights
cache as an operator adds them; then a small second dataset (12 classes, new patterned ones among
them, 20 training images per class) is trained twice with the same budget, from scratch and from
those weights (a new 12-class head). One JSON line per job; the summary has ``from_scratch``,
``fine_tuned`` (validation accuracy), ``epochs`` and the machine."""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _local import run_to_end  # noqa: E402
from train_jobs.config import config_from_dict  # noqa: E402
from train_jobs.data.synth import make_classification  # noqa: E402

EPOCHS = 8
PRETRAIN = {"classes": 8, "per_class": 400, "epochs": 4}
SMALL = {"classes": 12, "per_class": 27}  # a quarter held out for validation: 20 training images per class


def main() -> None:
    from serve_app.local import LocalRay, free_port, ray_client_env
    from serve_app.services.jobs import JobService
    from serve_app.services.records import Records
    from train_jobs.state import JobFolder
    from train_jobs.store import open_store
    from train_jobs.weights import WeightsCache

    lines = []
    with tempfile.TemporaryDirectory(prefix="vt-bench-transfer-") as d:
        home, storage = os.path.join(d, "home"), os.path.join(d, "artifacts")
        big = make_classification(os.path.join(d, "big"), PRETRAIN["classes"], PRETRAIN["per_class"], 32, seed=0)["path"]
        small = make_classification(os.path.join(d, "small"), SMALL["classes"], SMALL["per_class"], 32, seed=1,
                                    val_fraction=0.25)["path"]
        os.environ.update(ray_client_env(home), VISIONTRAIN_OFFLINE="1")  # the cache is filled by hand here
        ray = LocalRay(home, gcs_port=free_port(), dashboard_port=free_port()).start()
        try:
            service = JobService(Records(f"sqlite:///{home}/records.db"), ray.dashboard_url)

            def run(name: str, data: str, epochs: int, pretrained: bool) -> dict:
                cfg = config_from_dict({
                    "task": "classification", "job_id": f"transfer-{name}-{int(time.time())}",
                    "model": {"name": "resnet18", "pretrained": pretrained}, "dataset": {"uri": data},
                    "hyperparameters": {"epochs": epochs, "batch_size": 16, "learning_rate": 0.002, "image_size": 32},
                    "resources": {"num_workers": 1, "cpus_per_worker": os.cpu_count() or 1},
                    "storage": {"uri": storage}})
                record = run_to_end(service, cfg, poll_s=5)
                folder = JobFolder(open_store(storage), cfg.job_id)
                accuracy = (folder.store.read_json(folder.key("metrics.json"))["accuracy"]
                            if record["state"] == "succeeded" else None)
                line = {"bench": "transfer", "job": name, "accuracy": accuracy, "epochs": epochs,
                        "state": record["state"], "wall_s": record["wall_s"], "timed_out": record["timed_out"],
                        **({"message": record["message"]} if accuracy is None else {})}
                lines.append(line)
                print(json.dumps(line), flush=True)
                return {"folder": folder, **line}

            first = run("pretrain", big, PRETRAIN["epochs"], pretrained=False)
            with tempfile.NamedTemporaryFile(suffix=".pt") as f:
                first["folder"].store.download_file(first["folder"].key("weights/model.pt"), f.name)
                WeightsCache(open_store(storage)).add(f.name, "timm", "resnet18", origin="the bench's pretraining job")
            scratch = run("from-scratch", small, EPOCHS, pretrained=False)
            tuned = run("fine-tuned", small, EPOCHS, pretrained=True)
        finally:
            ray.stop()
    print(json.dumps({"bench": "transfer", "from_scratch": scratch["accuracy"], "fine_tuned": tuned["accuracy"],
                      "epochs": EPOCHS, "train_images_per_class": 20, "classes": SMALL["classes"],
                      "pretrained_on": f"{PRETRAIN['classes']} shapes x {PRETRAIN['per_class']}",
                      "jobs": lines, "machine": {"cpus": os.cpu_count()}}))


if __name__ == "__main__":
    main()
