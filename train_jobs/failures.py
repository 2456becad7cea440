"""Worker-group failures in the job's event stream: a Ray Train callback, run by the train controller.

Ray Train restarts a failed worker group (a worker or its node lost) up to ``max_failures`` times;
the restarted workers then write where they resumed from (``resumed``)."""
from __future__ import annotations

from ray.train import UserCallback

from train_jobs.state import JobFolder
from train_jobs.store import open_store

__all__ = ["FailureEvents"]


class FailureEvents(UserCallback):
    def __init__(self, storage_uri: str, job_id: str, max_failures: int):
        self.storage_uri, self.job_id, self.max_failures, self.failures = storage_uri, job_id, max_failures, 0

    def after_exception(self, run_context, worker_exceptions: dict) -> None:
        self.failures += 1
        errors = {str(rank): _last_line(exc) for rank, exc in sorted(worker_exceptions.items())}
        JobFolder(open_store(self.storage_uri), self.job_id).event(
            "worker_failed", errors=errors, failure=self.failures, restarting=self.failures <= self.max_failures,
            max_failures=self.max_failures)


def _last_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[-1][:300] if lines else ''}"
