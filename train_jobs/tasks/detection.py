"""Object detection with Ultralytics YOLO (its own trainer inside a Ray task): mAP50, mAP50-95,
per-class AP and predictions drawn on validation images."""
from __future__ import annotations

from typing import Sequence

from train_jobs.config import TrainingConfig
from train_jobs.data.formats import read_dataset
from train_jobs.state import JobFolder
from train_jobs.tasks import ultralytics_run
from train_jobs.tasks._base import TaskTrainer, register_task

__all__ = ["DetectionTrainer"]


@register_task
class DetectionTrainer(TaskTrainer):
    task = "detection"
    metric = ("mAP50", "max")

    def check_dataset(self, cfg: TrainingConfig, path: str) -> dict:
        index = read_dataset(path, cfg.dataset.format)
        return {"format": index.format, "class_names": index.class_names, "images": len(index.samples)}

    def fit(self, cfg: TrainingConfig, job: JobFolder, callbacks: Sequence = ()) -> None:
        ultralytics_run.fit(cfg, job)

    def evaluate(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str], path: str) -> dict:
        return ultralytics_run.evaluate(cfg, job, class_names, path, masks=False)

    def export(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str]) -> dict:
        return ultralytics_run.export(cfg, job)
