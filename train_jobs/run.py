"""The workflow driver of one training job: ``python -m train_jobs.run --config <path or s3 uri>``.

validate dataset -> prepare model -> train (Ray Train) -> evaluate -> export, each step
recorded in the job's folder. Rerunning the same job resumes from its latest checkpoint.
"""
from __future__ import annotations

import argparse
import os
import posixpath
import signal
import sys
import time
import traceback
from typing import Optional

from adapters import get_adapter
from train_jobs.config import ConfigError, TrainingConfig, config_from_yaml
from train_jobs.data import DatasetError, local_dataset_path
from train_jobs.data.validate import validate_dataset
from train_jobs.script_run import fit_script, script_metrics
from train_jobs.search import run_search
from train_jobs.state import JobFolder
from train_jobs.store import StoreError, open_store
from train_jobs.tracking import Tracking
from train_jobs.weights import resolve_weights
from visiontrain.errors import VisiontrainError
from visiontrain.messages import said

__all__ = ["JobStopped", "load_config", "main", "run_job"]



class RayUnreachable(VisiontrainError, RuntimeError):
    pass


class JobStopped(BaseException):
    """The job was asked to stop (SIGTERM from ``ray job stop``). A BaseException, like
    KeyboardInterrupt, so that no ``except Exception`` on the way turns it into a failure."""


def load_config(ref: str) -> TrainingConfig:
    if ref.startswith("s3://"):
        parent, name = posixpath.split(ref.rstrip("/"))
        text = open_store(parent).read_text(name)
    else:
        try:
            with open(ref, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise ConfigError(f"cannot read config {ref!r}: {exc.strerror}") from None
    return config_from_yaml(text, source=ref)


def _finish(cfg_json: dict, class_names: list[str]) -> dict:
    """Evaluate the trained weights, then export and check ONNX (runs as a Ray task)."""
    from train_jobs.tasks import get_task

    cfg = TrainingConfig.model_validate(cfg_json)
    job = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    trainer = get_task(cfg.task, cfg.model.source)
    metrics = trainer.evaluate(cfg, job, class_names, local_dataset_path(cfg.dataset.uri, cfg.storage.uri))
    job.store.write_json(job.key("metrics.json"), metrics)
    job.transition("exporting", **said("job.exporting"))
    return {"metrics": metrics, "export": trainer.export(cfg, job, class_names)}


def _finish_script(cfg: TrainingConfig, job: JobFolder, tracking: Tracking) -> int:
    """A user's script evaluates and exports by itself: its last printed metrics are the result."""
    job.transition("evaluating", **said("job.reading_script"))
    metrics = script_metrics(job)
    job.store.write_json(job.key("metrics.json"), metrics)
    outputs = job.store.list(job.key("outputs/"))
    headline = {k: v for k, v in metrics.items() if k not in ("source", "metric_lines", "epoch", "step")}
    tracking.close("succeeded")
    job.transition("succeeded", **said("job.script_done", lines=metrics["metric_lines"], outputs=len(outputs)),
                   result=headline)
    print(f"job {cfg.job_id} succeeded: {headline}; outputs in {job.uri('outputs')}")
    return 0


def _training_message(cfg: TrainingConfig) -> dict:
    r, s = cfg.resources, cfg.search
    each = {"workers": r.num_workers, "device": "GPU" if r.use_gpu else "CPU", "epochs": cfg.hyperparameters.epochs}
    if s is None:
        return said("job.training", **each)
    return said("job.searching", parameters=", ".join(s.parameters), trials=s.num_trials,
                concurrent=s.max_concurrent_trials, scheduler=s.scheduler, **each)


STORE_OUTAGE = ("NETWORK_CONNECTION", "Could not connect to server", "cannot reach the S3 endpoint")
OUTAGE_WAITS_S = (5, 15, 30)


def _waiting_out_store_outages(job: JobFolder, fit):
    """Run ``fit``; when training ended because the artifact store did not answer (Ray Train's
    controller writes its run state there, with only a few quick retries of its own), wait and run it
    again: it resumes from the last complete checkpoint. After the waits, fail with the reason."""
    for wait_s in (*OUTAGE_WAITS_S, None):
        try:
            return fit()
        except Exception as exc:
            reason = _root_cause(exc)
            if not any(sign in str(exc) or sign in reason for sign in STORE_OUTAGE):
                raise
            if wait_s is None:
                raise StoreError(f"training could not reach the artifact store {job.uri()} for "
                                 f"{sum(OUTAGE_WAITS_S)} s and more ({reason}); its last complete checkpoint is "
                                 "kept: submit the job again when the store is back to resume from it") from None
            print(f"the artifact store did not answer ({reason}); retrying in {wait_s} s", file=sys.stderr)
            time.sleep(wait_s)  # before touching the store again
            if job.stop_request():
                raise
            job.event("store_outage", reason=reason, waited_s=wait_s)


_SIGNALLED: list[str] = []  # the stop signals this driver received


def _raise_stop(signum, frame):
    _SIGNALLED.append(signal.Signals(signum).name)
    raise JobStopped(f"stopped by signal {_SIGNALLED[-1]}")


def run_job(cfg: TrainingConfig, address: str) -> int:
    """Run the whole workflow for ``cfg`` on the Ray cluster at ``address``; returns the exit code."""
    import ray

    from train_jobs.tasks import get_task

    job = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    previous = job.state()
    if previous and previous["state"] == "succeeded":
        print(f"job {cfg.job_id} already succeeded; artifacts in {job.uri()}")
        return 0
    job.store.write_text(job.key("config.yaml"), cfg.to_yaml())
    try:
        ray.init(address=address, log_to_driver=True)
    except ConnectionError as exc:
        raise RayUnreachable(f"cannot connect to the Ray cluster at {address}: {exc}") from None
    attempt = (previous or {}).get("attempt", 0) + 1
    signal.signal(signal.SIGTERM, _raise_stop)
    tracking = Tracking(cfg, job, {"ray.job_id": ray.get_runtime_context().get_job_id(),
                                   "visiontrain.attempt": str(attempt)}).start()
    try:
        job.transition("validating", **said("job.validating", uri=cfg.dataset.uri), attempt=attempt)
        trainer = get_task(cfg.task, cfg.model.source)
        path = local_dataset_path(cfg.dataset.uri, cfg.storage.uri)
        report = validate_dataset(path, cfg.dataset.format, cfg.class_names, cfg.task, use_ray=True)
        job.store.write_json(job.key("dataset_report.json"), report)
        job.event("dataset_report", ok=report["ok"], summary=report["summary"])
        if not report["ok"]:
            raise DatasetError(report["summary"])
        summary = trainer.check_dataset(cfg, path)
        job.store.write_json(job.key("dataset.json"), summary)

        models = cfg.search.parameters["model"].values if cfg.search and "model" in cfg.search.parameters else []
        job.transition("preparing", **said("job.preparing", model=f"{cfg.model.source}/{cfg.model.name}", task=cfg.task))
        for name in [cfg.model.name, *models]:
            get_adapter(cfg.model.source).check(str(name), cfg.task)
        cfg, weights = resolve_weights(cfg)
        if weights is not None:
            job.event("weights", **{k: weights[k] for k in ("source", "name", "sha256", "origin", "from_job",
                                                           "continue_training")
                                    if k in weights})

        job.transition("training", **_training_message(cfg))
        job.clear_stop_request()
        searched = cfg.search is not None
        try:
            if searched:
                cfg = run_search(cfg, job)  # from here on: the best trial's config, its weights in this job
            else:
                _waiting_out_store_outages(job, lambda: fit_script(cfg, job) if cfg.script is not None
                                           else trainer.fit(cfg, job))
        except Exception:
            if not job.stop_request():
                raise
        if job.stop_request():
            raise JobStopped(job.stop_request()["reason"])
        if not searched:  # a search wrote its best trial's history
            job.store.write_json(job.key("history.json"), job.history())

        if cfg.script is not None:
            return _finish_script(cfg, job, tracking)
        job.transition("evaluating", **said("job.evaluating"))
        r = cfg.resources
        finish = ray.remote(num_cpus=r.cpus_per_worker, num_gpus=r.gpus_per_worker if r.use_gpu else 0)(_finish)
        out = ray.get(finish.remote(cfg.model_dump(mode="json"), summary["class_names"]))
        headline = {k: v for k, v in out["metrics"].items() if isinstance(v, (int, float))}
        tracking.close("succeeded")  # before the state says so: its run is complete when the job is
        job.transition("succeeded", ", ".join(f"{k} {v}" for k, v in headline.items()), result=headline)
        print(f"job {cfg.job_id} succeeded: {headline}; artifacts in {job.uri()}")
        return 0
    except JobStopped as exc:
        return _stopped(cfg, job, str(exc), tracking)
    except VisiontrainError as exc:  # raised on purpose: its message says what to do
        tracking.close("failed")
        job.transition("failed", str(exc))
        print(f"job {cfg.job_id} failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # anything else: keep the reason in the record, the traceback in the log
        if _SIGNALLED:  # the stop, raised inside a library that wrapped it (a SystemError, say)
            return _stopped(cfg, job, f"stopped by signal {_SIGNALLED[0]}", tracking)
        traceback.print_exc()
        tracking.close("failed")
        job.transition("failed", f"{type(exc).__name__}: {_root_cause(exc)}")
        return 1
    finally:
        tracking.close("failed")  # nothing when a branch above closed it with the job's state


def _stopped(cfg: TrainingConfig, job: JobFolder, why: str, tracking: Tracking) -> int:
    job.transition("stopped", why)  # first: Ray kills a driver 3 s after asking it to stop
    tracking.close("stopped")
    print(f"job {cfg.job_id} stopped; rerun the same config to resume from its last checkpoint")
    return 143


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train_jobs.run", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="TrainingConfig YAML: a local path or s3:// URI")
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                        help="Ray cluster address (default: $RAY_ADDRESS, set by `ray job submit`); "
                             "'local' starts a throwaway in-process cluster")
    args = parser.parse_args(argv)
    os.nice(15)  # the priority of Ray's workers, below the API's processes: a starting job must not slow it
    try:
        cfg = load_config(args.config)
    except (ConfigError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.address:
        print("error: no Ray cluster given. Run this under `ray job submit`, set RAY_ADDRESS, "
              "or pass --address (for example --address local)", file=sys.stderr)
        return 2
    try:
        return run_job(cfg, args.address)
    except (StoreError, RayUnreachable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
