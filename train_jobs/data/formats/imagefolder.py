"""ImageFolder for classification: ``root/<class>/*`` or ``root/{train,val}/<class>/*``."""
from __future__ import annotations

import os

from train_jobs.data.formats._index import DatasetIndex, FormatError, Sample, image_files
from train_jobs.data.formats._registry import DatasetFormat, register_format

VAL_NAMES = ("val", "valid", "validation")


def _subdirs(path: str) -> list[str]:
    return sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)) and not d.startswith("."))


def read(root: str) -> DatasetIndex:
    dirs = _subdirs(root)
    splits = {"train": os.path.join(root, "train")} if "train" in dirs else {"train": root}
    for v in VAL_NAMES:
        if v in dirs and "train" in dirs:
            splits["val"] = os.path.join(root, v)
    names = _subdirs(splits["train"])
    if not names:
        raise FormatError(f"no class folders in {splits['train']!r}: ImageFolder has one folder per class")
    index = DatasetIndex("imagefolder", "classification", root, names)
    for split, base in splits.items():
        for name in _subdirs(base):
            if name not in names:
                index.problem("unknown_class_folder", os.path.relpath(os.path.join(base, name), root))
                continue
            for img in image_files(os.path.join(base, name)):
                index.samples.append(Sample(os.path.relpath(img, root), split, label=names.index(name)))
        for f in sorted(os.listdir(base)):
            if os.path.isfile(os.path.join(base, f)) and not f.startswith("."):
                index.problem("file_outside_class_folder", os.path.relpath(os.path.join(base, f), root))
    return index


register_format(DatasetFormat("imagefolder", ("classification",),
                              lambda root: os.path.isdir(root) and bool(_subdirs(root)), read,
                              layout="ImageFolder (one folder per class)"))
