"""COCO detection JSON: ``images``, ``annotations`` (bbox = [x, y, w, h] in pixels), ``categories``."""
from __future__ import annotations

import json
import os

from train_jobs.data.formats._index import Box, DatasetIndex, FormatError, Sample, copy_names, dataset_file
from train_jobs.data.formats._registry import DatasetFormat, register_format

SPLIT_WORDS = (("val", "val"), ("valid", "val"), ("test", "test"), ("train", "train"))


SPLIT_FOLDERS = ("train", "valid", "val", "test")  # Roboflow's COCO export: train/_annotations.coco.json


def _json_files(root: str) -> list[str]:
    found = []
    for folder in (root, os.path.join(root, "annotations"), *(os.path.join(root, d) for d in SPLIT_FOLDERS)):
        if os.path.isdir(folder):
            found += [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".json")]
    return found


def _is_coco(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(4096)
    except OSError:
        return False
    return '"images"' in head or '"annotations"' in head or '"categories"' in head


def _split_of(path: str) -> str:
    """The split a COCO file holds, from its name (instances_val2017.json) or its folder (valid/)."""
    for name in (os.path.basename(path).lower(), os.path.basename(os.path.dirname(path)).lower()):
        if found := next((split for word, split in SPLIT_WORDS if word in name), None):
            return found
    return "train"


def _image_root(root: str, split_file: str, file_name: object) -> str:
    """Where an image's ``file_name`` is, relative to ``root``: the first of the usual folders that has it."""
    what = f"{os.path.relpath(split_file, root)}: file_name"
    if not isinstance(file_name, str) or not file_name:
        raise FormatError(f"{what} {file_name!r} is not a file name")
    split = _split_of(split_file)
    subset = os.path.splitext(os.path.basename(split_file))[0].removeprefix("instances_")  # train2017, CVAT's default
    beside = os.path.relpath(os.path.dirname(split_file), root)  # Roboflow: the images beside their file
    for base in (os.path.join("images", split), os.path.join("images", subset), "images", ".", split, subset, beside):
        path = dataset_file(root, os.path.join(base, file_name), what)
        if os.path.isfile(path):
            return os.path.relpath(path, root)
    return os.path.relpath(dataset_file(root, os.path.join("images", file_name), what), root)


def _rle_parts(seg: dict) -> list[list[float]]:
    """A run-length-encoded mask (compressed or not, as pycocotools reads it) as the outlines of its
    parts, each a flat [x, y, ...] list, as OpenCV traces them."""
    import cv2
    import numpy as np
    try:
        from pycocotools import mask as rle
    except ImportError:
        raise FormatError("this COCO file has RLE masks, which need pycocotools: pip install "
                          "'visiontrain[train]' (or pycocotools)") from None

    h, w = (int(v) for v in seg["size"])
    code = rle.frPyObjects(seg, h, w) if isinstance(seg["counts"], list) else \
        {"size": [h, w], "counts": seg["counts"].encode() if isinstance(seg["counts"], str) else seg["counts"]}
    mask = np.ascontiguousarray(rle.decode(code).astype(np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def _outline(seg) -> list[tuple[float, float]] | None:
    """An object's polygon: its one part, or its parts joined into one outline as Ultralytics' own COCO
    converter joins them (a person behind a pole is drawn as two parts); an RLE mask is traced first."""
    if isinstance(seg, dict) and "counts" in seg and "size" in seg:
        seg = _rle_parts(seg)
    parts = [p for p in seg if isinstance(p, list) and len(p) >= 6 and not len(p) % 2
             and all(isinstance(c, (int, float)) for c in p)] if isinstance(seg, list) else []
    if len(parts) == 1:
        return list(zip(parts[0][0::2], parts[0][1::2]))
    if not parts:
        return None
    import numpy as np
    from ultralytics.data.converter import merge_multi_segment

    return [(float(x), float(y)) for x, y in np.concatenate(merge_multi_segment(parts), axis=0)]


def read(root: str) -> DatasetIndex:
    files = [p for p in _json_files(root) if _is_coco(p)]
    if not files:
        raise FormatError(f"no COCO JSON in {root!r} or its annotations/ folder")
    index: DatasetIndex | None = None
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as exc:
            raise FormatError(f"{os.path.relpath(path, root)} is not valid JSON: {exc}") from None
        used = {a.get("category_id") for a in data.get("annotations", [])}
        parents = {c.get("supercategory") for c in data.get("categories", [])}
        # Roboflow's exports carry the project as an unused category that the others name as their supercategory
        cats = sorted((c for c in data.get("categories", []) if c["id"] in used or c["name"] not in parents),
                      key=lambda c: c["id"])
        names = [str(c["name"]) for c in cats]
        if index is None:
            index = DatasetIndex("coco", "detection", root, names)
        elif names != index.class_names:
            index.problem("class_names_differ_between_files", os.path.relpath(path, root), names=names)
        cat_pos = {c["id"]: i for i, c in enumerate(cats)}
        by_id = {}
        for im in data.get("images", []):
            sample = Sample(_image_root(root, path, im["file_name"]), _split_of(path),
                            width=im.get("width"), height=im.get("height"), label_file=os.path.relpath(path, root))
            by_id[im["id"]] = sample
            index.samples.append(sample)
        for ann in data.get("annotations", []):
            sample = by_id.get(ann.get("image_id"))
            if sample is None:
                index.problem("annotation_without_image", f"annotation {ann.get('id')}")
                continue
            if ann.get("category_id") not in cat_pos:
                index.problem("class_id_out_of_range", f"{sample.image}: category_id {ann.get('category_id')}")
                continue
            x, y, w, h = ann["bbox"]
            if ann.get("iscrowd"):  # a crowd region, not one object: COCO training (and Ultralytics') skips it
                index.problem("crowd_ignored", f"{sample.image}: annotation {ann.get('id')}")
                sample.ignored.append(Box(cat_pos[ann["category_id"]], x, y, x + w, y + h))
                continue
            outline = _outline(ann.get("segmentation"))
            sample.boxes.append(Box(cat_pos[ann["category_id"]], x, y, x + w, y + h, outline))
    return index


def write(index: DatasetIndex, out: str) -> None:
    os.makedirs(os.path.join(out, "annotations"), exist_ok=True)
    named = list(zip(index.samples, copy_names(index.samples)))
    for split in index.splits():
        images, anns = [], []
        for i, (s, name) in enumerate([(s, n) for s, n in named if s.split == split], 1):
            dst = os.path.join(out, "images", split, name)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if not os.path.exists(dst):
                os.link(index.path(s), dst)
            images.append({"id": i, "file_name": name, "width": s.width, "height": s.height})
            for b, crowd in [(b, 0) for b in s.boxes] + [(b, 1) for b in s.ignored]:
                ann = {"id": len(anns) + 1, "image_id": i, "category_id": b.class_id + 1, "iscrowd": crowd,
                       "bbox": [b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1], "area": (b.x2 - b.x1) * (b.y2 - b.y1)}
                if b.polygon:
                    ann["segmentation"] = [[v for p in b.polygon for v in p]]
                anns.append(ann)
        cats = [{"id": i + 1, "name": n} for i, n in enumerate(index.class_names)]
        with open(os.path.join(out, "annotations", f"instances_{split}.json"), "w") as f:
            json.dump({"images": images, "annotations": anns, "categories": cats}, f)


register_format(DatasetFormat("coco", ("detection", "segmentation"),
                              lambda root: any(_is_coco(p) for p in _json_files(root)), read, write,
                              layout="COCO (a JSON with images/annotations/categories)"))
