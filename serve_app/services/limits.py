"""Per-user limits, all of them here: a request rate (a token bucket in each ingress replica, each
holding its share of the rate: the replicas count themselves in the records database) and job quotas
(concurrent jobs and GPUs, counted from the records database and the jobs' configs)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Optional

import yaml

from train_jobs.config import TrainingConfig
from train_jobs.state import TERMINAL
from train_jobs.store import StoreError
from visiontrain.errors import VisiontrainError
from visiontrain.settings import settings as env_settings

__all__ = ["QuotaExceeded", "Quotas", "RateLimiter"]


class QuotaExceeded(VisiontrainError):
    """A job that would take a user past their concurrent jobs or GPUs (answered 429)."""


@dataclass
class RateLimiter:
    """``per_minute`` requests per user, in bursts of up to ``burst``, over all ``replicas`` (each takes
    its share; Serve spreads a user's requests over the replicas)."""
    per_minute: float = 600.0
    burst: float = 60.0
    replicas: int = 1
    _buckets: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_s(self, key: str) -> float:
        """0 and one request taken when ``key`` may go on; else how long until it may."""
        now = time.monotonic()
        rate, burst = self.per_minute / self.replicas / 60.0, max(1.0, self.burst / self.replicas)
        with self._lock:
            if len(self._buckets) > 100_000:  # users idle long enough to be full again
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < burst / rate}
            tokens, last = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / rate
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0


@dataclass
class Quotas:
    """What one user may run at once; admins are not limited."""
    max_active_jobs: int = 2
    max_gpus: float = 4.0

    @classmethod
    def from_settings(cls, settings: dict) -> "Quotas":
        env = env_settings()
        return cls(max_active_jobs=int(settings.get("max_active_jobs") or env.max_active_jobs),
                   max_gpus=float(settings.get("max_gpus") or env.max_gpus))

    def check_current(self, user: dict, cfg: TrainingConfig, jobs) -> None:
        """``check`` against the user's unfinished jobs in the records first (kept current by the job
        watcher); only when they say no, against each of them brought up to date by the job service
        ``jobs``, so that a job that ended a moment ago does not count (each look is a call to Ray,
        slow while the cluster is busy starting jobs)."""
        def in_use(active: list[dict]) -> float:
            if not gpus_of(cfg.model_dump(mode="json")):
                return 0.0
            total = 0.0
            for job in active:
                folder = jobs.folder(job)
                try:
                    total += gpus_of(yaml.safe_load(folder.store.read_text(folder.key("config.yaml"))))
                except StoreError:
                    continue
            return total

        active = [r for r in jobs.records.list_jobs(user["username"]) if r["state"] not in TERMINAL]
        try:
            self.check(user, cfg, active, in_use(active))
        except QuotaExceeded:
            current = [j for j in (jobs.get(r["job_id"]) for r in active) if j["state"] not in TERMINAL]
            self.check(user, cfg, current, in_use(current))

    def check(self, user: dict, cfg: TrainingConfig, active: list[dict], gpus_in_use: float) -> None:
        """Raise QuotaExceeded, saying what is in use and what to do, when ``cfg`` would go over."""
        if user["role"] == "admin":
            return
        running = [j for j in active if j["state"] not in TERMINAL]
        if len(running) >= self.max_active_jobs:
            raise QuotaExceeded(
                f"{user['username']} already has {len(running)} active job(s) "
                f"({', '.join(j['job_id'] for j in running)}); the limit is {self.max_active_jobs}. "
                "Wait for one to finish or stop one (POST /v1/jobs/{id}/stop).")
        wanted = gpus_of(cfg.model_dump(mode="json"))
        if wanted and gpus_in_use + wanted > self.max_gpus:
            raise QuotaExceeded(
                f"this job asks for {wanted:g} GPU(s) and {user['username']} already uses {gpus_in_use:g}; the limit is "
                f"{self.max_gpus:g}. Use fewer workers or GPUs per worker (or fewer trials at a time in a search), "
                "or wait for a job to finish.")


def gpus_of(config: Optional[dict]) -> float:
    """GPUs a job holds at once: its workers', times the trials a search runs side by side."""
    r = (config or {}).get("resources") or {}
    parallel = ((config or {}).get("search") or {}).get("max_concurrent_trials", 1)
    return r.get("num_workers", 1) * r.get("gpus_per_worker", 1.0) * parallel if r.get("use_gpu") else 0.0
