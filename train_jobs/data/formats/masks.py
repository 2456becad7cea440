"""Semantic segmentation masks: ``images/[split/]x.jpg`` with ``masks/[split/]x.png`` holding class ids
(or ADE20K's layout: ``annotations/`` for ``masks/``, ``training``/``validation`` for the splits). Class
names come from ``classes.txt`` (one per line), or ADE20K's ``objectInfo150.csv`` (0 is "other").
A palette PNG's pixels are its palette indices: the class ids, whatever colours the palette shows."""
from __future__ import annotations

import csv
import os

from PIL import Image

from train_jobs.data.formats._index import SPLITS, DatasetIndex, FormatError, Sample, image_files
from train_jobs.data.formats._registry import DatasetFormat, register_format

__all__ = ["class_ids"]

def class_ids(mask: Image.Image) -> Image.Image:
    """A mask as an image of class ids: palette and grey images as they are (a palette image's pixels are
    its indices), anything else as grey."""
    return mask if mask.mode in ("L", "P") else mask.convert("L")


def _mask_folder(root: str) -> str | None:
    """``masks/``, or an ``annotations/`` that holds PNGs (COCO's holds JSON)."""
    if os.path.isdir(os.path.join(root, "masks")):
        return os.path.join(root, "masks")
    folder = os.path.join(root, "annotations")
    if os.path.isdir(folder) and any(n.lower().endswith(".png") for _, _, files in os.walk(folder) for n in files):
        return folder
    return None


def _looks_like(root: str) -> bool:
    return os.path.isdir(os.path.join(root, "images")) and _mask_folder(root) is not None


def _names(root: str) -> list[str]:
    names_file, ade = os.path.join(root, "classes.txt"), os.path.join(root, "objectInfo150.csv")
    if os.path.isfile(names_file):
        with open(names_file, encoding="utf-8") as f:
            return [ln.strip() for ln in f if ln.strip()]
    if os.path.isfile(ade):
        with open(ade, encoding="utf-8", newline="") as f:
            rows = sorted(((int(r["Idx"]), r["Name"].split(";")[0].strip()) for r in csv.DictReader(f)))
        return ["other", *[name for _, name in rows]]
    return []


def read(root: str) -> DatasetIndex:
    index = DatasetIndex("mask", "segmentation", root, _names(root))
    folder = _mask_folder(root) or os.path.join(root, "masks")
    masks = {os.path.splitext(os.path.relpath(m, folder))[0]: m for m in image_files(folder)}
    for img in image_files(os.path.join(root, "images")):
        rel = os.path.relpath(img, os.path.join(root, "images"))
        top = rel.split(os.sep)[0] if os.sep in rel else ""
        mask = masks.get(os.path.splitext(rel)[0])
        index.samples.append(Sample(os.path.relpath(img, root), SPLITS.get(top, "train"),
                                    mask=os.path.relpath(mask, root) if mask else None))
    if not index.samples:
        raise FormatError(f"no images under {os.path.join(root, 'images')!r}")
    return index


register_format(DatasetFormat("mask", ("segmentation",), _looks_like, read,
                              layout="masks (images/ + masks/ or annotations/ + classes.txt)", masks=True))
