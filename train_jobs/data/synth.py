"""Learnable synthetic datasets, generated locally so that demos and tests need nothing from outside.

Classification: one class per shape (and fill pattern when more classes are asked for than
there are shapes), drawn at a random place, size, rotation and colour on a noisy background,
so that a model must learn the shape rather than a colour or a position.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["SHAPES", "PATTERNS", "class_names_for", "make_anomaly", "make_classification", "make_detection",
           "make_segmentation"]

SHAPES = ("circle", "square", "triangle", "star", "cross", "ring", "diamond", "hexagon")
PATTERNS = ("solid", "striped", "dotted")


def class_names_for(num_classes: int) -> list[str]:
    limit = len(SHAPES) * len(PATTERNS)
    if not 2 <= num_classes <= limit:
        raise ValueError(f"synthetic classification makes 2 to {limit} classes, not {num_classes}")
    if num_classes <= len(SHAPES):
        return list(SHAPES[:num_classes])
    return [f"{s}-{p}" for p in PATTERNS for s in SHAPES][:num_classes]


def _polygon(cx: float, cy: float, r: float, n: int, rot: float, inner: Optional[float] = None):
    pts = []
    steps = n * 2 if inner else n
    for i in range(steps):
        rad = r if (inner is None or i % 2 == 0) else r * inner
        a = rot + 2 * math.pi * i / steps
        pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    return pts


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx, cy, r, rot, color) -> None:
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif shape == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=color, width=max(2, int(r * 0.35)))
    elif shape == "square":
        draw.polygon(_polygon(cx, cy, r * 1.2, 4, math.pi / 4), fill=color)
    elif shape == "diamond":
        draw.polygon([(cx, cy - r * 1.3), (cx + r * 0.7, cy), (cx, cy + r * 1.3), (cx - r * 0.7, cy)], fill=color)
    elif shape == "triangle":
        draw.polygon(_polygon(cx, cy, r * 1.25, 3, rot), fill=color)
    elif shape == "hexagon":
        draw.polygon(_polygon(cx, cy, r * 1.1, 6, rot), fill=color)
    elif shape == "star":
        draw.polygon(_polygon(cx, cy, r * 1.3, 5, rot, inner=0.45), fill=color)
    elif shape == "cross":
        w = r * 0.38
        for a in (rot, rot + math.pi / 2):
            dx, dy = math.cos(a), math.sin(a)
            px, py = -dy * w, dx * w
            draw.polygon([(cx - dx * r + px, cy - dy * r + py), (cx + dx * r + px, cy + dy * r + py),
                          (cx + dx * r - px, cy + dy * r - py), (cx - dx * r - px, cy - dy * r - py)], fill=color)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def _pattern_holes(size: int, pattern: str, rng: np.random.Generator) -> np.ndarray:
    """Where a striped or dotted fill leaves the background showing (True = hole)."""
    holes = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(holes)
    step = max(4, size // 8)
    if pattern == "striped":
        for x in range(-size, 2 * size, step):
            d.line([(x, 0), (x + size, size)], fill=255, width=max(1, step // 3))
    elif pattern == "dotted":
        off = int(rng.integers(0, step))
        for y in range(off, size, step):
            for x in range(off, size, step):
                d.ellipse([x - step / 4, y - step / 4, x + step / 4, y + step / 4], fill=255)
    return np.asarray(holes) > 0


@dataclass
class _Sample:
    shape: str
    pattern: str


def _render(sample: _Sample, size: int, rng: np.random.Generator) -> Image.Image:
    bg, background = _background(rng, size)
    fg = _contrasting(rng, bg)
    r = size * rng.uniform(0.22, 0.36)
    cx, cy = rng.uniform(r * 1.2, size - r * 1.2, 2)
    mask = Image.new("L", (size, size), 0)
    _draw_shape(ImageDraw.Draw(mask), sample.shape, cx, cy, r, rng.uniform(0, 2 * math.pi), 255)
    if sample.pattern != "solid":
        keep = np.where(_pattern_holes(size, sample.pattern, rng), 0, np.asarray(mask))
        mask = Image.fromarray(keep.astype(np.uint8))
    return Image.composite(Image.new("RGB", (size, size), fg), background, mask)


def make_classification(
    out: str,
    num_classes: int = 3,
    per_class: int = 100,
    image_size: int = 64,
    seed: int = 0,
    val_fraction: float = 0.0,
    image_format: str = "png",
) -> dict:
    """Write an ImageFolder dataset; with ``val_fraction`` > 0 it has ``train/`` and ``val/`` splits."""
    if per_class < 1 or image_size < 16:
        raise ValueError("per_class must be at least 1 and image_size at least 16")
    names = class_names_for(num_classes)
    rng = np.random.default_rng(seed)
    n_val = int(round(per_class * val_fraction))
    counts: dict[str, dict[str, int]] = {}
    for name in names:
        shape, _, pattern = name.partition("-")
        sample = _Sample(shape, pattern or "solid")
        for i in range(per_class):
            split = "val" if i < n_val else "train"
            folder = os.path.join(out, split, name) if val_fraction > 0 else os.path.join(out, name)
            os.makedirs(folder, exist_ok=True)
            _render(sample, image_size, rng).save(os.path.join(folder, f"{name}_{i:05d}.{image_format}"))
            counts.setdefault(split if val_fraction > 0 else "all", {}).setdefault(name, 0)
            counts[split if val_fraction > 0 else "all"][name] += 1
    return {"task": "classification", "path": os.path.abspath(out), "class_names": names, "counts": counts}


def _background(rng: np.random.Generator, size: int) -> tuple[np.ndarray, Image.Image]:
    bg = rng.integers(0, 256, 3)
    base = np.clip(bg[None, None, :] + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
    return bg, Image.fromarray(base)


def _contrasting(rng: np.random.Generator, bg: np.ndarray) -> tuple[int, ...]:
    fg = rng.integers(0, 256, 3)
    while np.abs(fg.astype(int) - bg.astype(int)).sum() < 200:
        fg = rng.integers(0, 256, 3)
    return tuple(int(c) for c in fg)


CLASS_COLOURS = ((225, 60, 60), (60, 200, 70), (70, 90, 235), (235, 205, 40), (205, 70, 225), (50, 215, 215),
                 (245, 145, 40), (235, 235, 235))


def _scene(rng: np.random.Generator, names: list[str], size: int, max_objects: int, object_scale: tuple,
           colour_by_class: bool = False) -> tuple[Image.Image, list[tuple[int, np.ndarray]]]:
    """A noisy background with 1..max_objects shapes; returns the image and each (class id, pixel mask),
    in drawing order (a later shape covers an earlier one). With ``colour_by_class`` each class also
    keeps its own hue (on a dark background), so a class shows in colour as well as in shape."""
    if colour_by_class:
        dark = rng.integers(0, 60, 3)
        bg, img = dark, Image.fromarray(np.clip(dark + rng.normal(0, 8, (size, size, 3)), 0, 255).astype(np.uint8))
    else:
        bg, img = _background(rng, size)
    objects = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        cls = int(rng.integers(0, len(names)))
        shape, _, pattern = names[cls].partition("-")
        r = size * rng.uniform(*object_scale)
        cx, cy = rng.uniform(r * 1.4, size - r * 1.4, 2)
        mask = Image.new("L", img.size, 0)
        _draw_shape(ImageDraw.Draw(mask), shape, cx, cy, r, rng.uniform(0, 2 * math.pi), 255)
        m = np.asarray(mask) > 0
        if pattern and pattern != "solid":
            m &= ~_pattern_holes(size, pattern, rng)
        if not m.any():
            continue
        colour = (tuple(int(np.clip(c + rng.integers(-25, 26), 0, 255)) for c in CLASS_COLOURS[cls % len(CLASS_COLOURS)])
                  if colour_by_class else _contrasting(rng, bg))
        img = Image.composite(Image.new("RGB", img.size, colour), img,
                              Image.fromarray(m.astype(np.uint8) * 255))
        objects.append((cls, m))
    return img, objects


def make_detection(out: str, num_classes: int = 3, images: int = 60, image_size: int = 64, seed: int = 0,
                   val_fraction: float = 0.25, max_objects: int = 3, object_scale: tuple = (0.08, 0.16),
                   polygons: bool = False) -> dict:
    """Write a YOLO dataset (``data.yaml``, ``images/{train,val}``, ``labels/{train,val}``): boxes, or
    with ``polygons`` each object's outline (YOLO segment labels, for instance segmentation)."""
    names = class_names_for(num_classes)
    rng = np.random.default_rng(seed)
    n_val = int(round(images * val_fraction))
    for i in range(images):
        split = "val" if i < n_val else "train"
        img, objects = _scene(rng, names, image_size, max_objects, object_scale)
        lines = []
        for cls, m in objects:
            if polygons:
                lines.append(f"{cls} " + " ".join(f"{x / image_size:.6f} {y / image_size:.6f}" for x, y in _outline(m)))
                continue
            ys, xs = np.nonzero(m)
            x1, x2, y1, y2 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
            lines.append(f"{cls} {(x1 + x2) / 2 / image_size:.6f} {(y1 + y2) / 2 / image_size:.6f} "
                         f"{(x2 - x1) / image_size:.6f} {(y2 - y1) / image_size:.6f}")
        for sub in ("images", "labels"):
            os.makedirs(os.path.join(out, sub, split), exist_ok=True)
        img.save(os.path.join(out, "images", split, f"img_{i:05d}.png"))
        with open(os.path.join(out, "labels", split, f"img_{i:05d}.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
    import yaml

    with open(os.path.join(out, "data.yaml"), "w") as f:
        yaml.safe_dump({"path": ".", "train": "images/train", "val": "images/val", "nc": num_classes, "names": names}, f)
    return {"task": "segmentation" if polygons else "detection", "path": os.path.abspath(out), "class_names": names}


def make_segmentation(out: str, num_classes: int = 3, images: int = 60, image_size: int = 64, seed: int = 0,
                      val_fraction: float = 0.25, max_objects: int = 3, object_scale: tuple = (0.12, 0.22)) -> dict:
    """Write a semantic segmentation dataset in the mask format: ``images/{train,val}/x.png``,
    ``masks/{train,val}/x.png`` (0 = background, shape classes from 1) and ``classes.txt``.
    Each class has its own shape and hue."""
    names = class_names_for(num_classes)
    rng = np.random.default_rng(seed)
    n_val = int(round(images * val_fraction))
    for i in range(images):
        split = "val" if i < n_val else "train"
        img, objects = _scene(rng, names, image_size, max_objects, object_scale, colour_by_class=True)
        label = np.zeros((image_size, image_size), np.uint8)
        for cls, m in objects:
            label[m] = cls + 1
        for sub in ("images", "masks"):
            os.makedirs(os.path.join(out, sub, split), exist_ok=True)
        img.save(os.path.join(out, "images", split, f"img_{i:05d}.png"))
        Image.fromarray(label).save(os.path.join(out, "masks", split, f"img_{i:05d}.png"))
    with open(os.path.join(out, "classes.txt"), "w") as f:
        f.write("\n".join(["background", *names]) + "\n")
    return {"task": "segmentation", "path": os.path.abspath(out), "class_names": ["background", *names]}


DEFECTS = ("scratch", "blot")


def _product(rng: np.random.Generator, size: int) -> Image.Image:
    """One normal item: a ringed disc near the centre, with small changes of place, size and light."""
    shade = float(rng.uniform(-12, 12))
    base = np.clip(128 + shade + rng.normal(0, 4, (size, size, 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(base)
    d = ImageDraw.Draw(img)
    cx, cy = size / 2 + rng.uniform(-2, 2, 2)
    r = size * rng.uniform(0.30, 0.33)
    body = tuple(int(c + shade) for c in (60, 100, 170))
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=body)
    d.ellipse([cx - r * 0.45, cy - r * 0.45, cx + r * 0.45, cy + r * 0.45], fill=tuple(c + 50 for c in body))
    return img, (cx, cy, r)


def _defect(img: Image.Image, kind: str, where: tuple, rng: np.random.Generator) -> np.ndarray:
    """Draw a ``kind`` defect on the item in place, darker or lighter than the spot it lands on;
    returns its pixel mask."""
    cx, cy, r = where
    x0, y0 = cx + rng.uniform(-0.6, 0.6) * r, cy + rng.uniform(-0.6, 0.6) * r
    shift = rng.uniform(45, 80) * (1 if rng.random() < 0.5 else -1)
    colour = tuple(int(np.clip(c + shift, 0, 255)) for c in img.getpixel((int(x0), int(y0))))
    mask = Image.new("L", img.size, 0)
    a, length = rng.uniform(0, math.pi), r * rng.uniform(0.9, 1.5)
    br = r * rng.uniform(0.10, 0.18)
    squash = rng.uniform(0.6, 1.0)
    for layer, fill in ((ImageDraw.Draw(img), colour), (ImageDraw.Draw(mask), 255)):
        if kind == "scratch":
            layer.line([(x0 - math.cos(a) * length / 2, y0 - math.sin(a) * length / 2),
                        (x0 + math.cos(a) * length / 2, y0 + math.sin(a) * length / 2)], fill=fill, width=1)
        else:
            layer.ellipse([x0 - br, y0 - br * squash, x0 + br, y0 + br], fill=fill)
    return np.asarray(mask) > 0


def make_anomaly(out: str, train_images: int = 200, test_good: int = 40, test_defects: int = 40,
                 image_size: int = 64, seed: int = 0) -> dict:
    """Write an MVTec-style anomaly dataset: ``train/good`` (normal items only), ``test/good``,
    ``test/<defect>`` for scratches and blots, and their masks in ``ground_truth/<defect>``."""
    rng = np.random.default_rng(seed)
    folders = {"train": [("good", train_images)], "test": [("good", test_good)] +
               [(k, test_defects // len(DEFECTS) + (i < test_defects % len(DEFECTS))) for i, k in enumerate(DEFECTS)]}
    for split, kinds in folders.items():
        for kind, n in kinds:
            os.makedirs(os.path.join(out, split, kind), exist_ok=True)
            for i in range(n):
                img, where = _product(rng, image_size)
                if kind != "good":
                    mask = _defect(img, kind, where, rng)
                    os.makedirs(os.path.join(out, "ground_truth", kind), exist_ok=True)
                    Image.fromarray(mask.astype(np.uint8) * 255).save(
                        os.path.join(out, "ground_truth", kind, f"{i:03d}_mask.png"))
                img.save(os.path.join(out, split, kind, f"{i:03d}.png"))
    return {"task": "anomaly_detection", "path": os.path.abspath(out), "class_names": ["good", "anomalous"],
            "defects": list(DEFECTS)}


def _outline(mask: np.ndarray) -> list[tuple[float, float]]:
    """The largest outer contour of a binary mask, as pixel coordinates."""
    import cv2

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    c = max(contours, key=cv2.contourArea).reshape(-1, 2)
    if len(c) < 3:
        x, y = c[0]
        c = np.array([[x, y], [x + 1, y], [x + 1, y + 1]])
    return [(float(x) + 0.5, float(y) + 0.5) for x, y in c]
