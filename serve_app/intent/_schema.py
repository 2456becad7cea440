"""ParseResult: what the parser returns and what ``POST /v1/parse`` answers (ARCHITECTURE.md)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from train_jobs.config import SearchParameter

__all__ = ["DatasetMention", "Hyperparameters", "Intent", "ModelMention", "ParseResult", "Resources", "SearchMention",
           "LIMITS"]

TaskName = Literal["classification", "detection", "segmentation", "anomaly_detection"]
FormatName = Literal["imagefolder", "yolo", "coco", "voc", "mask", "mvtec"]

# The ranges a value must fall in to be taken from a message (TrainingConfig's own limits).
LIMITS = {
    "epochs": (1, 1000), "batch_size": (1, 4096), "learning_rate": (1e-8, 10.0),
    "image_size": (16, 2048), "num_workers": (1, 64), "num_classes": (1, 10000),
    "weight_decay": (0.0, 1.0), "num_trials": (1, 256),
}


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelMention(_Schema):
    source: str
    name: str


class DatasetMention(_Schema):
    uri: Optional[str] = None
    format: Optional[FormatName] = None


class Hyperparameters(_Schema):
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    learning_rate: Optional[float] = None
    image_size: Optional[int] = None


class Resources(_Schema):
    num_workers: Optional[int] = None
    use_gpu: Optional[bool] = None


class SearchMention(_Schema):
    """What to search over (TrainingConfig's search.parameters) and how many trials, when stated."""
    parameters: dict[str, SearchParameter] = Field(default_factory=dict)
    num_trials: Optional[int] = None


class Intent(_Schema):
    task: Optional[TaskName] = None
    model: Optional[ModelMention] = None
    num_classes: Optional[int] = None
    class_names: Optional[list[str]] = None
    dataset: Optional[DatasetMention] = None
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    resources: Resources = Field(default_factory=Resources)
    search: Optional[SearchMention] = None


class ParseResult(_Schema):
    status: Literal["complete", "needs_clarification", "rejected"]
    language: Literal["ko", "en"]
    intent: Intent = Field(default_factory=Intent)
    missing: list[str] = Field(default_factory=list)
    questions: list[str] = Field(default_factory=list)
