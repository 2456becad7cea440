"""TrainingConfig: the one schema for a training run (YAML, REST and CLI all use it)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import math
from typing import Annotated, Literal, Optional, Union

import yaml
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError,
                      field_validator, model_validator)
from visiontrain.errors import VisiontrainError
from visiontrain.settings import settings as env_settings
from visiontrain.tasks import TASKS

__all__ = [
    "SEARCHABLE",
    "TRIAL",
    "ConfigError",
    "FormatName",
    "TaskName",
    "Search",
    "SearchParameter",
    "TrainingConfig",
    "config_from_yaml",
    "config_from_dict",
    "default_storage_uri",
    "home_dir",
]


def _registered_task(name: str) -> str:
    if name not in TASKS:
        raise ValueError(TASKS.unknown_message(name))
    return name


TaskName = Annotated[str, AfterValidator(_registered_task)]
_JOB_ID = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")
TRIAL = "--"  # a search's trial tNN runs as job "<job>--tNN", kept inside its job's folder: jobs/<job>/trials/tNN/
_TRIAL = re.compile(r"^t[0-9]{2,3}$")


class ConfigError(VisiontrainError, ValueError):
    """A config that cannot be used; the message names each bad field and what is allowed."""


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _registered_source(name: str) -> str:
    from adapters import SOURCES  # the adapters register themselves there

    if name not in SOURCES:
        raise ValueError(SOURCES.unknown_message(name))
    return name


class ModelRef(_Schema):
    source: Annotated[str, AfterValidator(_registered_source)] = "timm"
    name: str
    pretrained: bool = Field(False, description="start from the model's pretrained weights (the platform's "
                                                "weights cache, filled from the model's hub)")
    from_job: Optional[str] = Field(None, description="start from this succeeded job's best weights (its head "
                                                      "too when the classes are the same)")
    continue_training: bool = Field(False, description="with from_job: carry on that job's training (its last "
                                                       "weights and optimizer state) for hyperparameters.epochs more")
    freeze_backbone_epochs: int = Field(0, ge=0, description="train only the head for this many epochs first (the "
                                                             "backbone's learning rate is 0), then the whole model")
    weights: Optional[str] = Field(None, description="a weights file on the server (admins)")

    @field_validator("from_job")
    @classmethod
    def _a_job_id(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not _JOB_ID.match(v):
            raise ValueError("give the id of one of your succeeded jobs (GET /v1/jobs lists them)")
        return v

    @model_validator(mode="after")
    def _continues_a_job(self) -> "ModelRef":
        if self.continue_training and not self.from_job:
            raise ValueError("continue_training carries on an earlier job: name it in model.from_job, or set "
                             "continue_training: false")
        from adapters import get_adapter

        if (get_adapter(self.source).cache_files(self.name) and "pretrained" in self.model_fields_set
                and not (self.pretrained or self.from_job or self.weights)):
            raise ValueError(f"{self.source}/{self.name} is built from its files on the Hub (its config and weights, "
                             "kept in the platform's weights cache), so it cannot train from scratch: leave "
                             "model.pretrained out or set it true")
        if self.continue_training and self.source == "ultralytics":
            raise ValueError("continue_training: Ultralytics models restart their own optimizer; fine-tune from the "
                             "job's best weights instead (model.from_job alone)")
        return self


DATASET_ID = re.compile(r"^ds-[0-9a-f]{64}$")  # the SHA-256 of the stored files (data/versions.py)


def _absolute_location(v: str, field: str) -> str:
    if v.startswith("s3://") or os.path.isabs(os.path.expanduser(v)):
        return v if v.startswith("s3://") else os.path.expanduser(v)
    raise ValueError(
        f"{field} must be an absolute folder or s3://bucket/prefix, because the job runs in "
        "another working folder; write the absolute path, or give an s3:// URI"
    )


def home_dir() -> str:
    """``$VISIONTRAIN_HOME`` (default ``~/.visiontrain``): records, secrets and local artifacts. Made,
    and kept, readable by its owner only."""
    home = env_settings().home_path
    os.makedirs(home, mode=0o700, exist_ok=True)
    if os.stat(home).st_mode & 0o077 and os.stat(home).st_uid == os.getuid():
        os.chmod(home, 0o700)
    return home


def default_storage_uri() -> str:
    return os.path.join(home_dir(), "artifacts")


def _registered_format(name: str) -> str:
    from train_jobs.data.formats import FORMATS  # the formats register themselves there

    if name not in FORMATS:
        raise ValueError(FORMATS.unknown_message(name) + ". Or leave format out: it is detected")
    return name


FormatName = Annotated[str, AfterValidator(_registered_format)]


class DatasetRef(_Schema):
    uri: str = Field(description="an uploaded dataset id (ds-...), an absolute folder or s3://bucket/prefix")
    format: Optional[FormatName] = None
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="used when the dataset has no val split")
    split_seed: int = 0

    @field_validator("uri")
    @classmethod
    def _absolute(cls, v: str) -> str:
        return v if DATASET_ID.match(v) else _absolute_location(v, "the dataset location")


class Hyperparameters(_Schema):
    epochs: int = Field(10, ge=1, le=1000)
    batch_size: int = Field(32, ge=1, le=4096)
    learning_rate: float = Field(1e-3, gt=0.0, le=10.0)
    weight_decay: float = Field(1e-4, ge=0.0, le=1.0)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    image_size: int = Field(224, ge=16, le=2048)
    seed: int = 0
    compile: bool = Field(False, description="torch.compile the model (PyTorch tasks): faster steps once the first "
                          "has compiled (its time is the job's compiled event); pays off on long runs, mostly on GPUs")
    class_weights: Literal["none", "balanced"] = Field(
        "none", description="classification: balanced weighs each class's loss by the inverse of its share of the "
        "train images, so that a rare class counts as much as a common one (for imbalanced data)")


class Augmentation(_Schema):
    horizontal_flip: bool = True
    random_resized_crop: bool = False
    color_jitter: float = Field(0.0, ge=0.0, le=1.0)


Label = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_./]{0,61}[A-Za-z0-9])?$")]


class Resources(_Schema):
    num_workers: int = Field(1, ge=1, le=256)
    use_gpu: bool = False
    gpus_per_worker: float = Field(1.0, gt=0.0, le=8.0)
    cpus_per_worker: float = Field(1.0, gt=0.0, le=128.0)
    loader_workers: Optional[int] = Field(None, ge=0, le=64, description="processes per training worker that decode "
                                          "and augment images beside the training step; null = from its CPUs (all "
                                          "but one on a GPU, one per four CPUs otherwise)")
    max_failures: int = Field(2, ge=0, le=100, description="times a failed worker group (a worker or its node "
                              "lost) is restarted from the last complete checkpoint before the run fails")
    driver_attempts: int = Field(3, ge=1, le=10, description="times the job service runs the job's driver: one "
                                 "that dies is resubmitted and resumes from the last complete checkpoint")
    node_labels: dict[Label, Label] = Field(default_factory=dict, description="run training workers only on nodes "
                                        "with these Ray labels (for example a node pool)")


class EarlyStopping(_Schema):
    patience: Optional[int] = Field(None, ge=1, description="epochs without improvement before stopping; null = off")
    metric: Optional[str] = Field(None, description="null = the task's headline metric (val_accuracy, val_miou, ...)")
    mode: Optional[Literal["max", "min"]] = Field(None, description="null = the metric's natural direction")
    min_delta: float = Field(0.0, ge=0.0)


class AnomalyOptions(_Schema):
    """How anomaly detection learns "normal": ``autoencoder`` trains from scratch on normal images
    (reconstruction error); ``patchcore`` keeps a memory bank of the backbone's patch features
    (best with pretrained weights, see model.weights)."""
    method: Literal["autoencoder", "patchcore"] = "autoencoder"
    memory_bank_size: int = Field(2000, ge=100, le=200_000, description="patchcore: patch features kept")


class MonitorOptions(_Schema):
    """The monitoring actor beside each training worker (see train_jobs/monitor.py)."""
    enabled: bool = True
    sample_interval_s: float = Field(5.0, ge=0.5, le=600.0, description="system samples and status writes")
    stall_timeout_s: float = Field(900.0, ge=5.0, le=86_400.0,
                                   description="a worker silent this long (no step, no heartbeat) is stalled")
    startup_timeout_s: float = Field(900.0, ge=5.0, le=86_400.0,
                                     description="before its first step (data, model, compile), a worker is stalled "
                                                 "after this long or stall_timeout_s, whichever is longer")
    stall_action: Literal["wait", "restart", "stop"] = Field(
        "wait", description="wait: report only; restart: kill the worker so Ray Train restarts the group "
                            "from the last checkpoint (needs resources.max_failures > 0); stop: end the job")
    patterns: list[str] = Field(default_factory=list, description="extra regexes with named groups, "
                                "read from a user script's output: (?P<top1>[0-9.]+) gives metric top1")

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                if not re.compile(p).groupindex:
                    raise ValueError(f"pattern {p!r} has no named group; name the value, e.g. (?P<loss>[0-9.]+)")
            except re.error as exc:
                raise ValueError(f"pattern {p!r} is not a regular expression: {exc}") from None
        return v


class ScriptSpec(_Schema):
    """The user's own training script, run on every worker instead of the task's built-in trainer.
    Its output is read by the monitor (metric-looking lines become metrics, see MonitorOptions.patterns).
    It gets VISIONTRAIN_DATASET (a local folder), VISIONTRAIN_OUTPUT_DIR (uploaded to the job's
    outputs/ at the end), VISIONTRAIN_RANK and VISIONTRAIN_WORLD_SIZE in its environment."""
    path: str = Field(description="absolute path or s3:// URI of a .py file")
    args: list[str] = Field(default_factory=list, max_length=256)

    @field_validator("path")
    @classmethod
    def _python_file(cls, v: str) -> str:
        v = _absolute_location(v, "the script location")
        if not v.endswith(".py"):
            raise ValueError("the script must be a .py file; give the path of the training script itself")
        return v


SEARCHABLE = ("learning_rate", "weight_decay", "batch_size", "image_size", "epochs", "optimizer", "model")


class SearchParameter(_Schema):
    """One searched value: ``values`` (every one is tried) or a range ``low``..``high`` sampled per trial
    (``log: true`` samples evenly in orders of magnitude, the usual choice for learning rates)."""
    values: Optional[list[Union[int, float, str]]] = Field(None, min_length=1, max_length=32)
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> "SearchParameter":
        if (self.values is None) == (self.low is None or self.high is None):
            raise ValueError("give either values: [...] or both low and high")
        if self.values is None and not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.values is None and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self

    def bounds(self) -> list:
        return list(self.values) if self.values is not None else [self.low, self.high]


class Search(_Schema):
    """A hyperparameter search with Ray Tune: ``num_trials`` runs of the config, each with its own values
    of ``parameters``, up to ``max_concurrent_trials`` at a time; ASHA stops weak trials early. The best
    trial's model is evaluated and exported like a single run's."""
    parameters: dict[str, SearchParameter] = Field(min_length=1, description=f"names among {SEARCHABLE}")
    num_trials: Optional[int] = Field(None, ge=1, le=256, description="null = every combination of the values "
                                      "once, or 4 trials when a range is searched")
    max_concurrent_trials: int = Field(2, ge=1, le=64)
    metric: Optional[str] = Field(None, description="null = early_stopping.metric, else the task's headline metric")
    mode: Optional[Literal["max", "min"]] = None
    scheduler: Literal["asha", "none"] = "asha"
    grace_period: int = Field(1, ge=1, description="ASHA: epochs every trial runs before it may be stopped")
    reduction_factor: int = Field(2, ge=2, le=8, description="ASHA: keep about 1/reduction_factor at each rung")
    seed: int = 0

    @field_validator("parameters")
    @classmethod
    def _known(cls, v: dict) -> dict:
        unknown = sorted(set(v) - set(SEARCHABLE))
        if unknown:
            raise ValueError(f"cannot search over {unknown}; searchable: {', '.join(SEARCHABLE)}")
        return v

    def combinations(self) -> int:
        return math.prod(len(p.values) for p in self.parameters.values() if p.values is not None)

    def has_range(self) -> bool:
        return any(p.values is None for p in self.parameters.values())


class Storage(_Schema):
    uri: str = Field(default_factory=default_storage_uri, description="absolute folder or s3://bucket/prefix")

    @field_validator("uri")
    @classmethod
    def _absolute(cls, v: str) -> str:
        return _absolute_location(v.rstrip("/"), "the storage location")


class TrainingConfig(_Schema):
    job_id: Optional[str] = Field(None, description="names the run's folder; rerunning an id resumes it")
    owner: str = "local"
    task: TaskName
    model: ModelRef
    dataset: DatasetRef
    class_names: Optional[list[str]] = None
    hyperparameters: Hyperparameters = Hyperparameters()
    augmentation: Augmentation = Augmentation()
    resources: Resources = Resources()
    early_stopping: EarlyStopping = EarlyStopping()
    anomaly: AnomalyOptions = AnomalyOptions()
    monitor: MonitorOptions = MonitorOptions()
    script: Optional[ScriptSpec] = None
    search: Optional[Search] = None
    storage: Storage = Field(default_factory=Storage)

    @field_validator("job_id")
    @classmethod
    def _job_id_shape(cls, v: Optional[str]) -> Optional[str]:
        base, sep, trial = (v or "").partition(TRIAL)
        if v is not None and (not _JOB_ID.match(base) or (sep and not _TRIAL.match(trial))):
            raise ValueError("use 3-63 lowercase letters, digits and single '-', starting and ending with a letter "
                             "or digit")
        return v

    @field_validator("class_names")
    @classmethod
    def _unique_classes(cls, v: Optional[list[str]]) -> Optional[list[str]]:
        if v is not None:
            if len(v) < 2:
                raise ValueError("give at least two class names")
            if len(set(v)) != len(v):
                raise ValueError(f"class names repeat: {sorted({c for c in v if v.count(c) > 1})}")
        return v

    @model_validator(mode="after")
    def _backbone_trains(self) -> "TrainingConfig":
        frozen, epochs = self.model.freeze_backbone_epochs, self.hyperparameters.epochs
        if frozen and frozen >= epochs:
            raise ValueError(f"model.freeze_backbone_epochs {frozen} leaves no epoch of the {epochs} to train the "
                             f"whole model; use fewer than {epochs}, or raise hyperparameters.epochs")
        return self

    @model_validator(mode="after")
    def _class_weights_fit(self) -> "TrainingConfig":
        if self.hyperparameters.class_weights != "none" and (self.task != "classification" or self.script):
            raise ValueError(f"hyperparameters.class_weights {self.hyperparameters.class_weights!r} is for the "
                             f"classification trainer; this is a {self.task} job" + (" with its own script" if self.script
                                                                                     else "") +
                             ". Leave it out (or 'none'), or add images of the rare classes")
        return self

    @model_validator(mode="after")
    def _search_fits(self) -> "TrainingConfig":
        if self.search is None:
            return self
        if self.script is not None or self.model.source == "ultralytics":
            raise ValueError("search runs trials through the platform's Ray Train trainers; ultralytics models and "
                             "own scripts train with their own loop. Remove search, or pick a timm/huggingface model")
        s, grid = self.search, self.search.combinations()
        if s.num_trials is None:
            s.num_trials = grid * (math.ceil(4 / grid) if s.has_range() else 1)
        elif s.num_trials % grid:
            lower, upper = (s.num_trials // grid) * grid, (s.num_trials // grid + 1) * grid
            raise ValueError(f"search.num_trials {s.num_trials} is not a multiple of the {grid} combinations of the "
                             f"listed values (each is tried equally often); use {upper}"
                             + (f" or {lower}" if lower else ""))
        for name, p in s.parameters.items():
            if name != "model":
                for value in p.bounds():
                    self.trial({name: value})
        return self

    def trial(self, params: dict) -> "TrainingConfig":
        """This config with one trial's values put in (``model`` is a model name of the same source)."""
        data = self.model_dump(mode="json", exclude={"search"})
        for name, value in params.items():
            if name == "model":
                data["model"]["name"] = value
            else:
                data["hyperparameters"][name] = value
        try:
            return TrainingConfig.model_validate(data)
        except ValidationError as exc:
            bad = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"search values {params} make an invalid config ({bad}); narrow the search") from None

    @model_validator(mode="after")
    def _default_job_id(self) -> "TrainingConfig":
        if self.job_id is None:
            body = self.model_dump(mode="json", exclude={"job_id"})
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]
            self.job_id = f"{self.task.replace('_', '-')}-{digest}"
        return self

    def to_yaml(self) -> str:
        # libyaml's emitter: PyYAML's own took 4 ms of the API's time per submitted job
        return yaml.dump(self.model_dump(mode="json"), Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
                         sort_keys=False, allow_unicode=True)


def _describe(err: dict) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        parent = _field_owner(err["loc"][:-1])
        allowed = ", ".join(parent.model_fields) if parent else "see TrainingConfig"
        return f"{where}: unknown field. Allowed here: {allowed}"
    if not err["loc"]:
        return f"{where}: {err['msg'].removeprefix('Value error, ')}"
    if err["type"] == "missing":
        return f"{where}: required field is missing"
    got = json.dumps(err.get("input"), default=str, ensure_ascii=False)
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {msg} (got {got})"


def _field_owner(loc: tuple) -> Optional[type[BaseModel]]:
    model: type[BaseModel] = TrainingConfig
    for part in loc:
        field = model.model_fields.get(str(part)) if isinstance(part, str) else None
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def config_from_dict(data: object, source: str = "config") -> TrainingConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of fields, got {type(data).__name__}")
    try:
        return TrainingConfig.model_validate(data)
    except ValidationError as exc:
        lines = "\n".join(f"  - {_describe(e)}" for e in exc.errors())
        raise ConfigError(
            f"{source} is not a valid TrainingConfig ({exc.error_count()} problem(s)):\n{lines}\n"
            "Fix the fields above in the file, or leave a field out to use its default."
        ) from None


def config_from_yaml(text: str, source: str = "config") -> TrainingConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from None
    return config_from_dict(data, source)
