"""What every task's loop does inside a Ray Train worker: devices, checkpoints, metrics, early stop."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from typing import Any, Optional

import torch

from train_jobs.config import TrainingConfig
from train_jobs.loading import compute_threads
from train_jobs.state import JobFolder
from train_jobs.store import file_sha256, open_store
from visiontrain.errors import VisiontrainError
from visiontrain.messages import said

__all__ = ["CheckpointCorrupt", "EarlyStopper", "WorkerSession", "cpu_state_dict", "load_tensors", "save_tensors",
           "unwrap"]

STATE_FILE, MANIFEST = "state.pt", "manifest.json"


class CheckpointCorrupt(VisiontrainError, RuntimeError):
    """A checkpoint that was not completed, or holds more than tensors and numbers: never used."""


def _plain(obj: Any) -> Any:
    """Tensors, numbers, strings and containers of them only (numpy values become Python ones)."""
    import numpy as np

    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def save_tensors(obj: Any, path: str) -> None:
    """Save state (tensors, numbers, strings, containers) so that ``load_tensors`` can read it."""
    torch.save(_plain(obj), path)


def load_tensors(path: str) -> Any:
    """Read what ``save_tensors`` wrote. Never unpickles objects: a checkpoint or weights file from
    a bucket or a job folder cannot run code (``weights_only=True``)."""
    return torch.load(path, map_location="cpu", weights_only=True)



class EarlyStopper:
    """Tracks the metric that picks the best weights (and stops early when patience is set); the
    task's own headline metric unless the config names one."""

    def __init__(self, cfg: TrainingConfig, best: Optional[float] = None, bad_epochs: int = 0,
                 default: tuple[str, str] = ("val_accuracy", "max")):
        self.es, self.best, self.bad_epochs = cfg.early_stopping, best, bad_epochs
        self.metric = self.es.metric or default[0]
        self.mode = self.es.mode or (default[1] if self.es.metric in (None, default[0]) else "max")

    def improved(self, metrics: dict) -> bool:
        value = metrics.get(self.metric)
        if value is None:
            raise KeyError(f"early_stopping.metric {self.metric!r} is not among the metrics {sorted(metrics)}")
        sign = 1 if self.mode == "max" else -1
        if self.best is None or sign * (value - self.best) > self.es.min_delta:
            self.best, self.bad_epochs = value, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.es.patience is not None and self.bad_epochs >= self.es.patience


class WorkerSession:
    """One Ray Train worker's view of its job: rank, device, reporting and checkpoints."""

    def __init__(self, cfg: TrainingConfig):
        import ray.train
        import ray.train.torch

        self.cfg = cfg
        ctx = ray.train.get_context()
        self.rank, self.world_size = ctx.get_world_rank(), ctx.get_world_size()
        self.device = ray.train.torch.get_device()
        self.cuda = self.device.type == "cuda"
        torch.set_num_threads(compute_threads(cfg))
        torch.manual_seed(cfg.hyperparameters.seed + self.rank)
        self.job = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
        self._last_event = self._last_beat = 0.0
        # A heartbeat each second cost 7 % of a 2-core run's images/s (bench/train_overhead.py ratio
        # 0.84; 0.92 at 5 s). A fifth of the stall timeout keeps a stall from being seen too early.
        self.heartbeat_s = min(5.0, cfg.monitor.stall_timeout_s / 5)
        self.monitor = self._monitor_started = self._compiling = None
        if cfg.monitor.enabled:
            from train_jobs.monitor import start_monitor

            uuid = str(torch.cuda.get_device_properties(self.device).uuid) if self.cuda else None
            self.monitor, self._monitor_started = start_monitor(cfg, self.rank, uuid)

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    def autocast(self):
        if self.cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def to_device(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        return images.contiguous(memory_format=torch.channels_last) if self.cuda else images

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        import ray.train.torch

        if self.cuda:
            model = model.to(memory_format=torch.channels_last)
        if self.cfg.hyperparameters.compile:
            model.compile()  # in place: the state dict keeps its names
            self._compiling = time.time()
        return ray.train.torch.prepare_model(model)

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world_size > 1:
            torch.distributed.all_reduce(t)
        return t.tolist()

    def progress(self, epoch: int, step: int, steps: int, loss, event_s: float = 5.0) -> None:
        """A training step finished. ``loss`` may be a tensor: it is read (a device sync) only when
        sent: a heartbeat to the monitor every ``heartbeat_s``, an event from the chief every 5 s."""
        now = time.time()
        if self._compiling is not None:
            if self.is_chief:
                float(loss)
                seconds = round(time.time() - self._compiling, 1)
                self.job.event("compiled", first_step_s=seconds, **said("job.compiled", seconds=seconds))
            self._compiling = None
        beat = self.monitor is not None and now - self._last_beat >= self.heartbeat_s
        event = self.is_chief and now - self._last_event >= event_s
        if not (beat or event):
            return
        value = round(float(loss), 5)
        if event:  # first: the first step's event does not wait for the monitor to start
            self._last_event = now
            self.job.event("progress", epoch=epoch + 1, step=step, steps=steps, loss=value)
        if beat:
            self._last_beat = now
            self.ready_monitor().beat.remote(epoch + 1, step, {"loss": value, "steps": steps})

    def ready_monitor(self):
        """This worker's monitor, once it runs (None without one). It is a threaded actor: calls sent
        before it ran would start together, out of order. One that could not start fails the job here."""
        import ray

        if self._monitor_started is not None:
            ray.get(self._monitor_started)
            self._monitor_started = None
        return self.monitor

    def stop_requested(self) -> Optional[dict]:
        """A stop asked for by a monitor (a stalled worker with stall_action stop)."""
        return self.job.stop_request()

    def close(self) -> None:
        """Flush and end this worker's monitor."""
        import ray

        if self.monitor is not None:
            ray.get(self.ready_monitor().close.remote())
            ray.kill(self.monitor)
            self.monitor = None

    def restore(self) -> Optional[dict]:
        """The state saved with the newest complete checkpoint of this run, or None on a fresh start.
        A checkpoint whose manifest is missing or whose state does not match its hash is skipped
        (an event says so) for the one before it."""
        checkpoints = _newest_first(self.job)
        if not checkpoints:
            return None
        for ckpt in checkpoints:
            try:
                state = _load_checked(ckpt)
            except CheckpointCorrupt as exc:
                if self.is_chief:
                    self.job.event("checkpoint_skipped", checkpoint=ckpt.path, reason=str(exc))
                continue
            if self.is_chief:
                self.job.event("resumed", from_epoch=state["epoch"], checkpoint=ckpt.path)
            return state
        if self.is_chief:
            self.job.event("no_checkpoint", reason="no complete checkpoint is left: training from the start")
        return None

    def continued(self) -> Optional[dict]:
        """For ``model.continue_training``: the state the earlier job (``model.from_job``) ended with."""
        if not self.cfg.model.continue_training:
            return None
        earlier = JobFolder(self.job.store, self.cfg.model.from_job)
        for ckpt in _newest_first(earlier):
            try:
                state = _load_checked(ckpt)
            except CheckpointCorrupt:
                continue
            if self.is_chief:
                self.job.event("continued", from_job=earlier.job_id, from_epoch=state["epoch"], checkpoint=ckpt.path)
            return state
        raise CheckpointCorrupt(f"job {earlier.job_id} left no complete checkpoint to continue from; fine-tune from its "
                                "best weights instead (model.from_job without continue_training)")

    def report(self, metrics: dict, state: dict, best_weights: Optional[dict] = None) -> None:
        """Report an epoch: metrics to the job stream, a checkpoint to Ray Train (manifest last)."""
        import ray.train

        if self.monitor is not None:
            self.ready_monitor().epoch_end.remote(metrics)
        if not self.is_chief:
            ray.train.report(metrics, checkpoint=None)
            return
        self.job.event("metrics", **metrics)
        print("epoch {epoch}/{epochs}  ".format(**metrics)
              + "  ".join(f"{k} {v}" for k, v in metrics.items() if k not in ("epoch", "epochs")), flush=True)
        if best_weights is not None:
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "model.pt")
                save_tensors(best_weights, path)
                self.job.store.upload_file(self.job.key("weights/model.pt"), path)
        with tempfile.TemporaryDirectory() as d:
            write_checkpoint(d, state, state["epoch"])
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d))
        self.job.event("checkpoint", epoch=state["epoch"])
        if self.monitor is not None:
            self.monitor.checkpoint.remote(state["epoch"], self.job.uri("train"))


def _newest_first(job: JobFolder) -> list:
    """Every checkpoint of the job's run, newest first (their names sort by time). Ray Train would
    hand over the newest one its controller registered; one written after it (the worker died before
    the controller's next poll) is complete when its manifest checks out, and loses less work."""
    import pyarrow.fs
    import ray.train

    fs, run = job.pyarrow_location("train")
    fs = fs or pyarrow.fs.LocalFileSystem()
    found = fs.get_file_info(pyarrow.fs.FileSelector(run, allow_not_found=True))
    paths = sorted((f.path for f in found if f.type == pyarrow.fs.FileType.Directory
                    and os.path.basename(f.path).startswith("checkpoint_")), reverse=True)
    return [ray.train.Checkpoint(path, filesystem=fs) for path in paths]


def write_checkpoint(folder: str, state: dict, epoch: int) -> None:
    """The one checkpoint layout: ``state.pt`` (tensors and plain values) and ``manifest.json`` (the
    epoch and the state's SHA-256), written last, so a folder whose manifest does not match was not
    completed. Ray Train's checkpoints and the Ultralytics trainer's stored one both use it."""
    state_path = os.path.join(folder, STATE_FILE)
    save_tensors(state, state_path)
    with open(os.path.join(folder, MANIFEST), "w") as f:
        json.dump({"epoch": epoch, "sha256": file_sha256(state_path)}, f)


def read_checkpoint(folder: str, where: str) -> tuple[int, dict]:
    """The epoch and state of a checkpoint ``write_checkpoint`` completed (``where`` names it in errors)."""
    manifest_path, state_path = os.path.join(folder, MANIFEST), os.path.join(folder, STATE_FILE)
    if not (os.path.exists(manifest_path) and os.path.exists(state_path)):
        raise CheckpointCorrupt(f"checkpoint {where} lacks {MANIFEST} or {STATE_FILE}: it was not completed")
    with open(manifest_path) as f:
        manifest = json.load(f)
    if file_sha256(state_path) != manifest["sha256"]:
        raise CheckpointCorrupt(f"checkpoint {where} does not match its manifest hash")
    try:
        return manifest["epoch"], load_tensors(state_path)
    except Exception as exc:  # noqa: BLE001 - anything weights_only refuses is not a checkpoint of ours
        raise CheckpointCorrupt(f"checkpoint {where} holds more than tensors and numbers: {exc}") from None


def _load_checked(ckpt) -> dict:
    with ckpt.as_directory() as d:
        return read_checkpoint(d, ckpt.path)[1]


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def cpu_state_dict(model: torch.nn.Module) -> dict[str, Any]:
    return {k: v.detach().to("cpu").clone() for k, v in unwrap(model).state_dict().items()}
