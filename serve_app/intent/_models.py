"""Model names as people write them ("ResNet-50", "레즈넷50", "YOLOv8 nano", "SegFormer b0"),
resolved through the adapter registry to canonical names, with the closest names when none fits."""
from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass, field
from typing import Optional

__all__ = ["SUGGESTED", "ModelMatch", "find_models", "model_tasks", "normalise", "suggest", "task_variant"]

# Per task (instance segmentation apart): a small model and a larger one, as "source/name". The plan
# picks one when the user names none (serve_app/services/advice.py says why); the parser offers them.
SUGGESTED = {
    "classification": ("timm/resnet18", "timm/resnet50"),
    "detection": ("ultralytics/yolov8n", "ultralytics/yolov8s"),
    "segmentation": ("huggingface/nvidia/mit-b0", "huggingface/nvidia/mit-b2"),
    "instance_segmentation": ("ultralytics/yolov8n-seg", "ultralytics/yolov8s-seg"),
    "anomaly_detection": ("timm/resnet18", "timm/wide_resnet50_2"),
}

SOURCE_ORDER = ("timm", "ultralytics", "huggingface")  # who wins when two sources share a name
SIZE_WORDS = {"nano": "n", "small": "s", "medium": "m", "large": "l", "xlarge": "x", "huge": "x"}
FAMILY = re.compile(r"^(resnet|resnext|efficientnet|mobilenet|yolo|vit|convnext|segformer|swin|deit|densenet|vgg|"
                    r"regnet|inception|xception|beit|mit|ghostnet|mobilevit|efficientvit|rtdetr|dinov\d)")
_PREFERRED = {  # a family (and size) as people say it -> the name they almost always mean
    "resnet": "resnet50", "resnext": "resnext50_32x4d", "efficientnet": "efficientnet_b0",
    "efficientnetv2": "efficientnetv2_s", "mobilenet": "mobilenetv3_large_100", "mobilenetv2": "mobilenetv2_100",
    "mobilenetv3": "mobilenetv3_large_100", "mobilenetv3small": "mobilenetv3_small_100",
    "mobilenetv3large": "mobilenetv3_large_100", "convnext": "convnext_tiny", "vit": "vit_base_patch16_224",
    "swin": "swin_tiny_patch4_window7_224", "deit": "deit_small_patch16_224", "densenet": "densenet121",
    "vgg": "vgg16", "inception": "inception_v3", "yolo": "yolov8n", "yolov8": "yolov8n", "yolo8": "yolov8n",
    "yolo11": "yolo11n", "yolov11": "yolo11n", "segformer": "nvidia/mit-b0",
    **{f"{fam}{size}": f"{fam}_{size}_patch16_224" for fam in ("vit", "deit") for size in ("tiny", "small", "base", "large")},
    **{f"vit{s}{p}": f"vit_{size}_patch{p}_224" for s, size in (("s", "small"), ("b", "base"), ("l", "large"))
       for p in (16, 32)},
    **{f"swin{size}": f"swin_{size}_patch4_window7_224" for size in ("tiny", "small", "base", "large")},
    **{f"segformerb{i}": f"nvidia/mit-b{i}" for i in range(6)},
    **{f"segformermitb{i}": f"nvidia/mit-b{i}" for i in range(6)},
}
VARIANT = re.compile(r"^(b\d+|v\d+|\d+[a-z]?|[nsmlx]|nano|small|medium|large|xlarge|tiny|base)$")
STOP_AFTER = re.compile(r"^(epochs?|에폭|에포크|ep|batch|배치|classes|class|개|종류|가지|workers?|gpus?|px|회|번)$")


@dataclass
class ModelMatch:
    """One model mention: ``source``/``name`` when resolved, else ``suggestions``."""
    text: str
    source: Optional[str] = None
    name: Optional[str] = None
    suggestions: list[str] = field(default_factory=list)
    start: int = 0
    end: int = 0


def normalise(s: str) -> str:
    """A name without case, spaces or punctuation: "ResNet-50" and "resnet_50" are both "resnet50"."""
    return re.sub(r"[^a-z0-9]", "", s.lower())


@functools.lru_cache(maxsize=1)
def _index() -> dict[str, tuple[str, str]]:
    from adapters import get_adapter, list_adapters

    index: dict[str, tuple[str, str]] = {}
    sources = sorted(list_adapters(), key=lambda s: SOURCE_ORDER.index(s) if s in SOURCE_ORDER else 99)
    for source in sources:
        for name in get_adapter(source).model_names():
            keys = [normalise(name)]
            if "/" in name:
                keys.append(normalise(name.split("/", 1)[1]))
            if m := re.fullmatch(r"yolo(v?)(\d+)(.*)", name):
                keys.append(normalise(f"yolo{'' if m[1] else 'v'}{m[2]}{m[3]}"))
            for key in keys:
                index.setdefault(key, (source, name))
    by_name = {name: source for source, name in index.values()}
    for alias, name in _PREFERRED.items():
        if name in by_name:
            index.setdefault(alias, (by_name[name], name))
    return index


def suggest(text: str, n: int = 5) -> list[str]:
    index = _index()
    keys = difflib.get_close_matches(normalise(text), list(index), n=n, cutoff=0.6)
    return list(dict.fromkeys(index[k][1] for k in keys))


def find_models(text: str) -> list[ModelMatch]:
    """Model mentions in ``text`` (lower-case, Korean names already transliterated), left to right."""
    index = _index()
    tokens = [(m.group(), m.start(), m.end()) for m in re.finditer(r"[a-z0-9]+(?:[._\-/][a-z0-9]+)*|[^\sa-z0-9]+", text)]
    found: list[ModelMatch] = []
    i = 0
    while i < len(tokens):
        word = tokens[i][0]
        if not re.match(r"[a-z]", word):
            i += 1
            continue
        hit = None
        for length in range(min(4, len(tokens) - i), 0, -1):
            span = [t[0] for t in tokens[i:i + length]]
            if not all(re.fullmatch(r"[a-z0-9._\-/]+", t) for t in span):
                continue
            nxt = tokens[i + length][0] if i + length < len(tokens) else ""
            if length > 1 and span[-1].isdigit() and STOP_AFTER.match(nxt):
                continue
            for key in (normalise("".join(span)), normalise("".join(SIZE_WORDS.get(t, t) for t in span))):
                if key in index:
                    hit = (index[key], length)
                    break
            if hit:
                break
        if hit:
            (source, name), length = hit
            start, end = tokens[i][1], tokens[i + length - 1][2]
            if length == 1 and word.isalpha() and _variant_follows(tokens, i + 1):
                end = tokens[i + 1][2]  # "efficientnet b9": a variant that does not exist, not the family default
                found.append(ModelMatch(text[start:end], suggestions=suggest(text[start:end]), start=start, end=end))
                i += 2
                continue
            found.append(ModelMatch(text[start:end], source, name, start=start, end=end))
            i += length
            continue
        if FAMILY.match(word) and any(c.isdigit() for c in word):
            found.append(ModelMatch(word, suggestions=suggest(word), start=tokens[i][1], end=tokens[i][2]))
        i += 1
    return found


def _variant_follows(tokens: list, j: int) -> bool:
    if j >= len(tokens) or not VARIANT.match(tokens[j][0]):
        return False
    return not (j + 1 < len(tokens) and STOP_AFTER.match(tokens[j + 1][0]))


def model_tasks(source: str, name: str) -> list[str]:
    from adapters import get_adapter

    return get_adapter(source).model_tasks(name)


def task_variant(source: str, name: str, task: str) -> Optional[str]:
    """The same model for ``task`` ("yolov8n" for segmentation is "yolov8n-seg"), or None."""
    if task in model_tasks(source, name):
        return name
    if source == "ultralytics":
        base = name.removesuffix("-seg")
        other = base + "-seg" if task == "segmentation" else base
        from adapters import get_adapter

        if other in get_adapter(source).model_names() and task in model_tasks(source, other):
            return other
    return None
