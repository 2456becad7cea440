"""ImageFolder datasets: ``root/<class>/*.png`` or ``root/{train,val}/<class>/*``."""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Optional

from PIL import Image

from train_jobs.onnx_predict import RESAMPLE, upright_rgb
from visiontrain.errors import VisiontrainError

__all__ = ["DatasetError", "ImageFolderIndex", "ImageRefused", "captioned", "decode_images", "load_rgb", "png_base64",
           "scan_imagefolder"]

MAX_IMAGE_PIXELS = 64_000_000


class DatasetError(VisiontrainError, ValueError):
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


def scan_imagefolder(root: str, class_names: Optional[list[str]] = None,
                     val_fraction: float = 0.2, seed: int = 0) -> ImageFolderIndex:
    """(path, label) lists for training; split per class (reproducibly) when there is no val split.
    Labels follow ``class_names`` when given (the config's order), else the folder names."""
    from train_jobs.data.formats import FormatError, read_dataset

    if not os.path.isdir(root):
        raise DatasetError(f"dataset folder {root!r} does not exist on this node; check dataset.uri, "
                           "or upload the dataset and use its id")
    try:
        found = read_dataset(root, "imagefolder")
    except FormatError as exc:
        raise DatasetError(str(exc)) from None
    if class_names is not None and set(class_names) != set(found.class_names):
        missing, extra = sorted(set(class_names) - set(found.class_names)), sorted(set(found.class_names) - set(class_names))
        raise DatasetError(
            f"class names in the config do not match the dataset folders in {root!r}: "
            f"missing folders {missing}, folders not in the config {extra}; "
            "fix class_names in the config, or leave it out to use the folder names")
    names = list(class_names) if class_names is not None else found.class_names
    relabel = {i: names.index(n) for i, n in enumerate(found.class_names)}
    per_class: dict[tuple[str, int], list[str]] = {}
    for s in found.samples:
        per_class.setdefault((s.split, relabel[s.label]), []).append(found.path(s))
    index = ImageFolderIndex(root, names, split_given="val" in found.splits())
    rng = random.Random(seed)
    for label, name in enumerate(names):
        files = sorted(per_class.get(("train", label), []))
        if not files:
            raise DatasetError(f"class {name!r} has no training images in {root!r}")
        if index.split_given:
            index.train += [(f, label) for f in files]
            index.val += [(f, label) for f in sorted(per_class.get(("val", label), []))]
        else:
            rng.shuffle(files)
            n_val = max(1, int(round(len(files) * val_fraction))) if len(files) > 1 else 0
            index.val += [(f, label) for f in sorted(files[:n_val])]
            index.train += [(f, label) for f in sorted(files[n_val:])]
    if not index.val:
        raise DatasetError(f"no validation images in {root!r}: add a val/ split or more images per class")
    return index




class ImageRefused(DatasetError):
    """An image to predict on that cannot be read (not an image, or past the pixel limit)."""


def decode_images(images: list[bytes], size: Optional[int] = None, resample: str = "bilinear") -> list[Image.Image]:
    """``images`` (file bytes) as :func:`load_rgb` reads files; ImageRefused names the first that fails."""
    import io

    out = []
    for i, data in enumerate(images):
        try:
            out.append(load_rgb(io.BytesIO(data), size, resample))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageRefused(f"image {i + 1} cannot be read ({exc}); send PNG or JPEG files of at most "
                               f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels") from None
    return out


def png_base64(image: Image.Image) -> str:
    """``image`` as a PNG file, base64 (how an answer carries a drawn image or a mask)."""
    import base64
    import io

    buf = io.BytesIO()
    image.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def captioned(image: Image.Image, text: str) -> Image.Image:
    """``image`` with ``text`` on a white band below it."""
    from PIL import ImageDraw

    canvas = Image.new("RGB", (image.width, image.height + 18), "white")
    canvas.paste(image, (0, 0))
    ImageDraw.Draw(canvas).text((4, image.height + 3), text, fill=(0, 0, 0))
    return canvas


def load_rgb(path, size: Optional[int], resample: str = "bilinear") -> Image.Image:
    """Open an image safely (pixel limit against decompression bombs) as upright RGB
    (:func:`upright_rgb`) at ``size`` x ``size`` (its own size for None), resized with ``resample``
    (the model's own interpolation)."""
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    with Image.open(path) as img:
        if size is None:
            img.load()  # the pixels are read before the file closes (an RGB image is returned as it is)
            return upright_rgb(img)
        img.draft("RGB", (size, size))
        return upright_rgb(img).resize((size, size), RESAMPLE[resample])
