"""Metrics read from a training script's output, for jobs that run the user's own script.

``MetricLineParser().parse(line)`` returns the numbers a line reports, or ``{}``. It reads:

- ``Epoch 5, Loss: 0.234``, ``Epoch 2/10`` and timm's ``Train: 2 [...]`` (the epoch number),
- ``name=value`` and ``name: value`` pairs (``loss=0.21 acc=0.93``, timm's ``Loss: 6.912 (6.93)``),
- percentages as fractions (``val_acc: 95.2%`` gives ``val_acc`` 0.952),
- tqdm postfixes (``... 50/50 [00:02<00:00, 20.1it/s, loss=0.345, acc=0.87]``),
- Hugging Face Trainer's logged dicts (``{'loss': '0.6931', 'learning_rate': '5e-05', 'epoch': '0.5'}``),
- Ultralytics' tables: a header row of column names, then rows of values under it,
- and extra regexes with named groups (``MonitorOptions.patterns``).

Names are lower-cased, with anything but letters, digits and ``_`` turned into ``_``.
"""
from __future__ import annotations

import ast
import re
from typing import Iterable

__all__ = ["MetricLineParser", "metric_name"]

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR = re.compile(rf"(?<![\w@.])([A-Za-z][\w@/-]*?)\s*[:=]\s*({_NUMBER})(%?)(?![\w.:/])")
_EPOCH = re.compile(r"\bepoch\b\s*[:=]?\s*(\d+)|^Train:\s*(\d+)\s*\[", re.IGNORECASE)
_DICT = re.compile(r"\{[^{}]*\}")
_PROGRESS = re.compile(r":?\s*\d+%(?=[\s|]).*$")
_STEP = re.compile(r"(?<![\d.])(\d+)/(\d+)(?![\d.])")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SKIP = {"time", "eta", "data", "train", "test", "val"}


def metric_name(raw: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", raw.strip().lower()).strip("_")


def _number(token: str) -> float | None:
    token = token.strip().rstrip(":,")
    if "/" in token:
        token = token.split("/")[0]
    token = re.sub(r"(?<=\d)[GMK]$", "", token)
    try:
        return float(token)
    except ValueError:
        return None


class MetricLineParser:
    """Stateful only for tables: it remembers the last header row it saw."""

    def __init__(self, patterns: Iterable[str] = ()):
        self.patterns = [re.compile(p) for p in patterns]
        self.header: list[str] | None = None

    def parse(self, line: str) -> dict[str, float]:
        line = next((part.strip() for part in reversed(_ANSI.sub("", line).split("\r")) if part.strip()), "")
        if not line:
            return {}
        out = self._patterns(line)
        if _DICT.search(line):
            return {**self._hf_dict(line), **out}
        bar = _PROGRESS.search(line)
        text, progress = (line[:bar.start()], line[bar.start():]) if bar else (line, "")
        table = self._table(text)
        if table is not None:
            found = table
        else:
            found = self._pairs(text)
            epoch = _EPOCH.search(text)
            if epoch:
                found.setdefault("epoch", float(epoch.group(1) or epoch.group(2)))
        found.update(self._pairs(progress))
        step = _STEP.search(progress.split("%", 1)[-1])
        if step and found:
            found.setdefault("step", float(step.group(1)))
        return {**found, **out}

    def _patterns(self, line: str) -> dict[str, float]:
        out = {}
        for p in self.patterns:
            m = p.search(line)
            if m:
                for name, value in m.groupdict().items():
                    v = _number(value) if value is not None else None
                    if v is not None:
                        out[metric_name(name)] = v
        return out

    @staticmethod
    def _pairs(line: str) -> dict[str, float]:
        out = {}
        for name, value, percent in _PAIR.findall(line):
            key = metric_name(name)
            if key and key not in _SKIP and key not in out:
                out[key] = round(float(value) / 100, 10) if percent else float(value)
        return out

    @staticmethod
    def _hf_dict(line: str) -> dict[str, float]:
        out = {}
        for literal in _DICT.findall(line):
            try:
                data = ast.literal_eval(literal)
            except (ValueError, SyntaxError):
                continue
            if isinstance(data, dict):
                for k, v in data.items():
                    v = None if isinstance(v, bool) else _number(str(v))
                    if v is not None:
                        out[metric_name(str(k))] = v
        return out

    def _table(self, line: str) -> dict[str, float] | None:
        """Ultralytics prints ``Epoch GPU_mem box_loss ...`` and then ``1/3 0G 1.23 ...`` rows;
        ``Class Images Instances Box(P R mAP50 mAP50-95)`` and then ``all 128 929 0.65 ...``."""
        tokens = line.split()
        if len(tokens) >= 3 and all(_number(t) is None for t in tokens):
            header = _columns(tokens)
            if header is not None:
                self.header = header
                return {}
            return None
        if self.header is None or len(tokens) < len(self.header):
            return None
        values = [_number(t) for t in tokens[:len(self.header)]]
        if sum(v is not None for v in values) < len(self.header) - 1:
            return None
        if self.header[0] == "class" and tokens[0] != "all":
            return {}
        return {name: v for name, v in zip(self.header, values) if v is not None and name not in ("class", "size")}


_TABLE_WORDS = {"epoch", "gpu_mem", "box_loss", "cls_loss", "dfl_loss", "seg_loss", "instances", "images", "class"}


def _columns(tokens: list[str]) -> list[str] | None:
    """Column names of an Ultralytics header row, with ``Box(``/``Mask(`` groups as prefixes."""
    names, group = [], ""
    for t in tokens:
        m = re.match(r"^(\w+)\((.*)$", t)
        if m:
            group, t = metric_name(m.group(1)) + "_", m.group(2)
        closes = t.endswith(")") or t.endswith("):")
        t = t.rstrip("):")
        names.append(group + metric_name(t))
        if closes:
            group = ""
    return names if len(_TABLE_WORDS & set(names)) >= 2 else None
