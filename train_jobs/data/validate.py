"""Dataset validation: a health report (JSON + a short summary) with errors that block training
and warnings that explain. With ``use_ray``, a dataset bigger than one shard is checked as Ray tasks."""
from __future__ import annotations

import hashlib
import os
import warnings
from collections import Counter, defaultdict
from typing import Optional

import numpy as np
from PIL import Image

from train_jobs.data.findings import CATALOGUE, render_summary
from train_jobs.data.imagefolder import MAX_IMAGE_PIXELS
from train_jobs.onnx_predict import upright_size
from train_jobs.data.formats import DatasetIndex, FormatError, box_iou, get_format, read_dataset

__all__ = ["MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "check_images", "validate_dataset"]

MAX_IMAGE_BYTES = 64 << 20
MIN_IMAGES_PER_CLASS = 5
EXAMPLES = 5


def check_images(paths: list[str], max_pixels: int = MAX_IMAGE_PIXELS) -> list[dict]:
    """Open, size-check, fully decode and hash each image. Sizes are read from the header first,
    so a pixel bomb is refused before it is decoded."""
    out = []
    for path in paths:
        rec = {"path": path}
        try:
            if not os.path.isfile(path):  # devices, FIFOs and sockets are never opened
                rec["error"] = "corrupt_image"
                rec["detail"] = "not a regular file"
                out.append(rec)
                continue
            if os.path.getsize(path) > MAX_IMAGE_BYTES:
                rec["error"] = "image_too_large"
                out.append(rec)
                continue
            with open(path, "rb") as f:
                data = f.read()
            rec["sha256"] = hashlib.sha256(data).hexdigest()
            with warnings.catch_warnings():  # sizes are checked here, from the header, before decoding
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as im:
                    rec["width"], rec["height"] = upright_size(im)
                    rec["mode"] = im.mode
                    if im.size[0] * im.size[1] > max_pixels:
                        rec["error"] = "image_too_large"
                    else:
                        im.load()
                        rec["dhash"] = _dhash(im)
        except Image.DecompressionBombError:  # PIL's own guard, met before our check
            rec["error"] = "image_too_large"
        except Exception as exc:  # any decoder failure means the same thing to the user
            rec["error"] = "corrupt_image"
            rec["detail"] = f"{type(exc).__name__}: {exc}"[:200]
        out.append(rec)
    return out


HASH_SIDE = 16  # the difference hash's grid: 256 bits
NEAR = 24  # bits two hashes of one picture may differ in (resized, re-encoded, slightly edited): under 10 %
NEAR_DUPLICATES_UP_TO = 20_000  # images compared for near-duplicates (the comparisons grow with their square)


def _dhash(im: Image.Image) -> Optional[int]:
    """A difference hash (is each point of a 16x16 grid brighter than its right neighbour): close for the
    same picture resized, re-encoded or slightly edited. None for a flat image, which says nothing."""
    grey = np.asarray(im.convert("L").resize((HASH_SIDE + 1, HASH_SIDE), Image.BILINEAR), dtype=np.float32)
    if grey.std() < 2.0:
        return None
    return int("".join("1" if b else "0" for b in (grey[:, 1:] > grey[:, :-1]).ravel()), 2)


def near_duplicates(hashes: dict[str, int], within: int = NEAR) -> list[list[str]]:
    """Groups of images whose hashes differ in at most ``within`` bits (exact copies are grouped by their
    bytes elsewhere). Compared only within buckets of one of ``within + 1`` bit bands: two hashes that
    close share at least one band whole, so no pair is missed, at far less than n x n comparisons.
    Each bucket is compared in blocks with numpy (9,000 similar images here: 2 s, against 15 s pair by pair)."""
    names, bits = list(hashes), HASH_SIDE * HASH_SIDE
    packed = np.frombuffer(b"".join(hashes[n].to_bytes(bits // 8, "big") for n in names),
                           dtype=np.uint64).reshape(len(names), bits // 64)
    edges = [bits * i // (within + 1) for i in range(within + 2)]
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for i, name in enumerate(names):
        for band, (lo, hi) in enumerate(zip(edges, edges[1:])):
            buckets[(band, (hashes[name] >> lo) & ((1 << (hi - lo)) - 1))].append(i)
    parent = list(range(len(names)))

    def root(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for members in buckets.values():
        if len(members) < 2:
            continue
        block = packed[members]
        step = max(1, (1 << 19) // (len(members) * block.shape[1]))  # at most 4 MiB of XORed words at once
        for lo in range(0, len(members), step):
            close = np.bitwise_count(block[lo:lo + step, None] ^ block[None]).sum(-1, dtype=np.int32) <= within
            for a, b in zip(*np.nonzero(np.triu(close, k=lo + 1))):
                parent[root(members[lo + a])] = root(members[b])
    groups: dict[int, list[str]] = defaultdict(list)
    for i, name in enumerate(names):
        groups[root(i)].append(name)
    return [sorted(g) for g in groups.values() if len(g) > 1]


SHARD_IMAGES, SHARD_BYTES = 20_000, 128 << 20  # 20,000 small images: about 8 s here; a Ray task takes seconds to start


def _shards(paths: list[str]) -> list[list[str]]:
    """``paths`` in order, cut where a shard would pass ``SHARD_IMAGES`` images or ``SHARD_BYTES``."""
    shards, size = [[]], 0
    for path in paths:
        try:
            n = os.stat(path).st_size
        except OSError:
            n = 0
        if shards[-1] and (len(shards[-1]) >= SHARD_IMAGES or size + n > SHARD_BYTES):
            shards.append([])
            size = 0
        shards[-1].append(path)
        size += n
    return shards


def _check_all(paths: list[str], use_ray: bool) -> list[dict]:
    """Checked here when the images fit in one shard, else as one Ray task per shard."""
    shards = _shards(paths) if use_ray else [paths]
    if len(shards) == 1:
        return check_images(paths)
    import ray

    task = ray.remote(num_cpus=1)(check_images)
    return [r for part in ray.get([task.remote(s) for s in shards]) for r in part]


class _Report:
    def __init__(self):
        self.found: dict[str, list[str]] = defaultdict(list)

    def add(self, code: str, example: Optional[str]) -> None:
        self.found[code].append(example)

    def findings(self) -> list[dict]:
        out = []
        for code, examples in self.found.items():
            kind = CATALOGUE[code]
            out.append({"code": code, "severity": kind.severity, "count": len(examples),
                        "examples": [e for e in examples if e is not None][:EXAMPLES], "message": kind.said("en")})
        return sorted(out, key=lambda f: (f["severity"] != "error", f["code"]))


def _check_labels(index: DatasetIndex, sizes: dict[str, tuple[int, int]], rep: _Report) -> None:
    k, masked = len(index.class_names), get_format(index.format).masks
    for s in index.samples:
        w, h = sizes.get(s.image, (s.width, s.height))
        for b in s.boxes:
            where = f"{s.label_file or s.image}"
            if not 0 <= b.class_id < k:
                rep.add("class_id_out_of_range", f"{where}: class {b.class_id} (classes 0..{k - 1})")
            elif b.x2 - b.x1 <= 0 or b.y2 - b.y1 <= 0:
                rep.add("degenerate_box", where)
            elif w and h and (b.x1 < -1 or b.y1 < -1 or b.x2 > w + 1 or b.y2 > h + 1):
                rep.add("box_out_of_range", where)
            elif w and h and min(b.x2 - b.x1, b.y2 - b.y1) < max(4.0, 0.01 * max(w, h)):
                rep.add("tiny_boxes", f"{where}: {b.x2 - b.x1:.0f}x{b.y2 - b.y1:.0f} px in {w}x{h}")
        if len(s.boxes) > 1:  # one object labelled twice: a box of its class drawn again over itself
            ious = np.triu(box_iou(*[np.array([[b.x1, b.y1, b.x2, b.y2] for b in s.boxes])] * 2), 1)
            ids = np.array([b.class_id for b in s.boxes])
            for i in np.flatnonzero(((ious >= 0.9) & (ids[:, None] == ids[None, :])).any(1)):
                rep.add("duplicate_boxes", f"{s.label_file or s.image}: {index.class_names[ids[i]]}"
                        if 0 <= ids[i] < k else s.label_file or s.image)
        if index.task in ("detection", "segmentation") and not masked:
            if s.label_file is None:
                rep.add("images_without_labels", s.image)
            elif s.label_file_empty:
                rep.add("empty_label_file", s.label_file)
        if masked:
            _check_mask(index, s, sizes.get(s.image), rep)


def _check_mask(index: DatasetIndex, s, size: Optional[tuple[int, int]], rep: _Report) -> None:
    if s.mask is None:
        rep.add("missing_mask", s.image)
        return
    try:
        with Image.open(os.path.join(index.root, s.mask)) as m:
            if size and m.size != size:
                rep.add("mask_size_mismatch", f"{s.mask}: {m.size[0]}x{m.size[1]} vs image {size[0]}x{size[1]}")
                return
            top = int(np.asarray(m).max()) if m.mode in ("L", "P", "I", "I;16") else None
    except Exception:
        rep.add("corrupt_image", s.mask)
        return
    if top is None:
        rep.add("mask_not_class_ids", s.mask)
    elif index.class_names and top >= len(index.class_names) and top != 255:  # 255: the usual 'ignore'
        rep.add("class_id_out_of_range", f"{s.mask}: value {top} (classes 0..{len(index.class_names) - 1})")


def _counts(index: DatasetIndex) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for s in index.samples:
        if s.label is not None and s.label < len(index.class_names):
            counts[s.split][index.class_names[s.label]] += 1
        for b in s.boxes:
            if 0 <= b.class_id < len(index.class_names):
                counts[s.split][index.class_names[b.class_id]] += 1
        if s.label is None and not s.boxes:
            counts[s.split]["(unlabelled)"] += 1
    return {split: dict(c) for split, c in sorted(counts.items())}


def validate_dataset(root: str, fmt: Optional[str] = None, class_names: Optional[list[str]] = None,
                     task: Optional[str] = None, language: str = "en", use_ray: bool = False,
                     found: tuple[tuple[str, str], ...] = ()) -> dict:
    """The health report of the dataset at ``root`` (a local folder); ``found`` adds findings met
    before (code, example). Paths in it are relative to ``root``: it never names the server's folders."""
    if not os.path.isdir(root):
        return _format_failure(root, fmt, f"dataset folder {root!r} does not exist on this node; check dataset.uri, "
                                          "or upload the dataset and use its id", language)  # the location as given
    return _relative(_validate(root, fmt, class_names, task, language, use_ray, found), root)


def _relative(report: dict, root: str) -> dict:
    """The report with ``root`` taken out of every text (a user sees paths inside their dataset)."""
    import json

    real = os.path.realpath(root)
    text = json.dumps(report, ensure_ascii=False)
    for prefix in {root, real}:
        text = text.replace(json.dumps(prefix + os.sep)[1:-1], "").replace(json.dumps(prefix)[1:-1], ".")
    return json.loads(text)


def _validate(root: str, fmt: Optional[str], class_names: Optional[list[str]], task: Optional[str], language: str,
              use_ray: bool, found: tuple[tuple[str, str], ...]) -> dict:
    rep = _Report()
    for code, example in found:
        rep.add(code, example)
    try:
        index = read_dataset(root, fmt)
    except FormatError as exc:
        return _format_failure(root, fmt, str(exc), language)
    for p in index.problems:
        rep.add(p["code"], p["example"])
    if task and task not in get_format(index.format).tasks:
        rep.add("task_mismatch", f"{index.format} data holds {index.task}, the job asks for {task}")
    # ImageFolder classes are folders (their order is the config's); elsewhere ids index the list.
    same = (set(class_names or []) == set(index.class_names)) if index.format == "imagefolder" \
        else list(class_names or []) == list(index.class_names)
    if class_names is not None and not same and index.format != "mvtec":
        rep.add("class_names_mismatch", f"config {list(class_names)} vs dataset {index.class_names}")
    if not index.samples:
        rep.add("no_images", root)

    records = _check_all([index.path(s) for s in index.samples], use_ray)
    sizes, by_hash, looks = {}, defaultdict(list), {}
    for s, r in zip(index.samples, records):
        if "error" in r:
            rep.add(r["error"], s.image)
            continue
        sizes[s.image] = (r["width"], r["height"])
        if max(r["width"], r["height"]) > 4 * min(r["width"], r["height"]):
            rep.add("extreme_aspect_ratio", f"{s.image}: {r['width']}x{r['height']}")
        if not by_hash[r["sha256"]] and r.get("dhash") is not None and index.task != "anomaly_detection":
            # one of each set of exact copies; a product's images (anomaly detection) are meant to look alike
            looks[s.image] = r["dhash"]
        by_hash[r["sha256"]].append(s)
    _check_labels(index, sizes, rep)
    for group in near_duplicates(looks) if len(looks) <= NEAR_DUPLICATES_UP_TO else ():
        rep.add("near_duplicates", " ≈ ".join(group[:3]))

    for group in by_hash.values():
        if len(group) > 1:
            splits = {s.split for s in group}
            if "train" in splits and len(splits) > 1:
                rep.add("train_val_leakage", " = ".join(s.image for s in group[:3]))
            else:
                rep.add("duplicate_images", " = ".join(s.image for s in group[:3]))
            if len({s.label for s in group}) > 1:  # one picture, two answers: at least one label is wrong
                rep.add("conflicting_labels", " = ".join(f"{s.image} ({index.class_names[s.label]})" for s in group[:3]
                                                         if s.label is not None and s.label < len(index.class_names)))

    counts = _counts(index)
    train = counts.get("train", {})
    if index.format in ("imagefolder", "yolo", "coco", "voc"):
        for name in index.class_names:
            n = train.get(name, 0)
            if n == 0:
                rep.add("class_without_images", name)
            elif n < MIN_IMAGES_PER_CLASS:
                rep.add("few_images_per_class", f"{name}: {n}")
        present = [train.get(n, 0) for n in index.class_names if train.get(n, 0) > 0]
        if len(present) > 1 and max(present) > 10 * min(present):
            rep.add("class_imbalance", f"max {max(present)} vs min {min(present)}")
    if index.samples and "val" not in index.splits():
        rep.add("no_val_split", None)  # the whole dataset: no example to name

    widths = [w for w, _ in sizes.values()]
    heights = [h for _, h in sizes.values()]
    report = {
        "dataset": ".", "format": index.format, "task": index.task, "class_names": index.class_names,
        "images": len(index.samples), "images_per_split": dict(Counter(s.split for s in index.samples)),
        "counts": counts,
        "image_size": ({"min": [min(widths), min(heights)], "max": [max(widths), max(heights)],
                        "mean": [round(sum(widths) / len(widths), 1), round(sum(heights) / len(heights), 1)]}
                       if widths else None),
        "image_modes": dict(Counter(r["mode"] for r in records if "mode" in r)),  # RGB, L, P, I;16, CMYK, ...
        "findings": rep.findings(),
        **({"metadata": index.metadata} if index.metadata else {}),  # e.g. a Roboflow export's project and license
    }
    report["ok"] = not any(f["severity"] == "error" for f in report["findings"])
    report["summary"] = render_summary(report, language)
    return report


def _format_failure(root: str, fmt: Optional[str], message: str, language: str) -> dict:
    finding = {"code": "unreadable_format", "severity": "error", "count": 1, "examples": ["."],
               "message": message}
    report = {"dataset": ".", "format": fmt or "unknown", "task": None, "class_names": [], "images": 0,
              "images_per_split": {}, "counts": {}, "image_size": None, "findings": [finding], "ok": False}
    report["summary"] = render_summary(report, language)
    return report
