"""Jobs side by side, for ``GET /v1/jobs/compare``, ``visiontrain compare`` and the chat: the settings
that differ between their configs, their final metrics, how long they took and how fast they trained,
and each per-epoch metric's curve, read from each job's own folder."""
from __future__ import annotations

import statistics
from typing import Any, Optional

import yaml

from train_jobs.store import StoreNotFound

__all__ = ["HEADLINES", "MAX_COMPARED", "compare_jobs", "headline"]

HEADLINES = ("accuracy", "macro_f1", "mAP50", "mAP50_95", "miou", "auroc", "f1")  # higher is better, each
MAX_COMPARED = 10
_NOT_SETTINGS = ("job_id", "owner", "storage")


def headline(metrics: dict) -> Optional[str]:
    """The first of HEADLINES the metrics have: what a job is ranked by."""
    return next((k for k in HEADLINES if isinstance(metrics.get(k), (int, float))), None)


def _flat(data: Any, prefix: str = "") -> dict:
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict = {}
    for k, v in data.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else k))
    return out


def _one(p, record: dict) -> tuple[dict, dict, dict]:
    """(the job's row, its settings flattened, its curves {metric: [[epoch, value], ...]})."""
    folder = p.jobs.folder(record)
    config = yaml.safe_load(folder.store.read_text(folder.key("config.yaml")))
    try:
        metrics = folder.store.read_json(folder.key("metrics.json"))
    except StoreNotFound:  # not evaluated (yet): still compared by its settings and curves
        metrics = {}
    epochs = folder.history()
    curves: dict = {}
    for e in epochs:
        for k, v in e.items():
            if k.startswith(("train_", "val_")) and k not in ("train_images", "train_s") and isinstance(v, (int, float)):
                curves.setdefault(k, []).append([e["epoch"], v])
    times = [h["time"] for h in record.get("history") or []]
    speeds = [e["images_per_s"] for e in epochs if isinstance(e.get("images_per_s"), (int, float))]
    key = headline(metrics)
    row = {"job_id": record["job_id"], "state": record["state"], "task": record["task"], "model": record["model"],
           "dataset": config.get("dataset", {}).get("uri"), "epochs": len(epochs),
           "duration_s": round(times[-1] - times[0], 1) if len(times) > 1 else None,
           "images_per_s": round(statistics.median(speeds), 1) if speeds else None,
           "headline": key, "score": metrics.get(key) if key else None,
           "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
           "per_class": metrics.get("per_class") or metrics.get("per_class_iou") or {}}
    settings = {k: v for k, v in _flat(config).items() if not k.startswith(_NOT_SETTINGS)}
    return row, settings, curves


def compare_jobs(p, records: list[dict]) -> dict:
    """``jobs`` (one row each, in the order given), ``differences`` (each setting whose value is not the
    same in every job: {setting: {job_id: value}}), ``curves`` ({metric: {job_id: [[epoch, value], ...]}})
    and ``best``: the job with the highest headline score among those that have one of the same kind."""
    rows, settings, curves = [], {}, {}
    for record in records:
        row, flat, own = _one(p, record)
        rows.append(row)
        settings[row["job_id"]] = flat
        for metric, points in own.items():
            curves.setdefault(metric, {})[row["job_id"]] = points
    keys = sorted({k for flat in settings.values() for k in flat})
    differences = {k: {job: flat.get(k) for job, flat in settings.items()} for k in keys
                   if len({repr(flat.get(k)) for flat in settings.values()}) > 1}
    scored = [r for r in rows if r["score"] is not None]
    kinds = {r["headline"] for r in scored}
    best = max(scored, key=lambda r: r["score"])["job_id"] if scored and len(kinds) == 1 else None
    return {"jobs": rows, "differences": differences, "curves": curves, "best": best,
            "headline": kinds.pop() if len(kinds) == 1 else None}
