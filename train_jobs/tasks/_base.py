"""What a task trainer provides to the job driver."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from train_jobs.config import TASKS, TrainingConfig

__all__ = ["TaskTrainer", "get_task", "list_tasks", "register_task"]

_TASKS: dict[str, "TaskTrainer"] = {}


class TaskTrainer(ABC):
    task: ClassVar[str]

    @abstractmethod
    def check_dataset(self, cfg: TrainingConfig, path: str) -> dict:
        """Index and check the dataset at a local ``path``; returns a summary with ``class_names``.
        Raises ``DatasetError`` when the job cannot train on it."""

    @abstractmethod
    def train_loop(self, loop_config: dict) -> None:
        """The per-worker loop run by Ray Train (``loop_config`` holds the config as a dict)."""

    @abstractmethod
    def build_model(self, cfg: TrainingConfig, num_classes: int) -> Any:
        """The model as trained and exported (preprocessing included)."""

    @abstractmethod
    def evaluate(self, cfg: TrainingConfig, model: Any, path: str, class_names: list[str]) -> dict:
        """Final metrics of a trained model on the validation split."""

    @abstractmethod
    def sample_input(self, cfg: TrainingConfig, batch: int = 2) -> Any:
        """An input batch for export checks."""


def register_task(cls: type[TaskTrainer]) -> type[TaskTrainer]:
    if cls.task not in TASKS:
        raise ValueError(f"unknown task {cls.task!r}; tasks are {TASKS}")
    _TASKS[cls.task] = cls()
    return cls


def list_tasks() -> list[str]:
    return sorted(_TASKS)


def get_task(task: str) -> TaskTrainer:
    if task not in _TASKS:
        raise ValueError(f"no trainer for task {task!r} yet; trainers exist for: {', '.join(list_tasks())}")
    return _TASKS[task]
