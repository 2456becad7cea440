"""The one in-memory shape every dataset format is read into and written from."""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional
from visiontrain.errors import VisiontrainError

__all__ = ["Box", "DatasetIndex", "FormatError", "Sample", "box_iou", "copy_names", "dataset_file", "image_files",
           "DATA_EXTENSIONS", "IMAGE_EXTENSIONS", "SPLITS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
# Label and metadata files of the supported formats (YOLO .txt/.yaml, COCO .json, VOC .xml, classes.txt),
# all read as data. A stored dataset holds only these and images: nothing a loader could unpickle.
LABEL_EXTENSIONS = (".txt", ".json", ".xml", ".yaml", ".yml")
DATA_EXTENSIONS = IMAGE_EXTENSIONS + LABEL_EXTENSIONS
# A split folder's name as datasets spell it (ADE20K: training, validation) and the split it holds
SPLITS = {"train": "train", "training": "train", "val": "val", "validation": "val", "test": "test"}


class FormatError(VisiontrainError, ValueError):
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
    ignored: list[Box] = field(default_factory=list)  # COCO crowds, VOC difficult: not learnt, not counted against a model
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
    metadata: dict = field(default_factory=dict)  # what the format's files say beyond the data (a tool's notes)

    def problem(self, code: str, example: Optional[str], **extra) -> None:
        self.problems.append({"code": code, "example": example, **extra})

    def path(self, sample: Sample) -> str:
        return os.path.join(self.root, sample.image)

    def splits(self) -> list[str]:
        return sorted({s.split for s in self.samples})


def box_iou(a, b):
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), x1 y1 x2 y2 (numpy arrays)."""
    import numpy as np

    lo, hi = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(hi - lo, 0, None).prod(2)
    area = lambda x: (x[:, 2:] - x[:, :2]).clip(0).prod(1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def dataset_file(root: str, name: str, what: str) -> str:
    """The path of ``name`` (a path a dataset file wrote, relative to ``root``) when it is a regular
    file inside ``root``; FormatError naming ``what`` otherwise. Links are resolved before the check,
    and devices, FIFOs and sockets are never opened."""
    name = str(name).replace("\\", "/")
    if "\x00" in name or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
        raise FormatError(f"{what} {name!r} is not a path inside the dataset; write it relative to the dataset's folder")
    real_root = os.path.realpath(root)
    path = os.path.realpath(os.path.join(real_root, name))
    if os.path.commonpath([real_root, path]) != real_root:
        raise FormatError(f"{what} {name!r} points outside the dataset; every path in a dataset must stay inside it")
    if os.path.exists(path) and not (os.path.isfile(path) or os.path.isdir(path)):
        raise FormatError(f"{what} {name!r} is not a regular file")
    return os.path.normpath(os.path.join(root, name))


def image_files(folder: str) -> list[str]:
    """Image files under ``folder`` (regular files only; links to folders are not followed)."""
    out = []
    for dirpath, _, names in os.walk(folder):
        out += [p for n in names if n.lower().endswith(IMAGE_EXTENSIONS)
                and os.path.isfile(p := os.path.join(dirpath, n)) and not os.path.islink(p)]
    return sorted(out)


def copy_names(samples: list[Sample], per_split: bool = True) -> list[str]:
    """A file name for each sample's image in a converted copy (one folder per split, or one for all):
    its own name, or where two images would share a folder and a name (``a/0001.jpg``,
    ``b/0001.jpg``), its path in the dataset with ``__`` for ``/``."""
    def key(s: Sample) -> tuple[str, str]:
        return (s.split if per_split else "", os.path.basename(s.image))

    taken = Counter(key(s) for s in samples)
    return [os.path.basename(s.image) if taken[key(s)] == 1 else s.image.replace(os.sep, "/").replace("/", "__")
            for s in samples]
