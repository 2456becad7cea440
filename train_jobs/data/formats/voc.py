"""Pascal VOC: ``Annotations/*.xml`` (object name + bndbox) with ``JPEGImages/``; ImageSets optional.
Objects marked ``difficult`` are left out of training, as Ultralytics' converter leaves them out, and kept
as regions the evaluation does not count, as VOC's own does (the report counts them); ``truncated`` and ``occluded`` objects are objects like any other."""
from __future__ import annotations

import os
from xml.sax.saxutils import escape

import defusedxml.ElementTree as ET

from train_jobs.data.formats._index import Box, DatasetIndex, FormatError, Sample, copy_names, dataset_file
from train_jobs.data.formats._registry import DatasetFormat, register_format


def _split_lists(root: str) -> dict[str, str]:
    folder = os.path.join(root, "ImageSets", "Main")
    out = {}
    for split in ("train", "val", "test"):
        path = os.path.join(folder, f"{split}.txt")
        if os.path.isfile(path):
            with open(path) as f:
                for line in f:
                    if line.strip():
                        out[line.split()[0]] = split
    return out


def read(root: str, class_names: list[str] | None = None) -> DatasetIndex:
    ann_dir = os.path.join(root, "Annotations")
    splits = _split_lists(root)
    raw = []
    for name in sorted(os.listdir(ann_dir)):
        if not name.endswith(".xml"):
            continue
        try:
            tree = ET.parse(os.path.join(ann_dir, name))
        except Exception as exc:  # defusedxml refuses entity tricks; both are a bad file here
            raise FormatError(f"Annotations/{name} is not usable XML: {exc}") from None
        node = tree.getroot()
        size = node.find("size")
        w = int(float(size.findtext("width", "0"))) if size is not None else None
        h = int(float(size.findtext("height", "0"))) if size is not None else None
        objs = []
        for obj in node.findall("object"):
            bb = obj.find("bndbox")
            if bb is None:
                continue
            vals = [float(bb.findtext(k, "nan")) for k in ("xmin", "ymin", "xmax", "ymax")]
            difficult = (obj.findtext("difficult") or "0").strip() not in ("0", "", "false", "False")
            objs.append((obj.findtext("name", "").strip(), vals, difficult))
        stem = os.path.splitext(name)[0]
        raw.append((stem, node.findtext("filename") or f"{stem}.jpg", w, h, objs))
    names = class_names or sorted({n for *_, objs in raw for n, _, _ in objs})
    index = DatasetIndex("voc", "detection", root, names)
    for stem, filename, w, h, objs in raw:
        image = dataset_file(root, os.path.join("JPEGImages", filename), f"Annotations/{stem}.xml: filename")
        sample = Sample(os.path.relpath(image, root), splits.get(stem, "train"),
                        width=w or None, height=h or None, label_file=f"Annotations/{stem}.xml")
        for name, (x1, y1, x2, y2), difficult in objs:
            if name not in names:
                index.problem("unknown_class_name", f"{sample.label_file}: {name!r}")
                continue
            if difficult:
                index.problem("difficult_ignored", f"{sample.label_file}: {name!r}")
            (sample.ignored if difficult else sample.boxes).append(Box(names.index(name), x1 - 1, y1 - 1, x2, y2))  # 1-based
        index.samples.append(sample)
    return index


def write(index: DatasetIndex, out: str) -> None:
    for d in ("Annotations", "JPEGImages", os.path.join("ImageSets", "Main")):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    lists: dict[str, list[str]] = {}
    for s, base in zip(index.samples, copy_names(index.samples, per_split=False)):
        stem = os.path.splitext(base)[0]
        dst = os.path.join(out, "JPEGImages", base)
        if not os.path.exists(dst):
            os.link(index.path(s), dst)
        objs = "".join(
            f"<object><name>{escape(index.class_names[b.class_id])}</name><difficult>{hard}</difficult><bndbox>"
            f"<xmin>{b.x1 + 1:.2f}</xmin><ymin>{b.y1 + 1:.2f}</ymin><xmax>{b.x2:.2f}</xmax><ymax>{b.y2:.2f}</ymax>"
            "</bndbox></object>" for b, hard in [(b, 0) for b in s.boxes] + [(b, 1) for b in s.ignored])
        xml = (f"<annotation><filename>{escape(base)}</filename><size><width>{s.width}</width>"
               f"<height>{s.height}</height><depth>3</depth></size>{objs}</annotation>")
        with open(os.path.join(out, "Annotations", f"{stem}.xml"), "w") as f:
            f.write(xml)
        lists.setdefault(s.split, []).append(stem)
    for split, stems in lists.items():
        with open(os.path.join(out, "ImageSets", "Main", f"{split}.txt"), "w") as f:
            f.write("\n".join(stems) + "\n")


register_format(DatasetFormat("voc", ("detection",), lambda root: os.path.isdir(os.path.join(root, "Annotations")), read, write,
                              layout="Pascal VOC (Annotations/*.xml + JPEGImages/)"))
