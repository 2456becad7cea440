"""What a task trainer provides to the job driver, and the Ray Train path most tasks share."""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Callable, ClassVar, Optional, Sequence

from train_jobs.config import TrainingConfig
from visiontrain.tasks import TASKS
from visiontrain import Registry

if TYPE_CHECKING:
    from train_jobs.data.formats import DatasetIndex
    from train_jobs.state import JobFolder

__all__ = ["TRAINERS", "TaskTrainer", "fit_with_ray_train", "get_task", "list_tasks", "register_task"]


class TaskTrainer(ABC):
    task: ClassVar[str]
    source: ClassVar[str] = ""  # "": the task's trainer for any model source; a source's name: that source's own
    metric: ClassVar[tuple[str, str]]  # the headline validation metric and its direction: best weights, search

    @abstractmethod
    def check_dataset(self, cfg: TrainingConfig, path: str) -> dict:
        """Index the (already validated) dataset at a local ``path``; returns at least ``class_names``."""

    @abstractmethod
    def fit(self, cfg: TrainingConfig, job: "JobFolder", callbacks: Sequence = ()) -> None:
        """Train on the cluster: metric events and checkpoints go to ``job``; best weights to
        ``weights/``. Called again for the same job, it resumes from the latest checkpoint.
        ``callbacks``: Ray Train callbacks (a search passes Tune's reporter)."""

    @abstractmethod
    def evaluate(self, cfg: TrainingConfig, job: "JobFolder", class_names: list[str], path: str) -> dict:
        """Final metrics of the trained weights on the validation split (written to metrics.json)."""

    @abstractmethod
    def export(self, cfg: TrainingConfig, job: "JobFolder", class_names: list[str]) -> dict:
        """Export to ``export/model.onnx``, checked in onnxruntime against PyTorch."""

    @abstractmethod
    def predictor(self, cfg: TrainingConfig, job: "JobFolder", class_names: list[str]) -> Callable[..., list[dict]]:
        """The trained weights as a function: ``(images, draw=False)``, images as file bytes -> one answer (a
        dict; with ``draw``, ``drawn`` too) per image, fed exactly as evaluation feeds them. An image that
        does not decode raises ``ImageRefused``."""

    @abstractmethod
    def batch_metrics(self, index: "DatasetIndex", answers: dict[str, dict], class_names: list[str]) -> Optional[dict]:
        """A batch prediction's ``answers`` (by image path in the dataset, as ``predictor`` gave them)
        scored against the labels ``index`` holds, as the task's evaluation reports them (with
        ``num_images``, the labelled images scored); None when no image the job can score is labelled."""


TRAINERS: Registry[TaskTrainer] = Registry("task trainer", ValueError)


BUILT_IN = ("classification", "segmentation", "anomaly", "ultralytics_run")  # modules of train_jobs.tasks


def register_task(cls: type[TaskTrainer]) -> type[TaskTrainer]:
    if cls.task not in TASKS:
        raise ValueError(TASKS.unknown_message(cls.task) + f" ({cls.__name__}: register the task's spec "
                                                           "first, with register_task_spec)")
    TRAINERS.register(f"{cls.task}/{cls.source}" if cls.source else cls.task, cls())
    return cls


def _load_built_in() -> None:
    for module in BUILT_IN:
        importlib.import_module(f"train_jobs.tasks.{module}")  # each registers its trainers once


def list_tasks() -> list[str]:
    """The tasks some trainer trains (a spec without a trainer is not listed)."""
    _load_built_in()
    return sorted({name.split("/")[0] for name in TRAINERS.names()})


def get_task(task: str, source: Optional[str] = None) -> TaskTrainer:
    """The trainer for ``task`` and a model ``source``: the source's own where it registered one (the
    Ultralytics trainer), else the task's. Without a source, a task only one source trains gets that one."""
    _load_built_in()
    if source and f"{task}/{source}" in TRAINERS:
        return TRAINERS.get(f"{task}/{source}")
    only = TRAINERS.names(f"{task}/*")
    if task not in TRAINERS and source is None and len(only) == 1:
        return TRAINERS.get(only[0])
    return TRAINERS.get(task)


def _train_loop(loop_config: dict) -> None:
    cfg = loop_config["config"]
    get_task(cfg["task"], cfg["model"]["source"]).train_loop(loop_config)


def fit_with_ray_train(cfg: TrainingConfig, job: "JobFolder", loop: Callable[[dict], None] = _train_loop,
                       callbacks: Sequence = ()) -> None:
    """Run ``loop`` (by default the task's ``train_loop``) on N Ray Train workers; checkpoints under
    the job's folder. Rerunning with the same run name and storage resumes from the latest checkpoint."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from train_jobs.failures import FailureEvents

    r = cfg.resources
    per_worker = {"CPU": r.cpus_per_worker, **({"GPU": r.gpus_per_worker} if r.use_gpu else {})}
    fs, storage = job.pyarrow_location()
    TorchTrainer(
        loop,
        train_loop_config={"config": cfg.model_dump(mode="json")},
        scaling_config=ScalingConfig(num_workers=r.num_workers, use_gpu=r.use_gpu, resources_per_worker=per_worker,
                                     label_selector=dict(r.node_labels) or None),
        run_config=RunConfig(
            name="train",
            storage_path=storage,
            storage_filesystem=fs,
            failure_config=FailureConfig(max_failures=r.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            callbacks=[FailureEvents(cfg.storage.uri, cfg.job_id, r.max_failures), *callbacks],
        ),
    ).fit()
