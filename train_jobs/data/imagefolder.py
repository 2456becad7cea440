"""ImageFolder datasets: ``root/<class>/*.png`` or ``root/{train,val}/<class>/*``."""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Optional

from PIL import Image

__all__ = ["IMAGE_EXTENSIONS", "DatasetError", "ImageFolderIndex", "scan_imagefolder", "load_rgb"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
VAL_NAMES = ("val", "valid", "validation")
MAX_IMAGE_PIXELS = 64_000_000


class DatasetError(ValueError):
    """A dataset the job cannot train on; the message says what is wrong and what to do."""


@dataclass
class ImageFolderIndex:
    root: str
    class_names: list[str]
    train: list[tuple[str, int]] = field(default_factory=list)
    val: list[tuple[str, int]] = field(default_factory=list)
    split_given: bool = False

    def counts(self) -> dict[str, dict[str, int]]:
        out = {}
        for split, items in (("train", self.train), ("val", self.val)):
            per = {c: 0 for c in self.class_names}
            for _, label in items:
                per[self.class_names[label]] += 1
            out[split] = per
        return out


def _class_dirs(root: str) -> list[str]:
    return sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))


def _images(folder: str) -> list[str]:
    files = []
    for dirpath, _, names in os.walk(folder):
        files += [os.path.join(dirpath, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(files)


def _split_folders(root: str) -> tuple[Optional[str], Optional[str]]:
    subdirs = _class_dirs(root)
    train = os.path.join(root, "train") if "train" in subdirs else None
    val = next((os.path.join(root, v) for v in VAL_NAMES if v in subdirs), None)
    return train, val


def scan_imagefolder(root: str, class_names: Optional[list[str]] = None,
                     val_fraction: float = 0.2, seed: int = 0) -> ImageFolderIndex:
    """Index an ImageFolder dataset; split it per class (reproducibly) when it has no val split."""
    if not os.path.isdir(root):
        raise DatasetError(
            f"dataset folder {root!r} does not exist on this node; check dataset.uri, "
            "or upload the dataset and use its id"
        )
    train_dir, val_dir = _split_folders(root)
    base = train_dir or root
    found = _class_dirs(base)
    if not found:
        raise DatasetError(
            f"no class folders in {base!r}: an ImageFolder dataset has one folder per class "
            "(root/cat/*.jpg, root/dog/*.jpg), optionally under train/ and val/"
        )
    if class_names is not None and set(class_names) != set(found):
        missing, extra = sorted(set(class_names) - set(found)), sorted(set(found) - set(class_names))
        raise DatasetError(
            f"class names in the config do not match the dataset folders in {base!r}: "
            f"missing folders {missing}, folders not in the config {extra}; "
            "fix class_names in the config, or leave it out to use the folder names"
        )
    names = list(class_names) if class_names is not None else found
    index = ImageFolderIndex(root=root, class_names=names, split_given=bool(train_dir and val_dir))
    rng = random.Random(seed)
    for label, name in enumerate(names):
        files = _images(os.path.join(base, name))
        if not files:
            raise DatasetError(f"class {name!r} has no images in {os.path.join(base, name)!r} ({', '.join(IMAGE_EXTENSIONS)})")
        if index.split_given:
            index.train += [(f, label) for f in files]
            val_files = _images(os.path.join(val_dir, name)) if os.path.isdir(os.path.join(val_dir, name)) else []
            index.val += [(f, label) for f in val_files]
        else:
            rng.shuffle(files)
            n_val = max(1, int(round(len(files) * val_fraction))) if len(files) > 1 else 0
            index.val += [(f, label) for f in sorted(files[:n_val])]
            index.train += [(f, label) for f in sorted(files[n_val:])]
    if not index.val:
        raise DatasetError(f"no validation images in {root!r}: add a val/ split or more images per class")
    return index


def load_rgb(path: str, size: int) -> Image.Image:
    """Open an image safely (pixel limit against decompression bombs) as RGB at ``size`` x ``size``."""
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    with Image.open(path) as img:
        img.draft("RGB", (size, size))
        return img.convert("RGB").resize((size, size), Image.BILINEAR)
