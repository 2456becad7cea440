"""Task trainers, registered by task name, or by task and model source where a source brings its own
trainer (``get_task(task, source)``, ``list_tasks``)."""
from train_jobs.tasks._base import TRAINERS, TaskTrainer, fit_with_ray_train, get_task, list_tasks, register_task
from train_jobs.tasks import classification as _classification  # noqa: F401  (registers)
from train_jobs.tasks import segmentation as _segmentation  # noqa: F401
from train_jobs.tasks import anomaly as _anomaly  # noqa: F401
from train_jobs.tasks import ultralytics_run as _ultralytics  # noqa: F401  (detection and instance segmentation)

__all__ = ["TRAINERS", "TaskTrainer", "fit_with_ray_train", "get_task", "list_tasks", "register_task"]
