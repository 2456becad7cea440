"""Semantic segmentation: per-pixel models (Hugging Face SegFormer) on mask folders over Ray Train
workers (mIoU, per-class IoU). Instance segmentation (Ultralytics ``-seg`` models on polygon labels)
is the ultralytics source's own trainer, in ``ultralytics_run``: the model's source decides which."""
from __future__ import annotations

from typing import Sequence

from train_jobs.config import TrainingConfig
from train_jobs.state import JobFolder
from train_jobs.tasks import semantic
from train_jobs.tasks._base import TaskTrainer, fit_with_ray_train, register_task

__all__ = ["SegmentationTrainer"]


@register_task
class SegmentationTrainer(TaskTrainer):
    task = "segmentation"
    metric = ("val_miou", "max")

    def check_dataset(self, cfg: TrainingConfig, path: str) -> dict:
        return semantic.check_dataset(cfg, path)

    def train_loop(self, loop_config: dict) -> None:
        semantic.train_loop(loop_config)

    def fit(self, cfg: TrainingConfig, job: JobFolder, callbacks: Sequence = ()) -> None:
        fit_with_ray_train(cfg, job, callbacks=callbacks)

    def evaluate(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str], path: str) -> dict:
        return semantic.evaluate(cfg, job, class_names, path)

    def export(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str]) -> dict:
        return semantic.export(cfg, job, class_names)

    def predictor(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str]):
        return semantic.predictor(cfg, job, class_names)

    def batch_metrics(self, index, answers: dict[str, dict], class_names: list[str]):
        return semantic.batch_metrics(index, answers, class_names)
