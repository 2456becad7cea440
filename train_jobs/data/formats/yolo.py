"""YOLO detect/segment: ``data.yaml`` (names, train/val paths) with ``labels/`` beside ``images/``.

The YAML is read as data only: ``download:`` hooks and anything else that would run are refused.
"""
from __future__ import annotations

import os

import yaml
from PIL import Image

from train_jobs.data.formats._index import Box, DatasetIndex, FormatError, Sample, dataset_file, image_files
from train_jobs.data.formats._registry import DatasetFormat, register_format
from train_jobs.onnx_predict import upright_size

ALLOWED_KEYS = {"path", "train", "val", "test", "nc", "names"}
SPLITS = {"train": "train", "val": "val", "valid": "val", "test": "test"}


def _yaml_path(root: str) -> str | None:
    for name in ("data.yaml", "dataset.yaml", "data.yml"):
        if os.path.isfile(os.path.join(root, name)):
            return os.path.join(root, name)
    return None


def read_data_yaml(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f)  # safe_load builds plain data; no tags, no constructors
        except yaml.YAMLError as exc:
            raise FormatError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise FormatError(f"{path} must be a mapping with names/train/val")
    if "download" in data:
        raise FormatError(f"{path} has a 'download:' entry; visiontrain never runs download scripts or URLs "
                          "from dataset files. Remove it and upload the images and labels themselves.")
    extra = set(data) - ALLOWED_KEYS
    if extra:
        raise FormatError(f"{path} has keys visiontrain does not read: {sorted(extra)}; allowed: {sorted(ALLOWED_KEYS)}")
    names = data.get("names")
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list) or not names:
        raise FormatError(f"{path} needs 'names': a list of class names")
    if not all(isinstance(n, (str, int, float)) and len(str(n)) <= 200 for n in names):  # no nested (aliased) data
        raise FormatError(f"{path}: every entry of 'names' must be one class name (text up to 200 characters)")
    if "nc" in data and data["nc"] != len(names):
        raise FormatError(f"{path}: nc is {data['nc']} but names lists {len(names)} classes")
    return {**data, "names": [str(n) for n in names]}


def split_dirs(root: str, data: dict) -> dict[str, str]:
    """Each split's image folder; every path data.yaml names must stay inside the dataset."""
    base = str(data.get("path") or ".")
    dataset_file(root, base, "data.yaml path:")
    out = {}
    for key in ("train", "val", "test"):
        rel = data.get(key)
        if not rel:
            continue
        if not isinstance(rel, str):
            raise FormatError(f"data.yaml {key}: {rel!r} must be one folder inside the dataset (for example images/{key})")
        out[SPLITS[key]] = dataset_file(root, os.path.join(base, rel), f"data.yaml {key}:")
    if "train" not in out:
        raise FormatError("data.yaml needs a 'train' path (for example images/train)")
    return out


def _label_path(image: str) -> str:
    head, tail = image.rsplit(os.sep + "images" + os.sep, 1)
    return os.path.join(head, "labels", os.path.splitext(tail)[0] + ".txt")


def read(root: str) -> DatasetIndex:
    data = read_data_yaml(_yaml_path(root))
    index = DatasetIndex("yolo", "detection", root, data["names"])
    for split, folder in split_dirs(root, data).items():
        if not os.path.isdir(folder):
            raise FormatError(f"data.yaml {split} folder {os.path.relpath(folder, root)!r} does not exist")
        for img in image_files(folder):
            sample = Sample(os.path.relpath(img, root), split)
            lbl = _label_path(img) if (os.sep + "images" + os.sep) in img else os.path.splitext(img)[0] + ".txt"
            lbl = dataset_file(root, os.path.relpath(lbl, root), "label file")
            if os.path.isfile(lbl):
                sample.label_file = os.path.relpath(lbl, root)
                _read_labels(index, sample, lbl, img)
            index.samples.append(sample)
    if any(b.polygon for s in index.samples for b in s.boxes):
        index.task = "segmentation"
    return index


def _read_labels(index: DatasetIndex, sample: Sample, lbl: str, img: str) -> None:
    with open(lbl, encoding="utf-8", errors="replace") as f:
        lines = [ln.split() for ln in f if ln.strip()]
    sample.label_file_empty = not lines
    if not lines:
        return
    try:
        with Image.open(img) as im:
            w, h = upright_size(im)
    except Exception:
        w = h = None  # reported as a corrupt image by validation
    sample.width, sample.height = w, h
    for n, parts in enumerate(lines, 1):
        where = f"{sample.label_file}:{n}"
        try:
            cls, vals = int(parts[0]), [float(v) for v in parts[1:]]
        except (ValueError, IndexError):
            index.problem("bad_label_line", where)
            continue
        if len(vals) == 4:
            cx, cy, bw, bh = vals
            xs, ys = [cx - bw / 2, cx + bw / 2], [cy - bh / 2, cy + bh / 2]
            poly = None
        elif len(vals) >= 6 and len(vals) % 2 == 0:
            xs, ys = vals[0::2], vals[1::2]
            poly = list(zip(xs, ys))
        else:
            index.problem("bad_label_line", where)
            continue
        if any(v < 0 or v > 1 for v in xs + ys):
            index.problem("box_out_of_range", where)
        sx, sy = (w or 1), (h or 1)
        box = Box(cls, min(xs) * sx, min(ys) * sy, max(xs) * sx, max(ys) * sy,
                  [(x * sx, y * sy) for x, y in poly] if poly else None)
        sample.boxes.append(box)


def write(index: DatasetIndex, out: str) -> None:
    for s in index.samples:
        split = s.split
        src = index.path(s)
        dst = os.path.join(out, "images", split, os.path.basename(s.image))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst):
            os.link(src, dst) if os.stat(src).st_dev == os.stat(os.path.dirname(dst)).st_dev else _copy(src, dst)
        w, h = s.width, s.height
        if w is None:
            with Image.open(src) as im:
                w, h = upright_size(im)
        lines = []
        for b in s.boxes:
            if b.polygon:
                lines.append(f"{b.class_id} " + " ".join(f"{x / w:.6f} {y / h:.6f}" for x, y in b.polygon))
            else:
                lines.append(f"{b.class_id} {(b.x1 + b.x2) / 2 / w:.6f} {(b.y1 + b.y2) / 2 / h:.6f} "
                             f"{(b.x2 - b.x1) / w:.6f} {(b.y2 - b.y1) / h:.6f}")
        lbl = os.path.join(out, "labels", split, os.path.splitext(os.path.basename(s.image))[0] + ".txt")
        os.makedirs(os.path.dirname(lbl), exist_ok=True)
        with open(lbl, "w") as f:
            f.write("\n".join(lines) + ("\n" if lines else ""))
    splits = sorted({s.split for s in index.samples})
    with open(os.path.join(out, "data.yaml"), "w") as f:
        yaml.safe_dump({"path": ".", **{sp: f"images/{sp}" for sp in splits}, "nc": len(index.class_names),
                        "names": index.class_names}, f, sort_keys=False, allow_unicode=True)


def _copy(src: str, dst: str) -> None:
    import shutil

    shutil.copyfile(src, dst)


register_format(DatasetFormat("yolo", ("detection", "segmentation"), lambda root: _yaml_path(root) is not None, read, write,
                              layout="YOLO (data.yaml + images/ + labels/)"))
