"""Task trainers, registered by task name (``get_task``, ``list_tasks``)."""
from train_jobs.tasks._base import TaskTrainer, get_task, list_tasks, register_task
from train_jobs.tasks import classification as _classification  # noqa: F401  (registers)

__all__ = ["TaskTrainer", "get_task", "list_tasks", "register_task"]
