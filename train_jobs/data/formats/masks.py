"""Semantic segmentation masks: ``images/[split/]x.png`` with ``masks/[split/]x.png`` holding class ids.
Class names come from ``classes.txt`` (one per line) when present."""
from __future__ import annotations

import os

from train_jobs.data.formats._index import DatasetIndex, FormatError, Sample, image_files
from train_jobs.data.formats._registry import DatasetFormat, register_format


def _looks_like(root: str) -> bool:
    return os.path.isdir(os.path.join(root, "images")) and os.path.isdir(os.path.join(root, "masks"))


def read(root: str) -> DatasetIndex:
    names_file = os.path.join(root, "classes.txt")
    names = []
    if os.path.isfile(names_file):
        with open(names_file, encoding="utf-8") as f:
            names = [ln.strip() for ln in f if ln.strip()]
    index = DatasetIndex("mask", "segmentation", root, names)
    masks = {os.path.splitext(os.path.relpath(m, os.path.join(root, "masks")))[0]: m
             for m in image_files(os.path.join(root, "masks"))}
    for img in image_files(os.path.join(root, "images")):
        rel = os.path.relpath(img, os.path.join(root, "images"))
        split = rel.split(os.sep)[0] if os.sep in rel and rel.split(os.sep)[0] in ("train", "val", "test") else "train"
        mask = masks.get(os.path.splitext(rel)[0])
        sample = Sample(os.path.relpath(img, root), split, mask=os.path.relpath(mask, root) if mask else None)
        index.samples.append(sample)
    if not index.samples:
        raise FormatError(f"no images under {os.path.join(root, 'images')!r}")
    return index


register_format(DatasetFormat("mask", ("segmentation",), _looks_like, read,
                              layout="masks (images/ + masks/ + classes.txt)"))
