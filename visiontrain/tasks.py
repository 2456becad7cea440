"""The tasks the platform trains, by name: what the config, the parser, the routes, the CLI, the UI
and the model sources offer. The bottom layer, so every layer reads the one list without loading a
trainer (their home is train_jobs/tasks). A new task registers its spec and its trainer in its own
module (``register_task_spec``, then ``@register_task``)."""
from __future__ import annotations

from dataclasses import dataclass

from visiontrain.registry import Registry

__all__ = ["TASKS", "TaskSpec", "register_task_spec"]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    summary: str  # one line, shown where tasks are listed


TASKS: Registry[TaskSpec] = Registry("task", LookupError)


def register_task_spec(name: str, summary: str) -> TaskSpec:
    return TASKS.register(name, TaskSpec(name, summary))


register_task_spec("classification", "one label per image")
register_task_spec("detection", "boxes around objects, with their class")
register_task_spec("segmentation", "a class for every pixel (semantic), or a mask per object (instance)")
register_task_spec("anomaly_detection", "normal or not, from normal images only")
