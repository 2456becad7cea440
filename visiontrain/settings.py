"""Every ``VISIONTRAIN_*`` environment variable, in one pydantic-settings model. Code reads them
through ``settings()`` (read when called, so a test or a process that sets a variable sees it);
``docs/settings.md`` is generated from this model (``python -m visiontrain.settings``)."""
from __future__ import annotations

import functools
import os
from typing import Literal, Optional

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from visiontrain.errors import VisiontrainError

__all__ = ["Settings", "SettingsError", "markdown_table", "settings"]

PREFIX = "VISIONTRAIN_"


class SettingsError(VisiontrainError, ValueError):
    """A ``VISIONTRAIN_*`` variable with a value that cannot be used."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True)

    # where things live
    home: Optional[str] = Field(None, description="records, secrets, local artifacts and the local cluster's "
                                "state (default ~/.visiontrain; kept 0700)")
    database_url: Optional[str] = Field(None, description="the records database (SQLAlchemy URL, e.g. "
                                        "postgresql+psycopg://...); default SQLite in the home folder")
    weights_dir: Optional[str] = Field(None, description="local pretrained weights of Ultralytics models (NAME.pt); default "
                                       "HOME/weights")
    data_cache: Optional[str] = Field(None, description="a node's cache of datasets fetched from S3; default "
                                      "TMP/visiontrain-data")
    data_cache_bytes: int = Field(50 << 30, ge=0, description="the data cache's size bound (least recently used "
                                  "datasets go first)")
    # accounts and secrets
    jwt_secret: Optional[str] = Field(None, description="the key that signs tokens; default a key kept in "
                                      "HOME/jwt_secret")
    admin_user: Optional[str] = Field(None, description="the first admin, created once at the first start")
    admin_password: Optional[str] = Field(None, description="the first admin's password")
    metrics_token: Optional[str] = Field(None, description="a bearer token Prometheus sends to /metrics")
    training_ray_token: Optional[str] = Field(None, description="the training cluster's Ray token, when it is not "
                                              "the API's own cluster")
    # limits
    requests_per_minute: int = Field(600, ge=1, description="API requests a user may make a minute")
    logins_per_minute: int = Field(10, ge=1, description="logins a minute per username")
    login_failures_per_minute: int = Field(30, ge=1, description="failed logins and refreshes a minute per "
                                           "client address")
    models_per_replica: int = Field(4, ge=1, description="trained models each TrainedModels replica keeps loaded "
                                                         "(the least recently used goes first)")
    predict_gpus: Optional[float] = Field(None, ge=0, description="GPUs each TrainedModels replica and each "
                                          "batch prediction actor asks for; default 1 where the cluster has GPUs "
                                          "(for a batch: or may add them), else 0. Set it for a KubeRay API "
                                          "cluster with GPU workers")
    max_active_jobs: int = Field(2, ge=1, description="jobs a non-admin user may have queued or running")
    max_gpus: float = Field(4.0, ge=0, description="GPUs a non-admin user's running jobs may hold")
    stream_keepalive_s: float = Field(15.0, gt=0, description="seconds between keep-alive comments on an "
                                      "event stream")
    stream_max_s: float = Field(3600.0, gt=0, description="an event stream ends after this long")
    ingest_max_total_bytes: int = Field(8 << 30, ge=1, description="an upload's expanded size")
    ingest_max_member_bytes: int = Field(1 << 30, ge=1, description="one file's size in an upload")
    ingest_max_files: int = Field(200_000, ge=1, description="files in an upload")
    ingest_max_compression_ratio: float = Field(200.0, gt=1, description="expanded size / archive size")
    ingest_max_path_depth: int = Field(32, ge=1, description="folders deep in an upload")
    s3_max_attempts: int = Field(8, ge=1, le=50, description="tries of one S3 request (boto3 standard retries)")
    # where things run
    user_s3_prefixes: str = Field("", description="comma-separated s3:// folders non-admins may train from")
    worker_types: Optional[str] = Field(None, description="the training cluster's worker types as JSON, for a "
                                        "separate training cluster")
    offline: bool = Field(False, description="never download pretrained weights: the weights cache is filled by "
                          "hand (`visiontrain weights add`); HF_HUB_OFFLINE=1 does the same")
    parser: Literal["auto", "offline"] = Field("auto", description="auto: Claude when ANTHROPIC_API_KEY is set; "
                                                 "offline: the offline parser always")
    claude_model: str = Field("claude-sonnet-4-5", description="the Claude model the parser calls")
    llm_timeout_s: float = Field(10.0, gt=0, description="seconds the parser waits for Claude before reading "
                                 "offline")
    trackers: str = Field("mlflow,tensorboard", description="where every job's params, metrics and model are also "
                          "recorded, comma-separated (mlflow: MLFLOW_TRACKING_URI, default a SQLite store in "
                          "HOME/mlflow; tensorboard: files in the job's folder); empty for none")
    # the command line
    api_url: Optional[str] = Field(None, description="the API the CLI and the UI talk to (default: the last "
                                   "login's, else http://127.0.0.1:8000)")
    user: Optional[str] = Field(None, description="`visiontrain login`'s user")
    password: Optional[str] = Field(None, description="`visiontrain login`'s password")
    new_password: Optional[str] = Field(None, description="`visiontrain users add`'s password")

    @property
    def home_path(self) -> str:
        return os.path.abspath(os.path.expanduser(self.home or "~/.visiontrain"))


def settings() -> Settings:
    """The variables as they are now (parsed again only when one of them changed)."""
    return _parsed(tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(PREFIX))))


@functools.lru_cache(maxsize=8)
def _parsed(_variables: tuple) -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            name = PREFIX + str(e["loc"][0]).upper()
            problems.append(f"{name}={e.get('input')!r}: {e['msg'].removeprefix('Value error, ')}")
        raise SettingsError("; ".join(problems) + ". Set each to an allowed value, or unset it for its default "
                            "(docs/settings.md lists them)") from None


def markdown_table() -> str:
    rows = ["| variable | default | what it sets |", "|---|---|---|"]
    for name, f in Settings.model_fields.items():
        default = "" if f.default in (None, "") else f"`{f.default}`"
        rows.append(f"| `{PREFIX}{name.upper()}` | {default} | {f.description} |")
    return "\n".join(rows) + "\n"

