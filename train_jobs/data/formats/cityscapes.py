"""Cityscapes as distributed: ``leftImg8bit/<split>/<city>/<name>_leftImg8bit.png`` with
``gtFine/<split>/<city>/<name>_gtFine_labelTrainIds.png`` (the 19 classes the benchmark trains, 255
ignored; written by cityscapesScripts' createTrainIdLabelImgs) or, where those are not there,
``..._gtFine_labelIds.png`` (the 34 label ids, as they are)."""
from __future__ import annotations

import os

from train_jobs.data.formats._index import SPLITS, DatasetIndex, FormatError, Sample, image_files
from train_jobs.data.formats._registry import DatasetFormat, register_format

TRAIN_NAMES = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
               "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"]
LABEL_NAMES = ["unlabeled", "ego vehicle", "rectification border", "out of roi", "static", "dynamic", "ground", "road",
               "sidewalk", "parking", "rail track", "building", "wall", "fence", "guard rail", "bridge", "tunnel", "pole",
               "polegroup", "traffic light", "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
               "truck", "bus", "caravan", "trailer", "train", "motorcycle", "bicycle"]
IMAGE_SUFFIX = "_leftImg8bit"


def _looks_like(root: str) -> bool:
    return os.path.isdir(os.path.join(root, "leftImg8bit")) and os.path.isdir(os.path.join(root, "gtFine"))


def read(root: str) -> DatasetIndex:
    images = image_files(os.path.join(root, "leftImg8bit"))
    if not images:
        raise FormatError(f"no images under {os.path.join(root, 'leftImg8bit')!r}")
    found = {kind: [] for kind in ("labelTrainIds", "labelIds")}
    for img in images:
        rel = os.path.relpath(img, os.path.join(root, "leftImg8bit"))
        stem = os.path.splitext(rel)[0].removesuffix(IMAGE_SUFFIX)
        for kind in found:
            mask = os.path.join(root, "gtFine", f"{stem}_gtFine_{kind}.png")
            found[kind].append(os.path.relpath(mask, root) if os.path.isfile(mask) else None)
    kind = "labelTrainIds" if any(found["labelTrainIds"]) else "labelIds"
    index = DatasetIndex("cityscapes", "segmentation", root, TRAIN_NAMES if kind == "labelTrainIds" else LABEL_NAMES)
    for img, mask in zip(images, found[kind]):
        split = os.path.relpath(img, os.path.join(root, "leftImg8bit")).split(os.sep)[0]
        index.samples.append(Sample(os.path.relpath(img, root), SPLITS.get(split, "train"), mask=mask))
    return index


register_format(DatasetFormat("cityscapes", ("segmentation",), _looks_like, read,
                              layout="Cityscapes (leftImg8bit/ + gtFine/)", masks=True))
