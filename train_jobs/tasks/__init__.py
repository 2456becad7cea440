"""Task trainers, registered by task name (``get_task``, ``list_tasks``)."""
from train_jobs.tasks._base import TaskTrainer, fit_with_ray_train, get_task, list_tasks, register_task
from train_jobs.tasks import classification as _classification  # noqa: F401  (registers)
from train_jobs.tasks import detection as _detection  # noqa: F401
from train_jobs.tasks import segmentation as _segmentation  # noqa: F401
from train_jobs.tasks import anomaly as _anomaly  # noqa: F401

__all__ = ["TaskTrainer", "fit_with_ray_train", "get_task", "list_tasks", "register_task"]
