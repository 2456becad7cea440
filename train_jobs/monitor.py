"""The sidecar: one monitoring actor beside each Ray Train worker, pinned to the worker's node.

The worker calls ``beat`` (step, loss and other numbers, about once a second), ``epoch_end``,
``checkpoint`` and, for a user's own script, ``lines`` (output lines, parsed into metrics by
:class:`~train_jobs.metric_lines.MetricLineParser`). Every ``sample_interval_s`` the actor samples
the worker's CPU and memory (psutil) and its GPU (NVML: utilisation, memory, temperature, power),
exports all of it through ``ray.util.metrics`` (Ray's Prometheus endpoint and dashboard), and
appends it to the job's telemetry stream in the artifact store:

- ``jobs/<id>/telemetry/rank-<r>.jsonl``: one JSON line per event, tagged with job id, rank, step;
- ``jobs/<id>/monitor/rank-<r>.json``: the worker's current status (heartbeat, step, stalled).

A worker silent for longer than ``stall_timeout_s`` is reported stalled (before its first report, the
longer of that and ``startup_timeout_s``: reading data, building and compiling come first), and the configured action
is taken: ``wait`` (report only), ``restart`` (kill the worker; Ray Train restarts the group from
the last complete checkpoint) or ``stop`` (record a stop request, then kill the worker; the job
ends as stopped).
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Any, Optional

import psutil

from train_jobs.config import MonitorOptions, TrainingConfig
from train_jobs.metric_lines import MetricLineParser, metric_name
from train_jobs.state import JobFolder
from train_jobs.store import open_store

__all__ = ["Monitor", "start_monitor"]

TAGS = ("job_id", "rank", "task")
TRAIN_GAUGES = {  # gauge name -> (the value it shows, description); every number also goes to train_metric
    "train_loss": ("loss", "training loss of the latest step"),
    "train_step": ("step", "latest training step in the epoch"),
}
SYSTEM_GAUGES = {  # exported as worker_<name>
    "cpu_percent": "CPU use of the training worker process (100 = one core)",
    "memory_bytes": "resident memory of the training worker process",
    "gpu_utilization_percent": "GPU utilisation seen by NVML",
    "gpu_memory_bytes": "GPU memory in use",
    "gpu_temperature_celsius": "GPU temperature",
    "gpu_power_watts": "GPU power draw",
    "heartbeat_age_seconds": "seconds since the worker last reported",
    "stalled": "1 while the worker is stalled",
}


class _Gauges:
    """``ray.util.metrics`` gauges, created on first use; names get the ``visiontrain_`` prefix
    (Ray's Prometheus endpoint adds ``ray_``)."""

    def __init__(self, tags: dict[str, str]):
        from ray.util.metrics import Gauge

        self._gauge, self.tags, self._made = Gauge, tags, {}
        self.metric = Gauge("visiontrain_train_metric", "a training metric reported by the worker",
                            tag_keys=TAGS + ("metric",))

    def set(self, name: str, value: float, description: str = "") -> None:
        if name not in self._made:
            self._made[name] = self._gauge(f"visiontrain_{name}", description or name, tag_keys=TAGS)
        self._made[name].set(float(value), tags=self.tags)

    def train(self, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.metric.set(float(v), tags={**self.tags, "metric": k})
        for name, (key, description) in TRAIN_GAUGES.items():
            if key in values:
                self.set(name, values[key], description)


class _Gpu:
    def __init__(self, uuid: str):
        import pynvml

        pynvml.nvmlInit()
        self.nvml = pynvml
        self.handle = pynvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}")

    def sample(self) -> dict[str, float]:
        n, h = self.nvml, self.handle
        return {"gpu_utilization_percent": n.nvmlDeviceGetUtilizationRates(h).gpu,
                "gpu_memory_bytes": n.nvmlDeviceGetMemoryInfo(h).used,
                "gpu_temperature_celsius": n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU),
                "gpu_power_watts": n.nvmlDeviceGetPowerUsage(h) / 1000.0}


class Monitor:
    """Run as a Ray actor by :func:`start_monitor`; plain methods, so it also runs in-process."""

    def __init__(self, job_id: str, task: str, rank: int, storage_uri: str, options: dict,
                 worker_pid: int, gpu_uuid: Optional[str] = None, export: bool = True):
        self.opts = MonitorOptions.model_validate(options)
        self.job = JobFolder(open_store(storage_uri), job_id)
        self.rank, self.pid = rank, worker_pid
        self.gauges = _Gauges({"job_id": job_id, "rank": str(rank), "task": task}) if export else None
        self.parser = MetricLineParser(self.opts.patterns)
        self.started = self.last_beat = time.time()
        self.epoch, self.step = 0, 0
        self.latest: dict[str, float] = {}
        self.system: dict[str, float] = {}
        self.stalled = self.reported = False
        self._pending: list[dict] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._proc = psutil.Process(worker_pid)
        self._proc.cpu_percent(None)
        self._gpu = self._open_gpu(gpu_uuid)
        self._write_status()
        self._thread = threading.Thread(target=self._loop, name="monitor", daemon=True)
        self._thread.start()

    def _open_gpu(self, uuid: Optional[str]) -> Optional[_Gpu]:
        if not uuid:
            return None
        try:
            return _Gpu(uuid)
        except Exception as exc:  # no NVML on this node: keep monitoring the rest
            self._record("warning", message=f"GPU metrics unavailable: {exc}")
            return None

    def ready(self) -> int:
        return self.pid

    def beat(self, epoch: int, step: int, values: Optional[dict] = None) -> None:
        """The worker is alive at ``epoch``/``step``; ``values`` are its latest numbers (loss, ...)."""
        values = {metric_name(k): float(v) for k, v in (values or {}).items()}
        with self._lock:
            self.epoch, self.step = epoch, step
            self._alive()
            self.latest.update(values)
            self._record("progress", **values)
            if self.stalled:
                self.stalled = False
                self._record("recovered", message=f"worker rank {self.rank} reports again")
        if self.gauges:
            self.gauges.train({**values, "step": step})

    def lines(self, lines: list[str]) -> list[dict]:
        """Output lines of a user's script: metric-looking ones become metrics (and a heartbeat)."""
        with self._lock:
            found = [m for m in (self.parser.parse(line) for line in lines) if m]
        for m in found:
            self.beat(int(m.get("epoch", self.epoch)), int(m.get("step", self.step)), m)
        if not found and lines:
            with self._lock:
                self._alive()
        return found

    def epoch_end(self, metrics: dict) -> None:
        numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        with self._lock:
            self._alive()
            self._record("metrics", **numbers)
        if self.gauges:
            self.gauges.train(numbers)

    def checkpoint(self, epoch: int, path: str) -> None:
        with self._lock:
            self._alive()
            self._record("checkpoint", checkpoint_epoch=epoch, path=path)

    def _alive(self) -> None:
        self.last_beat, self.reported = time.time(), True

    def status(self) -> dict:
        with self._lock:
            return self._status()

    def close(self) -> dict:
        """Stop sampling, record a last sample and write everything out; returns the final status."""
        self._closed.set()
        self._thread.join(timeout=10)
        system = self._sample()
        with self._lock:
            self.system = system
            self._record("system", **system)
            self._flush()
            return self._status()

    def _status(self) -> dict:
        return {"job_id": self.job.job_id, "rank": self.rank, "worker_pid": self.pid, "epoch": self.epoch,
                "step": self.step, "heartbeat": self.last_beat, "heartbeat_age_s": round(time.time() - self.last_beat, 3),
                "stalled": self.stalled, "stall_action": self.opts.stall_action, "latest": self.latest,
                "system": self.system, "updated": time.time()}

    def _record(self, kind: str, **fields: Any) -> None:
        self._pending.append({"time": time.time(), "kind": kind, "job_id": self.job.job_id, "rank": self.rank,
                              "epoch": self.epoch, "step": self.step, **fields})

    def _flush(self) -> None:
        if self._pending:
            lines = "\n".join(json.dumps(e, default=str) for e in self._pending)
            self.job.store.append_line(self.job.key(f"telemetry/rank-{self.rank}.jsonl"), lines)
            self._pending = []
        self._write_status()

    def _write_status(self) -> None:
        self.job.store.write_json(self.job.key(f"monitor/rank-{self.rank}.json"), self._status())

    def _sample(self) -> dict[str, float]:
        out: dict[str, float] = {}
        try:
            with self._proc.oneshot():
                out["cpu_percent"] = self._proc.cpu_percent(None)
                out["memory_bytes"] = float(self._proc.memory_info().rss)
        except psutil.Error:
            pass
        if self._gpu is not None:
            try:
                out.update({k: float(v) for k, v in self._gpu.sample().items()})
            except Exception:
                pass
        return out

    def _loop(self) -> None:
        while not self._closed.wait(self.opts.sample_interval_s):
            system = self._sample()
            with self._lock:
                age = time.time() - self.last_beat
                self.system = system
                self._record("system", **system)
                limit, why = self._stall_limit()
                act = age > limit and not self.stalled
                if act:
                    self.stalled = True
                    self._record("stalled", silent_s=round(age, 1), action=self.opts.stall_action,
                                 message=f"worker rank {self.rank} sent nothing for {age:.0f} s ({why}); "
                                         f"action: {self.opts.stall_action}")
                try:
                    self._flush()
                except Exception as exc:  # the store is unreachable for now: keep the lines, try again
                    print(f"monitor rank {self.rank}: cannot write telemetry: {exc}", flush=True)
            if self.gauges:
                for k, v in {**system, "heartbeat_age_seconds": age, "stalled": float(self.stalled)}.items():
                    self.gauges.set(f"worker_{k}", v, SYSTEM_GAUGES.get(k, k))
            if act:
                self._act(age)

    def _stall_limit(self) -> tuple[float, str]:
        """How long the worker may be silent now, and the option that says so."""
        o = self.opts
        if self.reported or o.startup_timeout_s <= o.stall_timeout_s:
            return o.stall_timeout_s, f"stall_timeout_s {o.stall_timeout_s:g}"
        return o.startup_timeout_s, f"no step yet since it started; startup_timeout_s {o.startup_timeout_s:g}"

    def _act(self, age: float) -> None:
        action = self.opts.stall_action
        if action == "wait":
            return
        if action == "stop":
            self.job.request_stop(f"worker rank {self.rank} stalled ({age:.0f} s without a report); "
                                  "stall_action is stop")
        try:
            worker = psutil.Process(self.pid)
            for proc in [*worker.children(recursive=True), worker]:  # a user's script runs as a child
                proc.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass


def start_monitor(cfg: TrainingConfig, rank: int, gpu_uuid: Optional[str] = None):
    """Start the monitoring actor for this worker on this worker's node; returns its handle and a
    reference that resolves once it runs (the worker builds its model meanwhile)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id()
    actor = ray.remote(Monitor).options(
        num_cpus=0, max_concurrency=4, max_restarts=0,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=False),
    ).remote(cfg.job_id, cfg.task, rank, cfg.storage.uri, cfg.monitor.model_dump(), os.getpid(), gpu_uuid)
    return actor, actor.ready.remote()
