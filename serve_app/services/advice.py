"""Advice read from the model registry's metadata, never from a language model's memory: what models
are (parameters, input size, tasks, relative compute) and which one suits a task, its data and the
cluster. The plan's choice of model when the user names none is ``recommend``'s."""
from __future__ import annotations

from serve_app.intent._models import SUGGESTED
from serve_app.services.registry import describe_model
from train_jobs.data.formats import FORMATS, get_format
from visiontrain.messages import say

__all__ = ["LARGE_DATASET", "about_models", "recommend"]

LARGE_DATASET = 5000  # images: from here, with a GPU, the larger suggested model has the data to learn more
SMALL_MODEL, LARGE_MODEL = 5e6, 30e6  # parameters: what a model is for, by its size


def _split(ref: str) -> tuple[str, str]:
    source, _, name = ref.partition("/")
    return source, name


def _millions(meta: dict) -> str:
    return f"{meta['params'] / 1e6:.1f}M"


def recommend(task: str, report: dict, gpus: float, lang: str = "en") -> tuple[str, str, str]:
    """``(source, name, why)``: the task's small suggested model, or its larger one where the dataset (its
    health ``report``, {} when there is none) has LARGE_DATASET images or more and the cluster a GPU.
    Segmentation labelled with outlines rather than masks is instance segmentation."""
    fmt, images = report.get("format"), report.get("images")
    outlines = fmt in FORMATS and not get_format(fmt).masks
    kind = "instance_segmentation" if task == "segmentation" and outlines else task
    small, large = (describe_model(*_split(ref)) for ref in SUGGESTED[kind])
    values = {"small": small["name"], "small_params": _millions(small), "large": large["name"],
              "large_params": _millions(large), "images": images, "big": LARGE_DATASET}
    if gpus and images and images >= LARGE_DATASET:
        return large["source"], large["name"], say("advice.large", lang, **values)
    why = "advice.cpu" if not gpus else "advice.no_data" if not images else "advice.small_data"
    return small["source"], small["name"], say(why, lang, **values)


def about_models(refs: list[str], lang: str = "en") -> str:
    """What each model is, and for two or more, how the others compare with the smallest."""
    metas = [describe_model(*_split(ref)) for ref in refs]
    lines = []
    for m in metas:
        use = "advice.for_small" if m["params"] < SMALL_MODEL else "advice.for_large" if m["params"] > LARGE_MODEL \
            else "advice.for_medium"
        tasks = ", ".join(say(f"task.{t}", lang) for t in m["tasks"])
        lines.append(say("advice.model", lang, model=m["name"], source=m["source"], params=_millions(m),
                         size=m["default_image_size"], tasks=tasks, use=say(use, lang)))
    if len(metas) > 1:
        base = min(metas, key=lambda m: m["params"])
        for m in metas:
            if m is not base:
                lines.append(say("advice.relative", lang, model=m["name"], base=base["name"],
                                 ratio=f"{m['params'] / base['params']:.1f}"))
    return "\n".join(lines)
