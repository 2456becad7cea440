"""Dataset formats register a reader (and a writer where conversion makes sense) by name."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from train_jobs.data.formats._index import DatasetIndex, FormatError

__all__ = ["DatasetFormat", "detect_format", "get_format", "list_formats", "register_format"]


@dataclass(frozen=True)
class DatasetFormat:
    name: str
    tasks: tuple[str, ...]
    looks_like: Callable[[str], bool]
    read: Callable[[str], DatasetIndex]
    write: Optional[Callable[[DatasetIndex, str], None]] = None


_FORMATS: dict[str, DatasetFormat] = {}


def register_format(fmt: DatasetFormat) -> DatasetFormat:
    _FORMATS[fmt.name] = fmt
    return fmt


def list_formats() -> list[str]:
    return list(_FORMATS)


def get_format(name: str) -> DatasetFormat:
    if name not in _FORMATS:
        raise FormatError(f"unknown dataset format {name!r}; known: {', '.join(_FORMATS)}")
    return _FORMATS[name]


def detect_format(root: str) -> DatasetFormat:
    """The first registered format whose layout ``root`` has (more specific formats register first)."""
    for fmt in _FORMATS.values():
        if fmt.looks_like(root):
            return fmt
    raise FormatError(
        f"cannot tell the format of {root!r}. Expected one of: ImageFolder (one folder per class), "
        "YOLO (data.yaml + images/ + labels/), COCO (a JSON with images/annotations/categories), "
        "Pascal VOC (Annotations/*.xml + JPEGImages/), masks (images/ + masks/), MVTec (train/good/)"
    )
