"""The one in-memory shape every dataset format is read into and written from."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

__all__ = ["Box", "DatasetIndex", "FormatError", "Sample", "image_files", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


class FormatError(ValueError):
    """Files that cannot be read as the format they claim to be; says what is wrong and where."""


@dataclass
class Box:
    """A labelled box in pixels (x1, y1) top-left, (x2, y2) bottom-right; polygon optional (pixels)."""

    class_id: int
    x1: float
    y1: float
    x2: float
    y2: float
    polygon: Optional[list[tuple[float, float]]] = None


@dataclass
class Sample:
    image: str                      # path relative to the dataset root
    split: str = "train"            # train | val | test
    label: Optional[int] = None     # classification / anomaly (0 normal, 1 anomalous)
    boxes: list[Box] = field(default_factory=list)
    mask: Optional[str] = None      # relative path of a class-index mask (semantic segmentation)
    label_file: Optional[str] = None
    label_file_empty: bool = False
    width: Optional[int] = None
    height: Optional[int] = None


@dataclass
class DatasetIndex:
    format: str
    task: str
    root: str
    class_names: list[str]
    samples: list[Sample] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)   # raw findings met while parsing

    def problem(self, code: str, example: str, **extra) -> None:
        self.problems.append({"code": code, "example": example, **extra})

    def path(self, sample: Sample) -> str:
        return os.path.join(self.root, sample.image)

    def splits(self) -> list[str]:
        return sorted({s.split for s in self.samples})


def image_files(folder: str) -> list[str]:
    out = []
    for dirpath, _, names in os.walk(folder):
        out += [os.path.join(dirpath, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(out)
