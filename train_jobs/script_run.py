"""Jobs that run the user's own training script (``TrainingConfig.script``) on each Ray Train
worker instead of a built-in trainer. The script's output goes to the job's log and to the
worker's monitor, which turns metric-looking lines into metrics; what the script writes to
``$VISIONTRAIN_OUTPUT_DIR`` is uploaded to the job's ``outputs/`` folder at the end."""
from __future__ import annotations

import os
import posixpath
import subprocess
import sys
import tempfile
import time

from train_jobs.config import TrainingConfig
from train_jobs.data import local_dataset_path
from train_jobs.state import JobFolder
from train_jobs.store import open_store
from visiontrain.errors import VisiontrainError

__all__ = ["ScriptFailed", "fit_script", "script_metrics"]

SEND_EVERY_S = 0.5


class ScriptFailed(VisiontrainError, RuntimeError):
    pass


def _local_script(path: str, into: str) -> str:
    if not path.startswith("s3://"):
        if not os.path.isfile(path):
            raise ScriptFailed(f"no training script at {path}; check script.path")
        return path
    parent, name = posixpath.split(path)
    local = os.path.join(into, name)
    open_store(parent).download_file(name, local)
    return local


def _read_lines(stream):
    """Lines of a child's output, split at newlines and at the carriage returns of progress bars."""
    buf = ""
    while chunk := stream.read1(65536):
        buf += chunk.decode("utf-8", "replace")
        *lines, buf = buf.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        yield from (line for line in lines if line.strip())
    if buf.strip():
        yield buf


def _script_loop(loop_config: dict) -> None:
    import ray

    from train_jobs.worker import WorkerSession

    cfg = TrainingConfig.model_validate(loop_config["config"])
    session = WorkerSession(cfg)
    try:
        with tempfile.TemporaryDirectory(prefix="vt-script-") as work:
            out_dir = os.path.join(work, "outputs")
            os.makedirs(out_dir)
            script = _local_script(cfg.script.path, work)
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "VISIONTRAIN_OUTPUT_DIR": out_dir,
                   "VISIONTRAIN_DATASET": local_dataset_path(cfg.dataset.uri, cfg.storage.uri),
                   "VISIONTRAIN_RANK": str(session.rank), "VISIONTRAIN_WORLD_SIZE": str(session.world_size),
                   "VISIONTRAIN_JOB_ID": cfg.job_id}
            proc = subprocess.Popen([sys.executable, script, *cfg.script.args], cwd=work, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            batch, sent, last, in_flight = [], time.time(), "(no output)", []
            for line in _read_lines(proc.stdout):
                print(line, flush=True)
                batch.append(line)
                last = line
                if session.monitor is None or time.time() - sent < SEND_EVERY_S:
                    continue
                # one batch at a time: the monitor is a threaded actor and would parse two batches
                # at once, out of order
                if not in_flight or ray.wait(in_flight, timeout=0)[0]:
                    in_flight = [session.ready_monitor().lines.remote(batch)]
                    batch, sent = [], time.time()
            code = proc.wait()
            if session.monitor is not None:
                ray.get(in_flight)
                if batch:
                    ray.get(session.ready_monitor().lines.remote(batch))
            if code != 0:
                raise ScriptFailed(f"the training script exited with code {code}; its last line: {last!r} "
                                   "(the job's log has the whole output)")
            if session.is_chief:
                for root, _, files in os.walk(out_dir):
                    for name in files:
                        path = os.path.join(root, name)
                        rel = os.path.relpath(path, out_dir).replace(os.sep, "/")
                        session.job.store.upload_file(session.job.key(f"outputs/{rel}"), path)
    finally:
        session.close()


def fit_script(cfg: TrainingConfig, job: JobFolder) -> None:
    from train_jobs.tasks._base import fit_with_ray_train

    fit_with_ray_train(cfg, job, loop=_script_loop)


def script_metrics(job: JobFolder) -> dict:
    """The last value of every metric the chief worker's script printed, and how many it printed."""
    latest, count = {}, 0
    for e in job.telemetry():
        if e["kind"] == "progress" and e["rank"] == 0:
            count += 1
            latest.update({k: v for k, v in e.items() if k not in ("time", "kind", "job_id", "rank")})
    return {"source": "script output", "metric_lines": count, **latest}
