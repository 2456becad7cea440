"""YOLO detect/segment: ``data.yaml`` (names, train/val paths) with ``labels/`` beside ``images/``,
as Ultralytics and Roboflow export it (splits as folders, ``.txt`` lists of images, or lists of
either; Roboflow's ``../train/images``; ``names`` as a list or a mapping).

The YAML is read as data only: keys visiontrain does not use are kept as metadata, and a
``download:`` entry is never run (the report says it was ignored).
"""
from __future__ import annotations

import os

import yaml
from PIL import Image

from train_jobs.data.formats._index import Box, DatasetIndex, FormatError, Sample, copy_names, dataset_file, image_files
from train_jobs.data.formats._registry import DatasetFormat, register_format
from train_jobs.onnx_predict import upright_size

READ_KEYS = {"path", "train", "val", "test", "nc", "names"}
SPLITS = {"train": "train", "val": "val", "valid": "val", "test": "test"}
METADATA_TEXT = 500  # longest metadata value kept (a tool's notes: Roboflow's workspace, license, url)


def _yaml_path(root: str) -> str | None:
    """``data.yaml`` (or ``dataset.yaml``, ``data.yml``), else the one YAML file at the top of a folder
    that has ``images/`` (Ultralytics' own datasets travel with ``coco8.yaml`` and the like)."""
    for name in ("data.yaml", "dataset.yaml", "data.yml"):
        if os.path.isfile(os.path.join(root, name)):
            return os.path.join(root, name)
    found = [n for n in os.listdir(root) if n.lower().endswith((".yaml", ".yml"))] if os.path.isdir(root) else []
    if len(found) == 1 and os.path.isfile(os.path.join(root, found[0])) and os.path.isdir(os.path.join(root, "images")):
        return os.path.join(root, found[0])
    return None


def _scalars(value) -> dict | str | int | float | bool | None:
    """What of a metadata value is kept: text and numbers, and a mapping's own text and numbers
    (one level: nested or aliased structures are left out, never expanded)."""
    if isinstance(value, (str, int, float, bool)):
        return value if len(str(value)) <= METADATA_TEXT else None
    if isinstance(value, dict):
        kept = {str(k)[:100]: v for k, v in list(value.items())[:50]
                if isinstance(v, (str, int, float, bool)) and len(str(v)) <= METADATA_TEXT}
        return kept or None
    return None


def read_data_yaml(path: str) -> dict:
    """``names`` (a list), the split entries, and ``metadata``: the keys visiontrain does not use
    (``roboflow:``, ``download:``, ...), kept as data (``download:`` is never run)."""
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f)  # safe_load builds plain data; no tags, no constructors
        except yaml.YAMLError as exc:
            raise FormatError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise FormatError(f"{path} must be a mapping with names/train/val")
    names = data.get("names")
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list) or not names:
        raise FormatError(f"{path} needs 'names': a list of class names")
    if not all(isinstance(n, (str, int, float)) and len(str(n)) <= 200 for n in names):  # no nested (aliased) data
        raise FormatError(f"{path}: every entry of 'names' must be one class name (text up to 200 characters)")
    if "nc" in data and data["nc"] != len(names):
        raise FormatError(f"{path}: nc is {data['nc']} but names lists {len(names)} classes")
    metadata = {str(k)[:100]: v for k, v in ((k, _scalars(v)) for k, v in data.items()
                                            if k not in READ_KEYS and k != "download") if v is not None}
    return {**{k: data[k] for k in READ_KEYS & set(data)}, "names": [str(n) for n in names], "metadata": metadata,
            "download": "download" in data}


def _inside(root: str, base: str, entry: str, what: str) -> str:
    """``entry`` (relative to ``base``) inside the dataset. A tool that wrote its data.yaml as if it
    sat one folder down (Roboflow: ``train: ../train/images``) is read as Ultralytics reads it: the
    ``../`` dropped, when what is left is there inside the dataset."""
    try:
        return dataset_file(root, os.path.join(base, entry), what)
    except FormatError:
        bare = str(entry).replace("\\", "/")
        while bare.startswith("../"):
            bare = bare[3:]
        if bare != entry and os.path.exists(os.path.join(root, base, bare)):
            return dataset_file(root, os.path.join(base, bare), what)
        raise


def _listed_images(root: str, base: str, listing: str, what: str) -> list[str]:
    """The images a split's ``.txt`` file lists, one path per line (``./x`` from the file's folder,
    others from the dataset's ``path``), each inside the dataset."""
    with open(listing, encoding="utf-8", errors="replace") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    folder = os.path.relpath(os.path.dirname(listing), root)
    return [dataset_file(root, os.path.join(folder, ln[2:]) if ln.startswith("./") else os.path.join(base, ln),
                         f"{what} line {n}") for n, ln in enumerate(lines, 1)]


def split_images(root: str, data: dict) -> dict[str, list[str]]:
    """Each split's image files. A split is a folder, a ``.txt`` file listing images, or a list of
    either; every path data.yaml names must stay inside the dataset."""
    base = str(data.get("path") or ".")
    if not os.path.isdir(dataset_file(root, base, "data.yaml path:")):
        base = "."  # a path: meant for the exporter's machine (coco8.yaml's "coco8"): the upload is the dataset
    out: dict[str, list[str]] = {}
    for key in ("train", "val", "test"):
        entries = data.get(key)
        if not entries:
            continue
        entries = entries if isinstance(entries, list) else [entries]
        if not all(isinstance(e, str) for e in entries):
            raise FormatError(f"data.yaml {key}: {entries!r} must be folders or .txt files inside the dataset (for "
                              f"example images/{key})")
        for entry in entries:
            where = _inside(root, base, entry, f"data.yaml {key}:")
            if os.path.isfile(where) and where.endswith(".txt"):
                found = _listed_images(root, base, where, f"{entry}")
            elif os.path.isdir(where):
                found = image_files(where)
            else:
                raise FormatError(f"data.yaml {key} folder {entry!r} does not exist in the dataset")
            out.setdefault(SPLITS[key], []).extend(found)
    if "train" not in out:
        raise FormatError("data.yaml needs a 'train' path (for example images/train)")
    return out


def _label_path(image: str) -> str:
    head, tail = image.rsplit(os.sep + "images" + os.sep, 1)
    return os.path.join(head, "labels", os.path.splitext(tail)[0] + ".txt")


def read(root: str) -> DatasetIndex:
    data = read_data_yaml(_yaml_path(root))
    index = DatasetIndex("yolo", "detection", root, data["names"], metadata=data["metadata"])
    if data["download"]:
        index.problem("download_ignored", None)
    for split, images in split_images(root, data).items():
        for img in images:
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
    for s, name in zip(index.samples, copy_names(index.samples)):
        split = s.split
        src = index.path(s)
        dst = os.path.join(out, "images", split, name)
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
        lbl = os.path.join(out, "labels", split, os.path.splitext(name)[0] + ".txt")
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
