"""A succeeded job's trained model in use: :func:`load_predictor` (what the TrainedModels deployment
keeps, fed exactly as the job's evaluation was), and batch prediction over a whole dataset, a Ray job
of its own: ``python -m train_jobs.predict --request <uri of batches/<id>/request.json>``.

A batch runs the model over every image of the dataset with Ray Data (``map_batches`` on a pool of
actors started together: one per CPU of the cluster, or one per GPU where it has or may add GPUs), and
writes into ``batches/<id>/`` of the job's folder:
``predictions.jsonl`` (one line per image: its path in the dataset and the answer the endpoint gives),
``coco_results.json`` for detection and instance segmentation, ``metrics.json`` where the dataset is
labelled (the task trainer's ``batch_metrics``), and ``state.json``; progress goes
to the job's event stream (``kind: batch``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable, Optional

from train_jobs.config import config_from_yaml
from train_jobs.data import DatasetError, ImageRefused, local_dataset_path
from train_jobs.data.formats import FormatError, read_dataset
from train_jobs.data.formats._index import IMAGE_EXTENSIONS, image_files
from train_jobs.state import JobFolder
from train_jobs.store import open_store
from train_jobs.tasks import get_task
from visiontrain.settings import settings as env_settings

__all__ = ["ACTIVE", "batch_key", "load_predictor", "main", "predictor_gpus", "record_batch"]

ACTIVE = ("pending", "running")  # a batch's states before it ends succeeded or failed
BATCH_SIZE = 64
PROGRESS_EVERY_S = 2.0


def batch_key(batch_id: str, name: str) -> str:
    """Where a batch keeps ``name``, relative to its job's folder."""
    return f"batches/{batch_id}/{name}"


def record_batch(job: JobFolder, request: dict, now: str, **fields) -> dict:
    """Write the batch's ``state.json`` (its request, the state ``now``, ``fields``) and tell the job's
    events; the state written."""
    state = {**request, "state": now, "ended": now not in ACTIVE, "updated_at": time.time(), **fields}
    job.store.write_json(job.key(batch_key(request["batch_id"], "state.json")), state)
    job.event("batch", batch_id=request["batch_id"], state=now, **fields)
    return state


def predictor_gpus(cluster_gpus: float) -> float:
    """The GPUs a TrainedModels replica or a batch actor asks for: ``VISIONTRAIN_PREDICT_GPUS``, else one
    where the cluster has (or may add) ``cluster_gpus``."""
    chosen = env_settings().predict_gpus
    return chosen if chosen is not None else (1.0 if cluster_gpus > 0 else 0.0)


def load_predictor(storage_uri: str, job_id: str) -> Callable[..., list[dict]]:
    """``predict(images: list[bytes], draw=False) -> list[dict]`` for the job's best weights."""
    job = JobFolder(open_store(storage_uri), job_id)
    cfg = config_from_yaml(job.store.read_text(job.key("config.yaml")), source=job.uri("config.yaml"))
    # the network is built bare and given the job's own weights: the weights it started from (fetched
    # by its driver, never here) play no part
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"pretrained": False, "weights": None})})
    names = job.store.read_json(job.key("metrics.json"))["class_names"]
    return get_task(cfg.task, cfg.model.source).predictor(cfg, job, names)


class _Predict:
    """One Ray Data actor: the model loaded once, the dataset made readable on its own node."""

    def __init__(self, storage_uri: str, job_id: str, dataset: str):
        self.predict = load_predictor(storage_uri, job_id)
        self.root = local_dataset_path(dataset, storage_uri)

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        paths = [str(p) for p in batch["path"]]
        images = [Path(self.root, p).read_bytes() for p in paths]
        try:
            answers = [json.dumps(a) for a in self.predict(images)]
        except ImageRefused:  # answered one by one, so that one bad image spoils only its own line
            answers = [self._one(image) for image in images]
        return {"path": np.array(paths, dtype=object), "answer": np.array(answers, dtype=object)}

    def _one(self, image: bytes) -> str:
        try:
            return json.dumps(self.predict([image])[0])
        except ImageRefused as exc:
            return json.dumps({"error": str(exc)})


def _read_index(root: str):
    """The dataset's index where its files are a format visiontrain reads (its labels, and which files
    are its images: not a mask dataset's masks); None for images alone."""
    try:
        return read_dataset(root)
    except FormatError:
        return None


def _coco_results(rows: list[tuple[str, dict]], class_names: list[str]) -> list[dict]:
    """Objects as COCO results (image ids count the images in path order, each with its ``file_name``)."""
    return [{"image_id": i, "file_name": path, "category_id": class_names.index(o["class"]),
             "bbox": [o["box"][0], o["box"][1], o["box"][2] - o["box"][0], o["box"][3] - o["box"][1]],
             "score": o["score"]}
            for i, (path, answer) in enumerate(rows, 1) for o in answer.get("objects", [])]


def run_batch(request: dict, address: str) -> int:
    import ray

    job = JobFolder(open_store(request["storage_uri"]), request["job_id"])
    bid = request["batch_id"]

    def state(now: str, **fields) -> None:
        record_batch(job, request, now, **fields)

    try:
        ray.init(address=address, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        root = local_dataset_path(request["dataset"], request["storage_uri"])
        index = _read_index(root)
        paths = ([s.image.replace(os.sep, "/") for s in index.samples] if index else
                 [os.path.relpath(p, root).replace(os.sep, "/") for p in image_files(root)])
        if not paths:
            raise DatasetError(f"{request['dataset']} holds no images (files ending {', '.join(IMAGE_EXTENSIONS)})")
        class_names = job.store.read_json(job.key("metrics.json"))["class_names"]
        cfg = config_from_yaml(job.store.read_text(job.key("config.yaml")))
        state("running", done=0, total=len(paths))
        started = time.time()
        gpus = float(request.get("gpus_per_actor", 0))
        slots = request["cluster_gpus"] // gpus if gpus else ray.cluster_resources().get("CPU", 1)
        actors = int(max(1, min(slots, -(-len(paths) // BATCH_SIZE))))
        ds = ray.data.from_items([{"path": p} for p in paths]).map_batches(
            _Predict, fn_constructor_args=(request["storage_uri"], request["job_id"], request["dataset"]),
            batch_size=BATCH_SIZE, num_cpus=1, num_gpus=gpus,  # every actor started at once; with GPUs, those
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors, initial_size=actors))  # that come up
        rows, told, first = [], 0.0, None
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as out:
            for row in ds.iter_rows():
                first = first or time.time()  # the first answers: the actors have started
                answer = json.loads(row["answer"])
                rows.append((row["path"], answer))
                out.write(json.dumps({"image": row["path"], **answer}, ensure_ascii=False) + "\n")
                if time.time() - told > PROGRESS_EVERY_S:
                    state("running", done=len(rows), total=len(paths))
                    told = time.time()
        predicted = time.time()
        job.store.upload_file(job.key(batch_key(bid, "predictions.jsonl")), out.name)
        os.unlink(out.name)
        rows.sort()
        if any("objects" in a for _, a in rows):
            job.store.write_json(job.key(batch_key(bid, "coco_results.json")), _coco_results(rows, class_names))
        metrics = index and get_task(cfg.task, cfg.model.source).batch_metrics(index, dict(rows), class_names)
        if metrics:
            job.store.write_json(job.key(batch_key(bid, "metrics.json")), metrics)
        refused = sum(1 for _, a in rows if "error" in a)
        state("succeeded", done=len(rows), total=len(paths), refused=refused, actors=actors, gpus_per_actor=gpus,
              startup_s=round(first - started, 2), predicting_s=round(predicted - first, 2),
              **({"metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))}} if metrics else {}))
        return 0
    except Exception as exc:  # noqa: BLE001 - whatever ended it is the batch's failure, told in its state
        traceback.print_exc()
        state("failed", message=str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__)
        return 1


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train_jobs.predict", description="a batch prediction")
    parser.add_argument("--request", required=True, help="the batch's request.json: a local path or s3:// URI")
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS"), help="Ray cluster address "
                        "(default: $RAY_ADDRESS, set by `ray job submit`)")
    args = parser.parse_args(argv)
    os.nice(15)
    store_uri, _, name = args.request.rpartition("/")
    request = json.loads(open_store(store_uri).read_text(name))
    return run_batch(request, args.address)


if __name__ == "__main__":
    sys.exit(main())
