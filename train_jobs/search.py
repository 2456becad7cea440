"""Hyperparameter search with Ray Tune over the task trainers.

Each trial is a small function that fits the task's trainer on its own values (the Train V2 way:
the trial builds and fits a TorchTrainer, which reports to Tune through ``TuneReportCallback``).
ASHA stops weak trials early. Each trial trains in its own folder inside the job's (``trials/tNN``); the search
job's event stream gets every trial's state and epoch metrics, and ``search/results.json`` the table.
"""
from __future__ import annotations

from typing import Optional

from train_jobs.config import TRIAL, TrainingConfig
from train_jobs.state import JobFolder
from train_jobs.store import StoreError, open_store
from visiontrain.errors import VisiontrainError

__all__ = ["RESULTS_KEY", "SearchFailed", "run_search", "search_metric", "search_results", "trial_folder",
           "trials_table"]

RESULTS_KEY = "search/results.json"
INTEGER = ("batch_size", "image_size", "epochs")


class SearchFailed(VisiontrainError, RuntimeError):
    """No trial produced a usable result."""


def search_metric(cfg: TrainingConfig) -> tuple[str, str]:
    """The metric that ranks trials and its direction."""
    from train_jobs.tasks import get_task

    headline = get_task(cfg.task, cfg.model.source).metric
    name = cfg.search.metric or cfg.early_stopping.metric or headline[0]
    stated = cfg.search.mode or (cfg.early_stopping.mode if name == cfg.early_stopping.metric else None)
    return name, stated or (headline[1] if name == headline[0] else "min" if "loss" in name else "max")


def trial_name(trial_id: str) -> str:
    return f"t{int(trial_id.rsplit('_', 1)[1]):02d}"


def trial_job_id(job_id: str, name: str) -> str:
    return f"{job_id}{TRIAL}{name}"


def trial_folder(job: JobFolder, name: str) -> JobFolder:
    return JobFolder(job.store, trial_job_id(job.job_id, name))


def _metric_fields(result: dict, metric: str) -> dict:
    return {k: v for k, v in result.items()
            if k in ("epoch", "epochs", "learning_rate", metric) or k.startswith(("train_", "val_"))}


def trials_table(events: list[dict], metric: str, mode: str) -> list[dict]:
    """One row per trial from the search job's events: its values, state, epochs run and best metric."""
    rows: dict[str, dict] = {}
    for ev in events:
        if ev["kind"] == "trial":
            row = rows.setdefault(ev["trial"], {"trial": ev["trial"], "params": ev.get("params", {}),
                                                "state": "pending", "epochs": 0, metric: None, "best_epoch": None})
            row["state"] = ev["state"]
            if ev.get("error"):
                row["error"] = ev["error"]
        elif ev["kind"] == "trial_metrics" and ev["trial"] in rows:
            row, value = rows[ev["trial"]], ev.get(metric)
            row["epochs"] = max(row["epochs"], int(ev["epoch"]))
            if value is not None and (row[metric] is None or (value > row[metric]) == (mode == "max")):
                row[metric], row["best_epoch"] = value, int(ev["epoch"])
    return [rows[k] for k in sorted(rows)]


def best_trial(table: list[dict], metric: str, mode: str) -> Optional[dict]:
    scored = [r for r in table if r[metric] is not None]
    if not scored:
        return None
    return (max if mode == "max" else min)(scored, key=lambda r: r[metric])


def search_results(job: JobFolder) -> Optional[dict]:
    """The trials table of a search job (stored when it ended; from its events while it runs), or None
    when the job is not a search."""
    if job.store.exists(job.key(RESULTS_KEY)):
        return job.store.read_json(job.key(RESULTS_KEY))
    from train_jobs.config import config_from_yaml

    cfg = config_from_yaml(job.store.read_text(job.key("config.yaml")))
    if cfg.search is None:
        return None
    metric, mode = search_metric(cfg)
    table = trials_table(job.events(), metric, mode)
    best = best_trial(table, metric, mode)
    return {"metric": metric, "mode": mode, "trials": table, "best": best and best["trial"]}


def _domain(name: str, p):
    from ray import tune

    if p.values is not None:
        return tune.grid_search(p.values)
    if name in INTEGER:
        return (tune.lograndint if p.log else tune.randint)(int(p.low), int(p.high) + 1)
    return (tune.loguniform if p.log else tune.uniform)(p.low, p.high)


def _trial(params: dict, config: dict) -> None:
    from ray import tune
    from ray.tune.integration.ray_train import TuneReportCallback

    from train_jobs.tasks import get_task

    cfg = TrainingConfig.model_validate(config)
    job_id = trial_job_id(cfg.job_id, trial_name(tune.get_context().get_trial_id()))
    trial = cfg.trial(params).model_copy(update={"job_id": job_id})
    get_task(cfg.task, cfg.model.source).fit(trial, JobFolder(open_store(cfg.storage.uri), job_id), callbacks=[TuneReportCallback()])


def _trial_events(job: JobFolder, metric: str):
    """A Tune callback (it runs in the driver) that writes each trial's progress to the job's stream."""
    from ray import tune

    class TrialEvents(tune.Callback):
        def on_trial_start(self, iteration, trials, trial, **info):
            job.event("trial", trial=trial_name(trial.trial_id), state="running", params=trial.config)

        def on_trial_result(self, iteration, trials, trial, result, **info):
            job.event("trial_metrics", trial=trial_name(trial.trial_id), **_metric_fields(result, metric))

        def on_trial_complete(self, iteration, trials, trial, **info):
            last = trial.last_result or {}
            done = last.get("epoch", 0) >= last.get("epochs", 1)
            job.event("trial", trial=trial_name(trial.trial_id), state="finished" if done else "stopped_early",
                      params=trial.config)

        def on_trial_error(self, iteration, trials, trial, **info):
            job.event("trial", trial=trial_name(trial.trial_id), state="failed", params=trial.config,
                      error=str(getattr(trial, "error_msg", None) or "the trial raised; see the job's log")[-500:])

    return TrialEvents()


def run_search(cfg: TrainingConfig, job: JobFolder) -> TrainingConfig:
    """Run the search; returns the best trial's config for this job, whose weights and history it
    copied into the job's folder (so evaluation and export work as after a single run)."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    s = cfg.search
    metric, mode = search_metric(cfg)
    epochs = max([cfg.hyperparameters.epochs, *(s.parameters["epochs"].bounds() if "epochs" in s.parameters else [])])
    scheduler = (ASHAScheduler(time_attr="epoch", max_t=int(epochs), grace_period=s.grace_period,
                               reduction_factor=s.reduction_factor)
                 if s.scheduler == "asha" else FIFOScheduler())
    job.event("search_started", metric=metric, mode=mode, trials=s.num_trials, concurrent=s.max_concurrent_trials,
              scheduler=s.scheduler, parameters={k: v.model_dump(exclude_none=True) for k, v in s.parameters.items()})
    fs, storage = job.pyarrow_location()
    trainable = tune.with_resources(tune.with_parameters(_trial, config=cfg.model_dump(mode="json")),
                                    {"memory": 2**20})  # the trial itself only waits; its workers hold the CPUs
    tune.Tuner(
        trainable,
        param_space={name: _domain(name, p) for name, p in s.parameters.items()},
        tune_config=tune.TuneConfig(metric=metric, mode=mode, num_samples=s.num_trials // s.combinations(),
                                    scheduler=scheduler, search_alg=BasicVariantGenerator(
                                        max_concurrent=s.max_concurrent_trials, random_state=s.seed)),
        run_config=tune.RunConfig(name="tune", storage_path=storage,
                                  storage_filesystem=fs, callbacks=[_trial_events(job, metric)], verbose=0),
    ).fit()
    results = search_results(job)
    job.store.write_json(job.key(RESULTS_KEY), results)
    best = next((r for r in results["trials"] if r["trial"] == results["best"]), None)
    if best is None:
        raise SearchFailed(f"no trial reported {metric}; the trials' errors are in the results table and the log")
    folder = trial_folder(job, best["trial"])
    try:
        job.store.write_bytes(job.key("weights/model.pt"), job.store.read_bytes(folder.key("weights/model.pt")))
    except StoreError as exc:
        raise SearchFailed(f"the best trial {best['trial']} kept no weights: {exc}") from None
    job.store.write_json(job.key("history.json"), folder.history())
    job.event("search_done", best=best["trial"], params=best["params"], metric=metric, value=best[metric])
    return cfg.trial(best["params"])
