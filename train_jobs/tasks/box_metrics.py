"""Detection scores of boxes already predicted (a batch prediction's answers) against a dataset's
labelled boxes: what ``predict-batch`` writes as ``metrics.json`` for detection and instance
segmentation."""
from __future__ import annotations

from typing import Optional

import numpy as np

from train_jobs.data.formats import box_iou

__all__ = ["box_metrics"]


def box_metrics(index, answers: dict[str, dict], class_names: list[str], masks: bool) -> Optional[dict]:
    """Box mAP over the images with a label file: each answer's objects (most confident first) matched to
    the unmatched labelled box of their class they overlap most, at IoU 0.5 to 0.95, scored by
    Ultralytics' own ``ap_per_class``. For instance segmentation these are the boxes' scores (``box_``)."""
    from ultralytics.utils.metrics import ap_per_class

    thresholds = np.linspace(0.5, 0.95, 10)
    hits, conf, pred_cls, target_cls, images = [], [], [], [], 0
    for s in index.samples:
        if s.label_file is None or "objects" not in answers.get(s.image, {}):
            continue
        images += 1
        truth = [(class_names.index(index.class_names[b.class_id]), (b.x1, b.y1, b.x2, b.y2)) for b in s.boxes
                 if b.class_id < len(index.class_names) and index.class_names[b.class_id] in class_names]
        objects = sorted((o for o in answers[s.image]["objects"] if o["class"] in class_names), key=lambda o: -o["score"])
        iou = box_iou(np.array([o["box"] for o in objects], dtype=float).reshape(-1, 4),
                   np.array([box for _, box in truth], dtype=float).reshape(-1, 4))
        found = np.zeros((len(objects), len(thresholds)), dtype=bool)
        for j, t in enumerate(thresholds):
            taken: set = set()
            for i, o in enumerate(objects):
                free = [g for g, (c, _) in enumerate(truth) if g not in taken and c == class_names.index(o["class"])
                        and iou[i, g] >= t]
                if free:
                    taken.add(max(free, key=lambda g: iou[i, g]))
                    found[i, j] = True
        hits.append(found)
        conf += [o["score"] for o in objects]
        pred_cls += [class_names.index(o["class"]) for o in objects]
        target_cls += [c for c, _ in truth]
    if not images:
        return None
    _, _, p, r, _, ap, classes = ap_per_class(np.concatenate(hits) if hits else np.zeros((0, 10), dtype=bool),
                                              np.array(conf), np.array(pred_cls), np.array(target_cls))[:7]
    mean = lambda x: round(float(x.mean()), 4) if x.size else 0.0  # noqa: E731
    prefix = "box_" if masks else ""
    return {f"{prefix}mAP50": mean(ap[:, 0]), f"{prefix}mAP50_95": mean(ap), "precision": mean(p),
            "recall": mean(r), "num_images": images, "class_names": class_names,
            "per_class": {class_names[c]: {"AP50": round(float(ap[i, 0]), 4), "AP50_95": round(float(ap[i].mean()), 4)}
                          for i, c in enumerate(classes)}}
