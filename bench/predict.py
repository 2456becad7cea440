"""A trained model in use, through the API on a local platform: a resnet18 job trained at 64 px
(one epoch: the weights' quality does not change the cost), then ``POST /v1/jobs/{id}/predict``:

- ``cold_load_s``: the first request, while the TrainedModels replica loads the job's model;
- ``p50_ms``, ``p99_ms``: one 64 px image per request, 50 requests one after another;
- ``served_images_per_s``: 16 images per request, 10 requests, one after another;
- ``batch_images_per_s``: ``predict-batch`` over a second dataset of 1,800 images, while it predicts:
  the images after the first batch of 64, over the time from the first answers to the last
  (``predicting_s``, measured by the batch's driver). Beside it what comes before: ``batch_startup_s``
  (from the batch's driver starting to its first answers: the Ray Data actors start and load the
  model), ``batch_whole_images_per_s`` (all images over the driver's whole time) and ``batch_wall_s``
  (from the request to the end seen by polling, the Ray job's own start included);
- ``plain_images_per_s``: the same model over the same images in batches of 16 in a plain PyTorch
  loop in this process (decoded and resized the same way), and ``ratio`` (batch / plain).

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
from train_jobs.predict import BATCH_SIZE  # noqa: E402

ADMIN = {"VISIONTRAIN_ADMIN_USER": "bench-admin", "VISIONTRAIN_ADMIN_PASSWORD": "bench-admin-password"}
SIZE, WARM, BATCH, BATCHES, PER_CLASS = 64, 50, 16, 10, 600


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def _upload(url: str, headers: dict, d: str, name: str, per_class: int, seed: int) -> tuple[str, str]:
    data = make_classification(os.path.join(d, name), num_classes=3, per_class=per_class, image_size=SIZE, seed=seed)["path"]
    archive = shutil.make_archive(os.path.join(d, name), "zip", data)
    with open(archive, "rb") as f:
        return data, httpx.post(f"{url}/v1/datasets", params={"name": name}, content=f.read(), timeout=300,
                                headers={**headers, "content-type": "application/zip"}).json()["dataset_id"]


def _trained_job(url: str, headers: dict, d: str) -> dict:
    _, dataset = _upload(url, headers, d, "shapes", 20, 0)
    config = {"task": "classification", "model": {"source": "timm", "name": "resnet18"}, "dataset": {"uri": dataset},
              "hyperparameters": {"epochs": 1, "batch_size": 16, "image_size": SIZE}}
    job_id = httpx.post(f"{url}/v1/jobs", headers=headers, json={"config": config}, timeout=60).json()["job_id"]
    deadline = time.time() + 900
    while (record := httpx.get(f"{url}/v1/jobs/{job_id}", headers=headers, timeout=60).json())["state"] not in (
            "succeeded", "failed", "stopped") and time.time() < deadline:
        time.sleep(2)
    return record


def _batch(url: str, headers: dict, job_id: str, dataset: str) -> dict:
    """The batch job's state at its end, its wall time, and its own time from running to the end."""
    t0 = time.perf_counter()
    batch = httpx.post(f"{url}/v1/jobs/{job_id}/predict-batch", headers=headers, json={"dataset": dataset},
                       timeout=60).json()
    while batch["state"] in ("pending", "running"):
        time.sleep(0.5)
        batch = httpx.get(f"{url}/v1/jobs/{job_id}/predict-batch/{batch['batch_id']}", headers=headers, timeout=60).json()
    wall = time.perf_counter() - t0
    events = httpx.get(f"{url}/v1/jobs/{job_id}/artifacts/events.jsonl", headers=headers, timeout=60).text.splitlines()
    mine = [e for e in map(json.loads, events) if e["kind"] == "batch" and e["batch_id"] == batch["batch_id"]]
    started = next(e["time"] for e in mine if e["state"] == "running")
    ended = next((e["time"] for e in mine if e["state"] == "succeeded"), float("nan"))
    return {**batch, "wall_s": wall, "own_s": ended - started}


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
        for i in range(0, len(images), BATCH):
            model(to_float(image_batch(cfg, images[i:i + BATCH]))).softmax(1)
    return len(images) / (time.perf_counter() - t0)


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
        served = BATCH * BATCHES / sum(ask(images) for _ in range(BATCHES))
        data, dataset = _upload(url, headers, d, "more", PER_CLASS, 1)
        batch = _batch(url, headers, record["job_id"], dataset)
        emit({"step": "batch", **{k: batch.get(k) for k in ("batch_id", "state", "done", "total", "wall_s", "own_s",
                                                             "actors", "startup_s", "predicting_s")}})
        if batch["state"] != "succeeded":
            emit({"bench": "predict", "state": batch["state"], "message": batch.get("message"), "timed_out": False})
            return
        every = [os.path.join(r, f) for r, _, fs in sorted(os.walk(data)) for f in sorted(fs) if f.endswith(".png")]
        plain = _plain_images_per_s(record, [open(p, "rb").read() for p in every])
        steady = (batch["total"] - BATCH_SIZE) / batch["predicting_s"]
        emit({"bench": "predict", "model": "timm/resnet18", "image_size": SIZE, "cold_load_s": round(cold, 3),
              "p50_ms": round(times[len(times) // 2], 1), "p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 1),
              "served_images_per_s": round(served, 1), "batch_images": batch["total"],
              "batch_images_per_s": round(steady, 1), "batch_startup_s": batch["startup_s"],
              "batch_whole_images_per_s": round(batch["total"] / batch["own_s"], 1), "batch_wall_s": round(batch["wall_s"], 1),
              "batch_actors": batch["actors"], "plain_images_per_s": round(plain, 1), "ratio": round(steady / plain, 3),
              "requests": 1 + WARM + BATCHES,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}})


if __name__ == "__main__":
    main()
