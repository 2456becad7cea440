"""MVTec-style anomaly folders: ``train/good/`` (normal only), ``test/good/`` and ``test/<defect>/``,
optionally ``ground_truth/<defect>/`` masks."""
from __future__ import annotations

import os

from train_jobs.data.formats._index import DatasetIndex, FormatError, Sample, image_files
from train_jobs.data.formats._registry import DatasetFormat, register_format


def _categories(root: str) -> list[str]:
    """The folders of ``root`` that are MVTec categories (MVTec AD as distributed holds 15)."""
    if not os.path.isdir(root):
        return []
    return [d for d in sorted(os.listdir(root)) if os.path.isdir(os.path.join(root, d, "train", "good"))]


def _looks_like(root: str) -> bool:
    return os.path.isdir(os.path.join(root, "train", "good")) or bool(_categories(root))


def read(root: str) -> DatasetIndex:
    if not os.path.isdir(os.path.join(root, "train", "good")):
        found = _categories(root)
        raise FormatError(f"this folder holds {len(found)} MVTec categories ({', '.join(found[:15])}); a model learns "
                          f"what one product looks like: upload one category's folder (e.g. {found[0]}/ with its "
                          "train/ and test/)")
    index = DatasetIndex("mvtec", "anomaly_detection", root, ["good", "anomalous"])
    train_dirs = [d for d in sorted(os.listdir(os.path.join(root, "train"))) if os.path.isdir(os.path.join(root, "train", d))]
    for d in train_dirs:
        if d != "good":
            index.problem("anomaly_in_train", f"train/{d}")
    for img in image_files(os.path.join(root, "train", "good")):
        index.samples.append(Sample(os.path.relpath(img, root), "train", label=0))
    test = os.path.join(root, "test")
    if os.path.isdir(test):
        for d in sorted(os.listdir(test)):
            for img in image_files(os.path.join(test, d)):
                index.samples.append(Sample(os.path.relpath(img, root), "val", label=0 if d == "good" else 1))
    if not index.samples:
        raise FormatError(f"no images under {os.path.join(root, 'train', 'good')!r}")
    return index


register_format(DatasetFormat("mvtec", ("anomaly_detection",), _looks_like, read,
                              layout="MVTec (train/good/ + test/<defect>/)"))
