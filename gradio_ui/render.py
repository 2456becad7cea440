"""What the UI shows, from what the API answers: pure functions, no HTTP, no Gradio state."""
from __future__ import annotations

import math
from typing import Optional

import pandas as pd

from gradio_ui.text import say

__all__ = ["Progress", "chart", "dataset_report", "drawn_answers", "named", "plan_card", "result_tables", "result_summary"]

GPU_ONLY = ("gpus_per_worker",)  # plan rows that mean nothing without a GPU

def named(words: Optional[dict], kind: str, name: str) -> str:
    """What the platform calls ``name`` (a ``task`` or a ``state``) in ``words`` (``GET /v1/vocabulary``'s
    for one language), or the name itself."""
    return (words or {}).get(f"{kind}.{name}", name)


def dataset_report(lang: str, answer: dict) -> str:
    report = answer["report"]
    lines = [say(lang, "uploaded", name=answer["name"], id=answer["dataset_id"]), "", report["summary"]]
    if not report["ok"]:
        lines.insert(1, say(lang, "upload_blocked"))
    return "\n".join(lines)


def plan_card(lang: str, plan: dict, images: Optional[int] = None, health: Optional[str] = None,
              words: Optional[dict] = None) -> str:
    """The plan as a card; ``words``: the platform's names in ``lang`` (``GET /v1/vocabulary``)."""
    cfg, defaults, notes = plan["config"], set(plan["defaults"]), plan.get("notes", {})
    model = f"{cfg['model']['source']}/{cfg['model']['name']}"
    why = notes.get("model.name") or say(lang, "plan_why_stated")
    lines = [say(lang, "plan_title"), "", say(lang, "plan_task", task=named(words, "task", cfg["task"])), "",
             say(lang, "plan_model", model=model, why=why)]
    if "model.pretrained" in notes:
        lines += ["", say(lang, "plan_weights", weights=notes["model.pretrained"])]
    lines += ["", say(lang, "plan_dataset", uri=cfg["dataset"]["uri"])]
    if health:
        lines += ["", *[f"> {line}" for line in health.splitlines()]]
    if cfg.get("class_names"):
        lines += ["", say(lang, "plan_classes", classes=", ".join(cfg["class_names"]))]
    head = f"| {say(lang, 'setting')} | {say(lang, 'value')} |"
    for section, title in (("hyperparameters", "plan_hyper"), ("resources", "plan_resources")):
        lines += ["", say(lang, title), "", head, "|---|---|"]
        for key, value in cfg[section].items():
            if key in GPU_ONLY and not cfg["resources"].get("use_gpu"):
                continue
            path = f"{section}.{key}"
            tag = f" *({say(lang, 'default')}: {notes[path]})*" if path in notes else (
                f" *({say(lang, 'default')})*" if path in defaults else "")
            lines.append(f"| {key} | `{value}`{tag} |")
    h, search = cfg["hyperparameters"], cfg.get("search")
    if search:
        lines += ["", say(lang, "plan_search", trials=search["num_trials"], concurrent=search["max_concurrent_trials"],
                          scheduler=search["scheduler"]), "", f"| {say(lang, 'setting')} | {say(lang, 'searched')} |",
                  "|---|---|"]
        lines += [f"| {name} | {_space(p)} |" for name, p in search["parameters"].items()]
    if images:
        per_epoch = max(1, math.ceil(images / max(1, cfg["resources"]["num_workers"]) / h["batch_size"]))
        steps = per_epoch * h["epochs"]
        # about 0.2 s a step on a CPU worker, 0.05 s on a GPU, plus half a minute to start each run, one to export
        run_s = 30 + steps * (0.05 if cfg["resources"].get("use_gpu") else 0.2)
        rounds = math.ceil(search["num_trials"] / search["max_concurrent_trials"]) if search else 1
        seconds = 30 + rounds * run_s
        minutes = say(lang, "minutes") if seconds < 150 else say(lang, "more_minutes", n=round(seconds / 60))
        if search:
            lines += ["", say(lang, "plan_search_estimate", trials=search["num_trials"], steps=steps, minutes=minutes)]
        else:
            lines += ["", say(lang, "plan_estimate", steps=steps, epochs=h["epochs"], per_epoch=per_epoch,
                              minutes=minutes)]
    lines += ["", *[f"⚠️ {w}" for w in plan.get("warnings", [])], say(lang, "plan_confirm")]
    return "\n".join(lines)


def _space(p: dict) -> str:
    if p.get("values") is not None:
        return " / ".join(f"`{v}`" for v in p["values"])
    return f"`{p['low']:g}` – `{p['high']:g}`" + (" (log)" if p.get("log") else "")


class Progress:
    """A job's state folded from its event stream, and how it looks now."""

    def __init__(self, lang: str, job_id: str, epochs: int = 0, words: Optional[dict] = None):
        self.lang, self.job_id, self.words = lang, job_id, words
        self.state, self.message = "pending", ""
        self.epoch, self.epochs, self.step, self.steps = 0, epochs, 0, 0
        self.current = 0  # the epoch in progress (1-based), from the workers' heartbeats
        self.epoch_started: Optional[float] = None
        self.epoch_seconds: list[float] = []
        self.loss: list[dict] = []
        self.metric: list[dict] = []
        self.system: dict = {}
        self.search: Optional[dict] = None  # a search job: what it searches, its trials and the best one
        self.trials: dict[str, dict] = {}
        self.best: Optional[dict] = None

    def add(self, kind: str, ev: dict) -> None:
        if kind == "job" and ev["kind"] == "state":
            self.state, self.message = ev["state"], ev.get("message", "")
        elif kind == "job" and ev["kind"] == "metrics" and ev.get("rank", 0) == 0:
            self.epoch, self.epochs = int(ev["epoch"]), int(ev["epochs"])
            if self.epoch_started is not None:
                self.epoch_seconds.append(ev["time"] - self.epoch_started)
            self.epoch_started = ev["time"]
            for name in ("train_loss", "val_loss"):
                if name in ev:
                    self.loss.append({"epoch": self.epoch, "value": ev[name], "series": name})
            for name, value in ev.items():
                if name.startswith("val_") and name != "val_loss" and isinstance(value, (int, float)):
                    self.metric.append({"epoch": self.epoch, "value": value, "series": name})
        elif kind == "job" and ev["kind"] in ("search_started", "trial", "trial_metrics", "search_done"):
            self._add_search(ev)
        elif kind == "job" and ev["kind"] == "worker_failed":
            error = next(iter(ev.get("errors", {}).values()), "")
            self.message = say(self.lang, "worker_failed" if ev.get("restarting") else "worker_failed_final", error=error)
        elif kind == "job" and ev["kind"] == "driver_lost":
            self.message = say(self.lang, "driver_lost")
        elif kind == "job" and ev["kind"] == "resumed":
            self.message = say(self.lang, "resumed", epoch=ev["from_epoch"])
        elif kind == "telemetry" and ev.get("rank") == 0:
            if ev["kind"] == "progress" and "steps" in ev:
                self.step, self.steps, self.current = ev["step"], int(ev["steps"]), int(ev["epoch"])
                self.epoch_started = self.epoch_started or ev["time"]
                self.loss.append({"epoch": ev["epoch"] - 1 + ev["step"] / max(1, ev["steps"]), "value": ev["loss"],
                                  "series": "step_loss"})
            elif ev["kind"] == "system":
                self.system = ev
            elif ev["kind"] in ("stalled", "recovered"):
                self.message = ev.get("message", ev["kind"])

    def _add_search(self, ev: dict) -> None:
        if ev["kind"] == "search_started":
            self.search = ev
        elif ev["kind"] == "search_done":
            self.best = ev
        elif ev["kind"] == "trial":
            row = self.trials.setdefault(ev["trial"], {"trial": ev["trial"], "epochs": 0, "best": None})
            row.update(state=ev["state"], params=ev.get("params", {}))
        elif ev["trial"] in self.trials and self.search:
            row, metric = self.trials[ev["trial"]], self.search["metric"]
            row["epochs"] = max(row["epochs"], int(ev["epoch"]))
            if ev.get(metric) is not None:
                better = row["best"] is None or (ev[metric] > row["best"]) == (self.search["mode"] == "max")
                row["best"] = ev[metric] if better else row["best"]
                self.metric.append({"epoch": ev["epoch"], "value": ev[metric], "series": ev["trial"]})
            if "val_loss" in ev:
                self.loss.append({"epoch": ev["epoch"], "value": ev["val_loss"], "series": ev["trial"]})

    def _search_lines(self) -> list[str]:
        s, rows = self.search, list(self.trials.values())
        ended = sum(r["state"] in ("finished", "stopped_early", "failed") for r in rows)
        line = say(self.lang, "trials", done=ended, total=s["trials"])
        scored = [r for r in rows if r["best"] is not None]
        if scored:
            top = (max if s["mode"] == "max" else min)(scored, key=lambda r: r["best"])
            line += " · " + say(self.lang, "best_trial", trial=top["trial"], metric=s["metric"], value=top["best"])
        table = [f"| trial | {' | '.join(s['parameters'])} | state | epochs | {s['metric']} |",
                 "|---" * (len(s["parameters"]) + 4) + "|"]
        for r in sorted(rows, key=lambda r: r["trial"]):
            values = " | ".join(_short(r["params"].get(k)) for k in s["parameters"])
            table.append(f"| {r['trial']} | {values} | {r['state']} | {r['epochs']} | {_short(r['best'])} |")
        lines = [line, "\n".join(table)]
        if self.best:
            params = ", ".join(f"{k} {_short(v)}" for k, v in self.best["params"].items())
            lines.append(say(self.lang, "search_done", trial=self.best["best"], params=params,
                             metric=self.best["metric"], value=self.best["value"]))
        return lines

    def status(self) -> str:
        lines = [say(self.lang, "step", state=named(self.words, "state", self.state), message=self.message)]
        if self.search:
            lines += self._search_lines()
        elif self.epochs:
            done = self.epoch / self.epochs
            bar = "█" * round(20 * done) + "░" * (20 - round(20 * done))
            shown = min(self.epochs, max(self.epoch, self.current))
            line = f"{say(self.lang, 'epoch', epoch=shown, epochs=self.epochs)} `{bar}`"
            if self.current > self.epoch and self.steps:
                line += f" · {self.step}/{self.steps}"
            if self.epoch_seconds and self.epoch < self.epochs:
                left = (self.epochs - self.epoch) * sum(self.epoch_seconds) / len(self.epoch_seconds)
                line += " · " + say(self.lang, "remaining", s=round(left))
            lines.append(line)
        lines += self._single_points()
        if self.system:
            text = say(self.lang, "system", cpu=self.system.get("cpu_percent", 0),
                       mem=self.system.get("memory_bytes", 0) / 2**30)
            if "gpu_utilization_percent" in self.system:
                text += say(self.lang, "gpu", util=self.system["gpu_utilization_percent"],
                            gmem=self.system.get("gpu_memory_bytes", 0) / 2**30)
            lines.append(text)
        return "\n\n".join(lines)

    def curves(self) -> tuple[dict, dict]:
        """The loss and metric charts' settings (see :func:`chart`)."""
        empty = {"epoch": [], "value": [], "series": []}
        x, series = say(self.lang, "epoch_axis"), say(self.lang, "series")
        return (chart(pd.DataFrame(self.loss or empty), x, say(self.lang, "loss_axis"), series),
                chart(pd.DataFrame(self.metric or empty), x, say(self.lang, "metric_axis"), series))

    def _single_points(self) -> list[str]:
        """Validation values of series that have one epoch so far: no curve shows them yet."""
        by_series: dict[str, list[dict]] = {}
        for p in self.metric + [p for p in self.loss if p["series"] != "step_loss"]:
            by_series.setdefault(p["series"], []).append(p)
        return [say(self.lang, "one_point", series=name, value=_short(points[-1]["value"]), epoch=points[-1]["epoch"])
                for name, points in by_series.items() if len({p["epoch"] for p in points}) == 1]


def chart(points: pd.DataFrame, x_title: str, y_title: str, color_title: str = "") -> dict:
    """A LinePlot's settings for ``points`` (epoch, value, series): shown, its axes named, once a series
    has two epochs' points; hidden before (a line of one point is an empty frame: the progress line
    says that point instead)."""
    shown = not points.empty and int(points.groupby("series")["epoch"].nunique().max()) >= 2
    return {"value": points, "visible": shown, "x_title": x_title, "y_title": y_title, "color_title": color_title}


def _short(v) -> str:
    return "–" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def result_summary(lang: str, record: dict, metrics: Optional[dict], words: Optional[dict] = None,
                   tracking: Optional[dict] = None) -> str:
    """The ending, the final metrics and the job's MLflow run (the job's ``tracking.json``; its TensorBoard
    folder is a server path, which the UI never shows)."""
    lines = [say(lang, "finished", job=record["job_id"], state=named(words, "state", record["state"]),
                 message=record.get("message", ""))]
    for name, value in (metrics or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            lines.append(say(lang, "headline", name=name, value=f"{value:.4f}" if isinstance(value, float) else value))
    if (tracking or {}).get("mlflow", {}).get("url"):
        lines.append(say(lang, "mlflow_run", url=tracking["mlflow"]["url"]))
    return "\n\n".join(lines)


def result_tables(lang: str, metrics: Optional[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not metrics:
        return pd.DataFrame(), pd.DataFrame()
    names = metrics.get("class_names") or []
    confusion = pd.DataFrame()
    if metrics.get("confusion_matrix"):
        confusion = pd.DataFrame(metrics["confusion_matrix"], columns=names or None)
        confusion.insert(0, say(lang, "true_predicted"), names or range(len(confusion)))
    per_class = metrics.get("per_class") or {}
    rows = [{say(lang, "col_class"): k, **{m: round(v, 4) if isinstance(v, float) else v for m, v in vals.items()}}
            for k, vals in per_class.items()] if isinstance(per_class, dict) else per_class
    return confusion, pd.DataFrame(rows)


def drawn_answers(answer: dict) -> list[tuple]:
    """``POST /predict?draw=true``'s answer as (the image drawn, "name: what it found") per image."""
    import base64
    import io

    from PIL import Image

    from serve_app.client import prediction_line

    return [(Image.open(io.BytesIO(base64.b64decode(p["drawn"]))), f"{p['image']}: {prediction_line(p)}")
            for p in answer["predictions"]]


def compare_view(lang: str, table: dict, words: Optional[dict] = None) -> str:
    """``GET /v1/jobs/compare``'s answer as one table, a column per job: state, model, score (the best in
    bold), time, speed, the settings that differ (⚑), and for classification each class's F1."""
    jobs = table["jobs"]

    def row(name: str, values: list) -> str:
        return f"| {name} | " + " | ".join(str(v) for v in values) + " |"

    def score(r: dict) -> str:
        text = "–" if r["score"] is None else f"{r['headline']} {r['score']:.4g}"
        return f"**{text}**" if r["job_id"] == table["best"] else text

    lines = [row("", [f"`{r['job_id']}`" for r in jobs]), "|---|" + "---|" * len(jobs),
             row(say(lang, "col_model"), [r["model"] for r in jobs]),
             row(say(lang, "row_state"), [named(words, "state", r["state"]) for r in jobs]),
             row(say(lang, "row_score"), [score(r) for r in jobs]),
             row(say(lang, "row_epochs"), [r["epochs"] for r in jobs]),
             row(say(lang, "row_time"), [_short(r["duration_s"]) for r in jobs]),
             row(say(lang, "row_speed"), [_short(r["images_per_s"]) for r in jobs])]
    lines += [row(f"⚑ {k}", [by_job.get(r["job_id"]) for r in jobs]) for k, by_job in table["differences"].items()]
    classes = dict.fromkeys(c for r in jobs for c in r["per_class"] if isinstance(r["per_class"][c], dict)
                            and "f1" in r["per_class"][c])
    lines += [row(f"F1 {c}", [_short((r["per_class"].get(c) or {}).get("f1")) for r in jobs]) for c in classes]
    return "\n".join(lines + ["", say(lang, "compare_note")])


def compare_curves(lang: str, table: dict, metric: Optional[str]) -> dict:
    """One metric's curve per job, overlaid (a LinePlot's settings, see :func:`chart`)."""
    points = [{"epoch": e, "value": v, "series": job} for job, pts in table["curves"].get(metric or "", {}).items()
              for e, v in pts]
    frame = pd.DataFrame(points or {"epoch": [], "value": [], "series": []})
    return chart(frame, say(lang, "epoch_axis"), metric or "", say(lang, "col_job_id"))
