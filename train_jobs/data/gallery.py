"""A dataset's images as a user looks them over: each with its labels drawn (boxes and outlines named by
class, a mask's classes in colour, the class as a caption), optionally only those showing one class."""
from __future__ import annotations

from typing import Optional

import numpy as np
from PIL import Image, ImageDraw

from train_jobs.data.formats import DatasetIndex, FormatError, Sample, read_dataset
from train_jobs.data.formats.masks import class_ids
from train_jobs.data.imagefolder import captioned, load_rgb, png_base64

__all__ = ["draw_objects", "gallery", "palette"]

SIDE = 320  # the longer side of a drawn image, in pixels


def palette(k: int) -> np.ndarray:
    """``k`` colours, class 0 black (the background), the same for every call."""
    rng = np.random.default_rng(7)
    return np.vstack([[0, 0, 0], rng.integers(40, 256, (max(0, k - 1), 3))]).astype(np.uint8)


def draw_objects(img: Image.Image, objects: list[dict]) -> Image.Image:
    """``objects`` (class, box, optional score and polygon, in pixels) drawn on a copy of ``img``."""
    img = img.copy()
    draw = ImageDraw.Draw(img)
    for o in objects:
        if o.get("polygon") and len(o["polygon"]) > 2:
            draw.polygon([tuple(p) for p in o["polygon"]], outline=(32, 160, 255))
        draw.rectangle(o["box"], outline=(255, 32, 32), width=2)
        score = f" {o['score']:.2f}" if "score" in o else ""
        draw.text((o["box"][0] + 2, o["box"][1] + 1), f"{o['class']}{score}", fill=(255, 255, 0))
    return img


def _classes(index: DatasetIndex, s: Sample) -> list[str]:
    """The classes the sample shows (its label, or its objects'; a mask's are read from the mask)."""
    names = index.class_names
    if s.label is not None and names:
        return [names[s.label]] if 0 <= s.label < len(names) else []
    if s.mask:
        try:
            with Image.open(index.path(Sample(s.mask))) as m:
                ids = np.unique(np.asarray(class_ids(m)))
        except (OSError, ValueError, Image.DecompressionBombError):
            return []
        return [names[i] if i < len(names) else str(i) for i in ids.tolist() if i != 0]
    return sorted({names[b.class_id] for b in s.boxes if 0 <= b.class_id < len(names)})


def _drawn(index: DatasetIndex, s: Sample, classes: list[str]) -> Image.Image:
    """The image at about SIDE pixels (small ones enlarged with sharp pixels), its labels drawn over it
    (``classes``: those it shows, its caption when it has a label)."""
    img = load_rgb(index.path(s), None)
    f = SIDE / max(img.size) if max(img.size) > SIDE else float(max(1, SIDE // 2 // max(img.size)))
    img = img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))),
                     Image.NEAREST if f > 1 else Image.BILINEAR)
    names = index.class_names
    if s.mask:
        with Image.open(index.path(Sample(s.mask))) as m:
            ids = np.asarray(class_ids(m).resize(img.size, Image.NEAREST))
        colours = palette(max(len(names), int(ids.max()) + 1))
        img = Image.fromarray((0.55 * np.asarray(img) + 0.45 * colours[ids]).astype(np.uint8))
    elif s.boxes:
        img = draw_objects(img, [{"class": names[b.class_id] if b.class_id < len(names) else str(b.class_id),
                                  "box": [b.x1 * f, b.y1 * f, b.x2 * f, b.y2 * f],
                                  "polygon": [(x * f, y * f) for x, y in b.polygon] if b.polygon else None}
                                 for b in s.boxes])
    return captioned(img, ", ".join(classes)) if s.label is not None else img


def gallery(root: str, fmt: Optional[str] = None, class_name: Optional[str] = None, limit: int = 12) -> dict:
    """Up to ``limit`` samples spread over the dataset (only those showing ``class_name`` when given):
    ``{"class_names", "matching", "samples": [{"image", "split", "classes", "drawn"}]}``, ``drawn`` a
    base64 PNG. A class the dataset does not have is a FormatError that lists those it has."""
    index = read_dataset(root, fmt)
    if class_name is not None and class_name not in index.class_names:
        raise FormatError(f"the dataset has no class {class_name!r}; its classes are {index.class_names}")
    shown = ((s, _classes(index, s)) for s in index.samples)
    picked = [(s, classes) for s, classes in shown if class_name is None or class_name in classes]
    step = max(1, len(picked) // max(1, limit))
    out = []
    for s, classes in picked[::step][:limit]:
        try:
            out.append({"image": s.image, "split": s.split, "classes": classes,
                        "drawn": png_base64(_drawn(index, s, classes))})
        except (OSError, ValueError, Image.DecompressionBombError):  # the health report names the broken image
            continue
    return {"class_names": index.class_names, "matching": len(picked), "samples": out}
