"""Detection scores of boxes already predicted (a batch prediction's answers, or a job's evaluation
where the labels mark regions not to count) against a dataset's labelled boxes."""
from __future__ import annotations

from typing import Optional

import numpy as np

from train_jobs.data.formats import box_iou

__all__ = ["box_metrics"]


def _covered(boxes: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """For each box, the largest share of its area inside one region (COCO's rule for crowds)."""
    if not len(boxes) or not len(regions):
        return np.zeros(len(boxes))
    lt = np.maximum(boxes[:, None, :2], regions[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], regions[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = np.clip(boxes[:, 2:] - boxes[:, :2], 1e-9, None).prod(-1)
    return (inter / area[:, None]).max(1)


def box_metrics(index, answers: dict[str, dict], class_names: list[str], masks: bool) -> Optional[dict]:
    """Box mAP over the images with a label file: each answer's objects (most confident first) matched to
    the unmatched labelled box of their class they overlap most, at IoU 0.5 to 0.95, scored by
    Ultralytics' own ``ap_per_class``. An object that matches no labelled box at IoU 0.5 but lies at least
    half inside an ignored region of its class (a COCO crowd, a VOC difficult object) is not counted at all.
    For instance segmentation these are the boxes' scores (``box_``)."""
    from ultralytics.utils.metrics import ap_per_class

    thresholds = np.linspace(0.5, 0.95, 10)
    hits, conf, pred_cls, target_cls, images, left_out = [], [], [], [], 0, 0
    for s in index.samples:
        if s.label_file is None or "objects" not in answers.get(s.image, {}):
            continue
        images += 1
        known = lambda boxes: [(class_names.index(index.class_names[b.class_id]), (b.x1, b.y1, b.x2, b.y2))  # noqa: E731
                               for b in boxes if b.class_id < len(index.class_names)
                               and index.class_names[b.class_id] in class_names]
        truth, regions = known(s.boxes), known(s.ignored)
        objects = sorted((o for o in answers[s.image]["objects"] if o["class"] in class_names), key=lambda o: -o["score"])
        boxes = np.array([o["box"] for o in objects], dtype=float).reshape(-1, 4)
        iou = box_iou(boxes, np.array([box for _, box in truth], dtype=float).reshape(-1, 4))
        found = np.zeros((len(objects), len(thresholds)), dtype=bool)
        for j, t in enumerate(thresholds):
            taken: set = set()
            for i, o in enumerate(objects):
                free = [g for g, (c, _) in enumerate(truth) if g not in taken and c == class_names.index(o["class"])
                        and iou[i, g] >= t]
                if free:
                    taken.add(max(free, key=lambda g: iou[i, g]))
                    found[i, j] = True
        keep = np.ones(len(objects), dtype=bool)
        for c in {c for c, _ in regions}:
            mine = np.array([class_names.index(o["class"]) == c for o in objects], dtype=bool)
            inside = _covered(boxes, np.array([box for k, box in regions if k == c], dtype=float)) >= 0.5
            keep &= ~(mine & inside & ~found[:, 0])
        left_out += int((~keep).sum())
        hits.append(found[keep])
        conf += [o["score"] for o, k in zip(objects, keep) if k]
        pred_cls += [class_names.index(o["class"]) for o, k in zip(objects, keep) if k]
        target_cls += [c for c, _ in truth]
    if not images:
        return None
    _, _, p, r, _, ap, classes = ap_per_class(np.concatenate(hits) if hits else np.zeros((0, 10), dtype=bool),
                                              np.array(conf), np.array(pred_cls), np.array(target_cls))[:7]
    mean = lambda x: round(float(x.mean()), 4) if x.size else 0.0  # noqa: E731
    prefix = "box_" if masks else ""
    return {f"{prefix}mAP50": mean(ap[:, 0]), f"{prefix}mAP50_95": mean(ap), "precision": mean(p),
            "recall": mean(r), "num_images": images, "class_names": class_names,
            "ignored_region_hits": left_out,
            "per_class": {class_names[c]: {"AP50": round(float(ap[i, 0]), 4), "AP50_95": round(float(ap[i].mean()), 4)}
                          for i, c in enumerate(classes)}}
