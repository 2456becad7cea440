"""A trained model in use, through the API on a local platform: a resnet18 job trained at 64 px
(one epoch: the weights' quality does not change the cost), then ``POST /v1/jobs/{id}/predict``:

- ``cold_load_s``: the first request, while the TrainedModels replica loads the job's model;
- ``p50_ms``, ``p99_ms``: one 64 px image per request, 50 requests one after another;
- ``batch_images_per_s``: 16 images per request, 10 requests (batch prediction over a dataset,
  ``predict-batch``, is not built yet: this is the endpoint's own batching);
- ``plain_images_per_s``: the same model and batches in a plain PyTorch loop in this process (the
  images decoded and resized the same way), and ``ratio`` (batch / plain).

Prints JSON lines; the last is the summary with those figures and the machine."""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import httpx  # noqa: E402

from _local import local_platform  # noqa: E402
from train_jobs.data.synth import make_classification  # noqa: E402

ADMIN = {"VISIONTRAIN_ADMIN_USER": "bench-admin", "VISIONTRAIN_ADMIN_PASSWORD": "bench-admin-password"}
SIZE, WARM, BATCH, BATCHES = 64, 50, 16, 10


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def _trained_job(url: str, headers: dict, d: str) -> dict:
    data = make_classification(os.path.join(d, "shapes"), num_classes=3, per_class=20, image_size=SIZE, seed=0)["path"]
    archive = shutil.make_archive(os.path.join(d, "shapes"), "zip", data)
    with open(archive, "rb") as f:
        dataset = httpx.post(f"{url}/v1/datasets", params={"name": "shapes"}, content=f.read(), timeout=300,
                             headers={**headers, "content-type": "application/zip"}).json()["dataset_id"]
    config = {"task": "classification", "model": {"source": "timm", "name": "resnet18"}, "dataset": {"uri": dataset},
              "hyperparameters": {"epochs": 1, "batch_size": 16, "image_size": SIZE}}
    job_id = httpx.post(f"{url}/v1/jobs", headers=headers, json={"config": config}, timeout=60).json()["job_id"]
    deadline = time.time() + 900
    while (record := httpx.get(f"{url}/v1/jobs/{job_id}", headers=headers, timeout=60).json())["state"] not in (
            "succeeded", "failed", "stopped") and time.time() < deadline:
        time.sleep(2)
    return record


def _plain_images_per_s(record: dict, images: list[bytes]) -> float:
    import torch

    from train_jobs.config import config_from_yaml
    from train_jobs.tasks._torch import build_model, image_batch, to_float

    with open(os.path.join(record["folder_uri"], "config.yaml")) as f:
        cfg = config_from_yaml(f.read())
    model = build_model(cfg, 3)
    model.load_state_dict(torch.load(os.path.join(record["folder_uri"], "weights", "model.pt"), weights_only=True)["model"])
    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(BATCHES):
            model(to_float(image_batch(cfg, images))).softmax(1)
    return BATCH * BATCHES / (time.perf_counter() - t0)


def main() -> None:
    with local_platform("predict", ADMIN) as (d, _, url):
        headers = {"authorization": "Bearer " + httpx.post(f"{url}/v1/auth/login", timeout=60, json={
            "username": ADMIN["VISIONTRAIN_ADMIN_USER"], "password": ADMIN["VISIONTRAIN_ADMIN_PASSWORD"]}).json()[
            "access_token"]}
        t0 = time.perf_counter()
        record = _trained_job(url, headers, d)
        emit({"step": "trained", "job_id": record["job_id"], "state": record["state"],
              "wall_s": round(time.perf_counter() - t0, 1)})
        if record["state"] != "succeeded":
            emit({"bench": "predict", "state": record["state"], "timed_out": record["state"] not in ("failed", "stopped")})
            return
        folder = os.path.join(d, "shapes", "circle")
        images = [open(os.path.join(folder, n), "rb").read() for n in sorted(os.listdir(folder))[:BATCH]]

        def ask(batch: list[bytes]) -> float:
            t = time.perf_counter()
            r = httpx.post(f"{url}/v1/jobs/{record['job_id']}/predict", headers=headers, timeout=300,
                           files=[("images", (f"{i}.png", data)) for i, data in enumerate(batch)])
            r.raise_for_status()
            return time.perf_counter() - t

        cold = ask(images[:1])
        times = sorted(ask(images[:1]) * 1000 for _ in range(WARM))
        batch_s = sum(ask(images) for _ in range(BATCHES))
        served = BATCH * BATCHES / batch_s
        plain = _plain_images_per_s(record, images)
        emit({"bench": "predict", "model": "timm/resnet18", "image_size": SIZE, "cold_load_s": round(cold, 3),
              "p50_ms": round(times[len(times) // 2], 1), "p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 1),
              "batch_images_per_s": round(served, 1), "plain_images_per_s": round(plain, 1),
              "ratio": round(served / plain, 3), "requests": 1 + WARM + BATCHES,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}})


if __name__ == "__main__":
    main()
