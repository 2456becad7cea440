"""Tasks: their names (``TASKS``, light) and their trainers, registered by task name, or by task and
model source where a source brings its own trainer (``get_task(task, source)``, ``list_tasks``).
The built-in trainers (which import torch) load on the first ``get_task``/``list_tasks``."""
from visiontrain.tasks import TASKS, TaskSpec, register_task_spec
from train_jobs.tasks._base import TRAINERS, TaskTrainer, fit_with_ray_train, get_task, list_tasks, register_task

__all__ = ["TASKS", "TRAINERS", "TaskSpec", "TaskTrainer", "fit_with_ray_train", "get_task", "list_tasks",
           "register_task", "register_task_spec"]
