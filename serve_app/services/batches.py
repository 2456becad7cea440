"""Batch predictions: a succeeded job's model over a whole dataset, each a Ray job of its own run by
``train_jobs.predict``; what it has done is kept in the job's folder, under ``batches/<id>/``.

The entrypoint is the fixed template below, pointing at the request this service stored, never text
a user wrote."""
from __future__ import annotations

import secrets
import shlex
import time

from serve_app.services.jobs import JobService, runtime_env
from train_jobs.predict import ACTIVE, batch_key, predictor_gpus, record_batch
from train_jobs.state import JobFolder
from visiontrain.errors import VisiontrainError

__all__ = ["BatchNotFound", "BatchRefused", "batch_state", "list_batches", "start_batch"]

ENTRYPOINT = "python -m train_jobs.predict --request {request_uri}"


class BatchRefused(VisiontrainError, RuntimeError):
    """A batch that cannot start now (one of the job's is still running, or Ray did not take it)."""


class BatchNotFound(VisiontrainError, KeyError):
    def __str__(self) -> str:
        return f"no batch prediction {self.args[0]!r} of this job; GET .../predict-batch lists them"


def _submission(job_id: str, batch_id: str) -> str:
    return f"vt-{job_id}-{batch_id}"


def start_batch(jobs: JobService, record: dict, dataset: str, user: str, cluster_gpus: float) -> dict:
    """Store the request, submit its Ray job; the batch's state (``pending``). One batch of a job runs
    at a time; its actors ask for GPUs where the cluster has (or may add) ``cluster_gpus``."""
    running = [b["batch_id"] for b in list_batches(jobs, record) if b["state"] in ACTIVE]
    if running:
        raise BatchRefused(f"batch {running[0]} of job {record['job_id']} is still running; follow it (GET "
                           f".../predict-batch/{running[0]}) and start the next once it ends")
    folder = jobs.folder(record)
    bid = f"batch-{secrets.token_hex(4)}"
    request = {"batch_id": bid, "job_id": record["job_id"], "dataset": dataset, "owner": user,
               "storage_uri": jobs.storage_of(record), "created_at": time.time(),
               "gpus_per_actor": predictor_gpus(cluster_gpus), "cluster_gpus": cluster_gpus}
    folder.store.write_json(folder.key(batch_key(bid, "request.json")), request)
    state = record_batch(folder, request, "pending", dataset=dataset)
    try:
        jobs.submit_to_ray(entrypoint=ENTRYPOINT.format(request_uri=shlex.quote(folder.uri(batch_key(bid, "request.json")))),
                           submission_id=_submission(record["job_id"], bid), runtime_env=runtime_env(),
                           metadata={"visiontrain_batch": bid, "visiontrain_of_job": record["job_id"], "owner": user},
                           entrypoint_num_cpus=0)
    except Exception as exc:  # noqa: BLE001 - told to the caller, recorded in the batch's state
        raise BatchRefused(_end(folder, state, f"Ray did not take the batch: {exc}")["message"]) from None
    return state


def _end(folder: JobFolder, state: dict, message: str) -> dict:
    return record_batch(folder, state, "failed", message=message)


def batch_state(jobs: JobService, record: dict, batch_id: str) -> dict:
    """The batch's state as its driver wrote it; a driver that died without saying so is told as failed."""
    folder = jobs.folder(record)
    key = folder.key(batch_key(batch_id, "state.json"))
    if not batch_id.startswith("batch-") or "/" in batch_id or not folder.store.exists(key):
        raise BatchNotFound(batch_id)
    state = folder.store.read_json(key)
    if state["state"] in ACTIVE:
        submission = _submission(record["job_id"], batch_id)
        ray = jobs.ray_status(submission)
        if ray in ("FAILED", "STOPPED", "UNKNOWN", "SUCCEEDED"):
            state = folder.store.read_json(key)  # it may have ended meanwhile
            if state["state"] in ACTIVE:
                why = jobs.ray_message(submission) if ray == "FAILED" else f"Ray says {ray}"
                state = _end(folder, state, f"the batch's driver ended without finishing ({why})")
    return state


def list_batches(jobs: JobService, record: dict) -> list[dict]:
    folder = jobs.folder(record)
    ids = {k.removeprefix(folder.key("batches/")).split("/", 1)[0] for k in folder.store.list(folder.key("batches/"))}
    return sorted((batch_state(jobs, record, b) for b in ids if folder.store.exists(folder.key(batch_key(b, "state.json")))),
                  key=lambda s: s["created_at"], reverse=True)
