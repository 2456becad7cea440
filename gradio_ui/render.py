"""What the UI shows, from what the API answers: pure functions, no HTTP, no Gradio state."""
from __future__ import annotations

import math
from typing import Optional

import pandas as pd

from gradio_ui.text import say

__all__ = ["Progress", "dataset_report", "plan_card", "result_tables", "result_summary"]

def dataset_report(lang: str, answer: dict) -> str:
    report = answer["report"]
    lines = [say(lang, "uploaded", name=answer["name"], id=answer["dataset_id"]), "", report["summary"]]
    if not report["ok"]:
        lines.insert(1, say(lang, "upload_blocked"))
    return "\n".join(lines)


def plan_card(lang: str, plan: dict, images: Optional[int] = None, health: Optional[str] = None) -> str:
    cfg, defaults, notes = plan["config"], set(plan["defaults"]), plan.get("notes", {})
    model = f"{cfg['model']['source']}/{cfg['model']['name']}"
    why = say(lang, "plan_why_default" if "model.name" in defaults else "plan_why_stated")
    lines = [say(lang, "plan_title"), "", say(lang, "plan_task", task=cfg["task"]), "",
             say(lang, "plan_model", model=model, why=why), "", say(lang, "plan_dataset", uri=cfg["dataset"]["uri"])]
    if health:
        lines += ["", *[f"> {line}" for line in health.splitlines()]]
    if cfg.get("class_names"):
        lines += ["", say(lang, "plan_classes", classes=", ".join(cfg["class_names"]))]
    for section, title in (("hyperparameters", "plan_hyper"), ("resources", "plan_resources")):
        lines += ["", say(lang, title), "", "| | |", "|---|---|"]
        for key, value in cfg[section].items():
            path = f"{section}.{key}"
            tag = f" *({say(lang, 'default')}: {notes[path]})*" if path in notes else (
                f" *({say(lang, 'default')})*" if path in defaults else "")
            lines.append(f"| {key} | `{value}`{tag} |")
    h = cfg["hyperparameters"]
    if images:
        per_epoch = max(1, math.ceil(images / max(1, cfg["resources"]["num_workers"]) / h["batch_size"]))
        steps = per_epoch * h["epochs"]
        # about 0.2 s a step on a CPU worker, 0.05 s on a GPU, plus a minute to start and export
        seconds = 60 + steps * (0.05 if cfg["resources"].get("use_gpu") else 0.2)
        minutes = say(lang, "minutes") if seconds < 150 else say(lang, "more_minutes", n=round(seconds / 60))
        lines += ["", say(lang, "plan_estimate", steps=steps, epochs=h["epochs"], per_epoch=per_epoch, minutes=minutes)]
    lines += ["", *[f"⚠️ {w}" for w in plan.get("warnings", [])], say(lang, "plan_confirm")]
    return "\n".join(lines)


class Progress:
    """A job's state folded from its event stream, and how it looks now."""

    def __init__(self, lang: str, job_id: str, epochs: int = 0):
        self.lang, self.job_id = lang, job_id
        self.state, self.message = "pending", ""
        self.epoch, self.epochs, self.step, self.steps = 0, epochs, 0, 0
        self.current = 0  # the epoch in progress (1-based), from the workers' heartbeats
        self.epoch_started: Optional[float] = None
        self.epoch_seconds: list[float] = []
        self.loss: list[dict] = []
        self.metric: list[dict] = []
        self.system: dict = {}

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

    def status(self) -> str:
        lines = [say(self.lang, "step", state=self.state, message=self.message)]
        if self.epochs:
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
        if self.system:
            text = say(self.lang, "system", cpu=self.system.get("cpu_percent", 0),
                       mem=self.system.get("memory_bytes", 0) / 2**30)
            if "gpu_utilization_percent" in self.system:
                text += say(self.lang, "gpu", util=self.system["gpu_utilization_percent"],
                            gmem=self.system.get("gpu_memory_bytes", 0) / 2**30)
            lines.append(text)
        return "\n\n".join(lines)

    def curves(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        empty = {"epoch": [], "value": [], "series": []}
        return pd.DataFrame(self.loss or empty), pd.DataFrame(self.metric or empty)


def result_summary(lang: str, record: dict, metrics: Optional[dict]) -> str:
    lines = [say(lang, "finished", job=record["job_id"], state=record["state"], message=record.get("message", ""))]
    for name, value in (metrics or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            lines.append(say(lang, "headline", name=name, value=f"{value:.4f}" if isinstance(value, float) else value))
    return "\n\n".join(lines)


def result_tables(metrics: Optional[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not metrics:
        return pd.DataFrame(), pd.DataFrame()
    names = metrics.get("class_names") or []
    confusion = pd.DataFrame()
    if metrics.get("confusion_matrix"):
        confusion = pd.DataFrame(metrics["confusion_matrix"], columns=names or None)
        confusion.insert(0, "true \\ predicted", names or range(len(confusion)))
    per_class = metrics.get("per_class") or {}
    rows = [{"class": k, **{m: round(v, 4) if isinstance(v, float) else v for m, v in vals.items()}}
            for k, vals in per_class.items()] if isinstance(per_class, dict) else per_class
    return confusion, pd.DataFrame(rows)
