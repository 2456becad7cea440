"""A succeeded job's trained model as a prediction function (what the TrainedModels deployment keeps):
the job's own config, classes and task trainer, so that it is fed exactly as its evaluation was."""
from __future__ import annotations

from typing import Callable

from train_jobs.config import config_from_yaml
from train_jobs.state import JobFolder
from train_jobs.store import open_store

__all__ = ["load_predictor"]


def load_predictor(storage_uri: str, job_id: str) -> Callable[[list[bytes]], list[dict]]:
    from train_jobs.tasks import get_task

    job = JobFolder(open_store(storage_uri), job_id)
    cfg = config_from_yaml(job.store.read_text(job.key("config.yaml")), source=job.uri("config.yaml"))
    names = job.store.read_json(job.key("metrics.json"))["class_names"]
    return get_task(cfg.task, cfg.model.source).predictor(cfg, job, names)
