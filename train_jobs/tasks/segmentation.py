"""Segmentation. Instance: Ultralytics YOLO ``-seg`` models on polygon labels (mask mAP50,
mAP50-95, per-class AP). Semantic: per-pixel models (Hugging Face SegFormer) on mask folders over
Ray Train workers (mIoU, per-class IoU). The model's source decides which."""
from __future__ import annotations

from typing import Sequence

from train_jobs.config import TrainingConfig
from train_jobs.data.formats import read_dataset
from train_jobs.state import JobFolder
from train_jobs.tasks import semantic, ultralytics_run
from train_jobs.tasks._base import TaskTrainer, fit_with_ray_train, register_task

__all__ = ["SegmentationTrainer"]


def _instance(cfg: TrainingConfig) -> bool:
    return cfg.model.source == "ultralytics"


@register_task
class SegmentationTrainer(TaskTrainer):
    task = "segmentation"
    metric = ("val_miou", "max")

    def check_dataset(self, cfg: TrainingConfig, path: str) -> dict:
        if not _instance(cfg):
            return semantic.check_dataset(cfg, path)
        index = read_dataset(path, cfg.dataset.format)
        return {"format": index.format, "class_names": index.class_names, "images": len(index.samples)}

    def train_loop(self, loop_config: dict) -> None:
        semantic.train_loop(loop_config)

    def fit(self, cfg: TrainingConfig, job: JobFolder, callbacks: Sequence = ()) -> None:
        if _instance(cfg):
            ultralytics_run.fit(cfg, job)
        else:
            fit_with_ray_train(cfg, job, callbacks=callbacks)

    def evaluate(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str], path: str) -> dict:
        if _instance(cfg):
            return ultralytics_run.evaluate(cfg, job, class_names, path, masks=True)
        return semantic.evaluate(cfg, job, class_names, path)

    def export(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str]) -> dict:
        return ultralytics_run.export(cfg, job) if _instance(cfg) else semantic.export(cfg, job, class_names)
