"""ParseResult: what the parser returns and what ``POST /v1/parse`` answers (ARCHITECTURE.md)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from train_jobs.config import FormatName, SearchParameter, TaskName
from train_jobs.config import Hyperparameters as _Hyper, Resources as _Res, Search as _Search

__all__ = ["DatasetMention", "Hyperparameters", "Intent", "ModelMention", "ParseResult", "Resources", "SearchMention",
           "LIMITS"]



def _bounds(model: type[BaseModel], name: str) -> tuple[float, float]:
    """The inclusive range TrainingConfig allows for one field (a ``gt`` bound becomes a tiny step above)."""
    low, high = None, None
    for m in model.model_fields[name].metadata:
        low = getattr(m, "ge", None) if getattr(m, "ge", None) is not None else low
        low = m.gt + 1e-8 if getattr(m, "gt", None) is not None else low
        high = getattr(m, "le", None) if getattr(m, "le", None) is not None else high
    return low, high


# The ranges a value must fall in to be taken from a message: TrainingConfig's own limits.
LIMITS = {
    **{n: _bounds(_Hyper, n) for n in ("epochs", "batch_size", "learning_rate", "image_size", "weight_decay")},
    "num_workers": _bounds(_Res, "num_workers"), "num_classes": (1, 10000),
    "num_trials": _bounds(_Search, "num_trials"),
}


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelMention(_Schema):
    source: str
    name: str
    instead_of: Optional[str] = Field(None, description="the architecture the user named, which the platform does "
                                                        "not have; this model is the closest it has")


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
    pretrained: Optional[bool] = Field(None, description="true: start from pretrained weights; false: from scratch; "
                                                         "null: not said (the plan decides)")
    from_job: Optional[str] = Field(None, description="start from this earlier job's weights: its id, or 'latest' "
                                                      "for the user's newest succeeded job")
    continue_training: Optional[bool] = Field(None, description="true: carry on from_job's training (its data, "
                                                                "settings and optimizer state) for "
                                                                "hyperparameters.epochs more epochs")
    try_on_images: Optional[str] = Field(None, description="no training: this job's model (its id, or 'latest' for "
                                                           "the user's newest succeeded job) answers the images "
                                                           "attached to this message")
    command: Optional[Literal["status", "jobs", "stop", "restart", "results", "compare", "best", "explain", "models",
                              "recommend"]] = Field(
        None, description="no training: a command on a job (its progress, the user's jobs, stop it, run a failed or "
                          "stopped one again, its results), on the user's jobs (compare: the newest two ended ones "
                          "side by side; best: which of their succeeded jobs scored best), a question about models (models: what the ones named are "
                          "and how they differ; recommend: which to use for the task) "
                          "or a question about the plan (explain: why a value was chosen)")
    job: Optional[str] = Field(None, description="the job a command is about: its id, 'latest', or null for the one "
                                                 "the conversation is about")
    about: Optional[str] = Field(None, description="explain: the plan's field asked about, e.g. "
                                                   "hyperparameters.batch_size")
    models: Optional[list[str]] = Field(None, max_length=4, description="models: the models asked about, as "
                                                                          "source/name (timm/resnet50)")
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
