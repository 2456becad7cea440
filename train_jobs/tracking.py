"""Every job in the trackers ML engineers already watch: an MLflow run and TensorBoard event files.

The job's driver follows the job's own event stream and telemetry while the job runs and forwards
them to each tracker (:class:`Tracking`). So every trainer (timm, Hugging Face, Ultralytics, a
search's trials) is tracked one way, no training worker ever waits on a tracker, and a tracker that
cannot be reached is an event (``tracking_error``), never a failed job.

- MLflow (``MLFLOW_TRACKING_URI``, else a SQLite store in ``$VISIONTRAIN_HOME/mlflow``): one run per
  job in the experiment ``visiontrain/<owner>``, kept across restarts (its id is in the job's
  ``tracking.json``). Params: the whole TrainingConfig, flattened; metrics: each epoch's (step =
  epoch), each step's loss, the monitors' system samples (``system/...``) and the final evaluation
  (``final/...``); tags: owner, task, model, dataset, job and Ray job; the exported model as an
  MLflow ONNX model (signature, class names). A search's trials are child runs.
- TensorBoard: ``tensorboard/`` in the job's folder (a trial's in its own folder), so that
  ``tensorboard --logdir <store>/jobs`` shows every job.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Optional

from train_jobs.config import TrainingConfig, home_dir
from train_jobs.state import JobFolder
from visiontrain import Registry
from visiontrain.messages import said
from visiontrain.settings import settings

__all__ = ["TRACKERS", "Tracker", "Tracking", "flat_params", "register_tracker", "tracking_uri"]

STATE_KEY = "tracking.json"
ENDED = {"succeeded": "FINISHED", "failed": "FAILED", "stopped": "KILLED", "finished": "FINISHED",
         "stopped_early": "KILLED"}  # a job's or a trial's last state -> the run's status
FOLLOW_S = 5.0
STEP_FIELDS = ("epoch", "epochs", "step", "steps")


class Tracker(ABC):
    """One place a job's run is recorded. ``folder`` is the job's (or a trial's) folder."""

    name: ClassVar[str]

    def __init__(self, folder: JobFolder, parent: Optional["Tracker"] = None):
        self.folder, self.parent = folder, parent

    @abstractmethod
    def start(self, params: dict[str, str], tags: dict[str, str], saved: dict) -> dict:
        """Open the run (again, from ``saved``, when the job ran before); returns what to save."""

    @abstractmethod
    def log(self, metrics: dict[str, float], step: int, at: float) -> None: ...

    def log_model(self, onnx_path: str, about: dict) -> None:
        """The exported model (kept by trackers that keep models)."""

    def flush(self) -> None:
        """Make what was logged visible (called after each pass over the events)."""

    @abstractmethod
    def end(self, state: str) -> None: ...


TRACKERS: Registry[type[Tracker]] = Registry("tracker", ValueError)


def register_tracker(cls: type[Tracker]) -> type[Tracker]:
    TRACKERS.register(cls.name, cls)
    return cls


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{os.path.join(home_dir(), 'mlflow', 'mlflow.db')}"


def flat_params(value: Any, prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``: MLflow's params are flat strings."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for k, v in value.items():
            out.update(flat_params(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): "" if value is None else str(value)[:6000]}


def _without_credentials(uri: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1])) if "@" in parts.netloc else uri


def _numbers(fields: dict) -> dict[str, float]:
    return {k: float(v) for k, v in fields.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in STEP_FIELDS and k != "time"}


class Tracking:
    """Follows one job's events into the trackers ``VISIONTRAIN_TRACKERS`` names, in a thread of the
    driver: ``start()`` when the job starts, ``close(state)`` when it ends."""

    def __init__(self, cfg: TrainingConfig, job: JobFolder, tags: Optional[dict[str, str]] = None):
        self.cfg, self.job, self.tags = cfg, job, tags or {}
        self.names = [n.strip() for n in settings().trackers.split(",") if n.strip()]
        for name in [n for n in self.names if n not in TRACKERS]:
            self.names.remove(name)
            job.event("tracking_error", tracker=name, during="VISIONTRAIN_TRACKERS", error=TRACKERS.unknown_message(name),
                      **said("job.tracking_error", tracker=name, error=TRACKERS.unknown_message(name)))
        self.trackers: dict[str, Tracker] = {}
        self.trials: dict[str, dict[str, Tracker]] = {}
        self.saved = job.store.read_json(job.key(STATE_KEY)) if job.store.exists(job.key(STATE_KEY)) else {}
        self.saved.setdefault("cursors", {})
        self._lock, self._done = threading.Lock(), threading.Event()
        self._thread = threading.Thread(target=self._follow, name="tracking", daemon=True)

    def start(self) -> "Tracking":
        if self.names:
            self._thread.start()
        return self

    def close(self, state: str) -> None:
        """Forward what is left, the final metrics and the model, and end the runs with the job's final
        ``state`` (called before the job's state says so; again: nothing)."""
        if not self.names or self._done.is_set():
            return
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
        with self._lock:
            self._call("tracking", lambda: self._close(state), "the last pass")

    def _close(self, state: str) -> None:
        self._open()
        self._pass()
        final = self.job.key("metrics.json")
        if self.job.store.exists(final):
            numbers = _numbers(self.job.store.read_json(final))
            self._each(lambda t: t.log({f"final/{k}": v for k, v in numbers.items()}, 0, time.time()), "final metrics")
        if state == "succeeded" and self.job.store.exists(self.job.key("export/model.onnx")):
            self._with_model(lambda path, about: self._each(lambda t: t.log_model(path, about), "the model"))
        for trial in list(self.trials):  # trials the search left running
            self._each_trial(trial, {}, lambda t: t.end("stopped"), "the trial's end")
        self._each(lambda t: t.end(state), "the run's end")
        self._save()

    def _follow(self) -> None:
        with self._lock:
            ok = self._call("tracking", self._open, "opening the runs")
        while ok and not self._done.wait(FOLLOW_S):
            with self._lock:
                ok = self._call("tracking", self._pass, "following the job")

    def _open(self) -> None:
        if self.trackers or not self.names:
            return
        params = flat_params(self.cfg.model_dump(mode="json"))
        tags = {"visiontrain.owner": self.cfg.owner, "visiontrain.task": self.cfg.task,
                "visiontrain.model": f"{self.cfg.model.source}/{self.cfg.model.name}",
                "visiontrain.dataset": self.cfg.dataset.uri, "visiontrain.job_id": self.job.job_id, **self.tags}
        for name in self.names:
            tracker = TRACKERS.get(name)(self.job)
            if self._call(name, lambda: self.saved.update({name: tracker.start(params, tags, self.saved.get(name, {}))}),
                          "opening the run"):
                self.trackers[name] = tracker
        self._save()

    def _pass(self) -> None:
        """Forward the events and telemetry written since the last pass."""
        cursors = self.saved["cursors"]
        for ev in self.job.events(cursors.setdefault("events", {})):
            self._forward(ev)
        for key in self.job.store.logs(self.job.key("telemetry/")):
            rank = key.rsplit("rank-", 1)[-1].removesuffix(".jsonl")
            name = "system/" if rank == "0" else f"system/rank{rank}_"
            for ev in self.job.store.read_jsonl(key, cursors.setdefault(key, {})):
                if ev["kind"] == "system":
                    metrics = {f"{name}{k}": v for k, v in _numbers(ev).items() if k != "rank"}
                    self._each(lambda t: t.log(metrics, int(ev["time"] - self.saved.setdefault("t0", ev["time"])),
                                               ev["time"]), "system metrics")
        self._each(lambda t: t.flush(), "writing")
        for trial in list(self.trials):
            self._each_trial(trial, {}, lambda t: t.flush(), "writing")
        self._save()

    def _forward(self, ev: dict) -> None:
        kind, at = ev["kind"], ev["time"]
        if kind == "metrics":
            self._each(lambda t: t.log(_numbers(ev), int(ev["epoch"]), at), "epoch metrics")
        elif kind == "progress" and ev.get("steps"):
            step = (int(ev["epoch"]) - 1) * int(ev["steps"]) + int(ev["step"])
            self._each(lambda t: t.log({"step_loss": float(ev["loss"])}, step, at), "step loss")
        elif kind == "trial" and ev["state"] in ENDED:
            self._each_trial(ev["trial"], ev.get("params", {}), lambda t: t.end(ev["state"]), "the trial's end")
            self.trials.pop(ev["trial"], None)
        elif kind == "trial":
            self._each_trial(ev["trial"], ev.get("params", {}), lambda t: None, "opening the trial's run")
        elif kind == "trial_metrics":
            self._each_trial(ev["trial"], {}, lambda t: t.log(_numbers(ev), int(ev["epoch"]), at), "trial metrics")

    def _each_trial(self, trial: str, params: dict, call: Callable[[Tracker], None], what: str) -> None:
        """``call`` on the trial's tracker of each tracker still in use (a failure leaves that tracker)."""
        for name, tracker in list(self._trial(trial, params).items()):
            if name in self.trackers and not self._call(name, lambda: call(tracker), what):
                del self.trackers[name]

    def _trial(self, trial: str, params: dict) -> dict[str, Tracker]:
        from train_jobs.search import trial_folder

        if trial not in self.trials:
            self.trials[trial] = {}
            folder = trial_folder(self.job, trial)
            saved = folder.store.read_json(folder.key(STATE_KEY)) if folder.store.exists(folder.key(STATE_KEY)) else {}
            tags = {"visiontrain.owner": self.cfg.owner, "visiontrain.job_id": folder.job_id,
                    "visiontrain.trial": trial}
            values = flat_params(self.cfg.trial(params).model_dump(mode="json"))
            for name, parent in list(self.trackers.items()):
                tracker = type(parent)(folder, parent)
                if self._call(name, lambda: saved.update({name: tracker.start(values, tags, saved.get(name, {}))}),
                              "opening the trial's run"):
                    self.trials[trial][name] = tracker
                else:
                    del self.trackers[name]
            folder.store.write_json(folder.key(STATE_KEY), saved)
        return self.trials[trial]

    def _with_model(self, use: Callable[[str, dict], None]) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "model.onnx")
            self.job.store.download_file(self.job.key("export/model.onnx"), path)
            about = self.job.store.read_json(self.job.key("export/export.json"))
            use(path, about)

    def _each(self, call: Callable[[Tracker], None], what: str) -> None:
        for name, tracker in list(self.trackers.items()):
            if not self._call(name, lambda: call(tracker), what):
                del self.trackers[name]

    def _call(self, name: str, call: Callable[[], Any], what: str) -> bool:
        """Run one tracker call; a failure is an event and ends that tracker for this driver."""
        try:
            call()
            return True
        except Exception as exc:  # noqa: BLE001 - a tracker never fails the job
            reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            self.job.event("tracking_error", tracker=name, during=what, error=reason,
                           **said("job.tracking_error", tracker=name, error=reason))
            print(f"tracking: {name} failed during {what}: {reason}", flush=True)
            return False

    def _save(self) -> None:
        self.job.store.write_json(self.job.key(STATE_KEY), self.saved)


@register_tracker
class MLflowRun(Tracker):
    name = "mlflow"

    def __init__(self, folder: JobFolder, parent: Optional[Tracker] = None):
        super().__init__(folder, parent)
        # a server that does not answer: fail within seconds, not after MLflow's minutes of retries
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        from mlflow import MlflowClient

        self.uri = tracking_uri()
        self.client, self.run_id = MlflowClient(self.uri), None

    def start(self, params: dict[str, str], tags: dict[str, str], saved: dict) -> dict:
        from mlflow.entities import Param, RunTag

        if saved.get("run_id"):  # the job runs again (restarted, or its driver's next attempt)
            self.run_id = saved["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
            return saved
        parent = {"mlflow.parentRunId": self.parent.run_id} if isinstance(self.parent, MLflowRun) else {}
        run = self.client.create_run(self._experiment(tags["visiontrain.owner"]), run_name=self.folder.job_id,
                                     tags={**tags, **parent})
        self.run_id = run.info.run_id
        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params a batch
            self.client.log_batch(self.run_id, params=items[i:i + 100])
        shown = _without_credentials(self.uri)  # the job's owner reads this file
        page = f"{shown.rstrip('/')}/#/experiments/{run.info.experiment_id}/runs/{self.run_id}"
        return {"run_id": self.run_id, "experiment_id": run.info.experiment_id, "tracking_uri": shown,
                "url": page if shown.startswith(("http://", "https://")) else None}

    def _experiment(self, owner: str) -> str:
        from mlflow.exceptions import MlflowException

        name = f"visiontrain/{owner}"
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        local = None if "://" in self.uri and not self.uri.startswith("sqlite") else \
            os.path.join(home_dir(), "mlflow", "artifacts")
        try:
            return self.client.create_experiment(name, artifact_location=local)
        except MlflowException:  # another job of the same owner made it meanwhile
            return self.client.get_experiment_by_name(name).experiment_id

    def log(self, metrics: dict[str, float], step: int, at: float) -> None:
        from mlflow.entities import Metric

        if metrics:
            self.client.log_batch(self.run_id, metrics=[Metric(k, v, int(at * 1000), step) for k, v in metrics.items()])

    def log_model(self, onnx_path: str, about: dict) -> None:
        from importlib.metadata import version

        import mlflow
        import mlflow.onnx
        import numpy as np
        import onnx
        import onnxruntime as ort
        from mlflow.models import ModelSignature
        from mlflow.types import Schema, TensorSpec

        session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        fed = session.get_inputs()[0]
        sample = np.zeros([1, *about["checked_batch"][1:]], dtype=np.float32)
        outputs = session.run(None, {fed.name: sample})
        signature = ModelSignature(  # any batch size
            Schema([TensorSpec(sample.dtype, (-1, *sample.shape[1:]), fed.name)]),
            Schema([TensorSpec(o.dtype, (-1, *o.shape[1:]), meta.name)
                    for o, meta in zip(outputs, session.get_outputs())]))
        mlflow.set_tracking_uri(self.uri)
        with mlflow.start_run(run_id=self.run_id):
            mlflow.onnx.log_model(onnx.load(onnx_path), name="model", signature=signature, pip_requirements=[
                f"{p}=={version(p)}" for p in ("onnx", "onnxruntime")],  # MLflow would guess them by running a process: 4 s
                                  metadata={k: about[k] for k in ("task", "classes", "preprocessing", "threshold")
                                            if k in about})

    def end(self, state: str) -> None:
        self.client.set_terminated(self.run_id, ENDED.get(state, "FAILED"))


@register_tracker
class TensorBoardFiles(Tracker):
    name = "tensorboard"

    def start(self, params: dict[str, str], tags: dict[str, str], saved: dict) -> dict:
        from torch.utils.tensorboard import SummaryWriter

        self.local = tempfile.mkdtemp(prefix="vt-tensorboard-")
        self.writer = SummaryWriter(self.local)
        if not saved.get("config_written"):
            self.writer.add_text("config", "\n".join(f"    {k}: {v}" for k, v in sorted(params.items())))
        return {"config_written": True, "logdir": self.folder.uri("tensorboard")}

    def log(self, metrics: dict[str, float], step: int, at: float) -> None:
        for k, v in metrics.items():
            self.writer.add_scalar(k, v, step, walltime=at)
        self.written = True

    def flush(self) -> None:
        if not getattr(self, "written", True):
            return
        self.written = False
        self.writer.flush()
        for name in os.listdir(self.local):  # one events file per driver run; each copied whole
            self.folder.store.upload_file(self.folder.key(f"tensorboard/{name}"), os.path.join(self.local, name))

    def end(self, state: str) -> None:
        self.flush()
        self.writer.close()
        shutil.rmtree(self.local, ignore_errors=True)
