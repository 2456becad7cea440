"""Segmentation. Instance segmentation with Ultralytics YOLO ``-seg`` models on polygon labels
(mask mAP50, mAP50-95, per-class AP). Semantic segmentation (mask folders, SegFormer) is not
available yet and is refused with a way forward."""
from __future__ import annotations

from adapters import AdapterError
from train_jobs.config import TrainingConfig
from train_jobs.data.formats import read_dataset
from train_jobs.state import JobFolder
from train_jobs.tasks import ultralytics_run
from train_jobs.tasks._base import TaskTrainer, register_task

__all__ = ["SegmentationTrainer"]


def _instance_only(cfg: TrainingConfig) -> None:
    if cfg.model.source != "ultralytics":
        raise AdapterError(
            f"segmentation with {cfg.model.source}/{cfg.model.name} (semantic, from mask folders) is not available "
            "yet; use an Ultralytics -seg model (for example yolov8n-seg) with YOLO polygon labels")


@register_task
class SegmentationTrainer(TaskTrainer):
    task = "segmentation"

    def check_dataset(self, cfg: TrainingConfig, path: str) -> dict:
        _instance_only(cfg)
        index = read_dataset(path, cfg.dataset.format)
        return {"format": index.format, "class_names": index.class_names, "images": len(index.samples)}

    def fit(self, cfg: TrainingConfig, job: JobFolder) -> None:
        _instance_only(cfg)
        ultralytics_run.fit(cfg, job)

    def evaluate(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str], path: str) -> dict:
        return ultralytics_run.evaluate(cfg, job, class_names, path, masks=True)

    def export(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str]) -> dict:
        return ultralytics_run.export(cfg, job)
