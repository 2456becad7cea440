"""What ``predict-batch`` writes as ``metrics.json``, for every registered task trainer: answers equal
to a labelled dataset's own labels score perfectly, answers that miss score lower, and images without
labels are not scored. A trainer without a case here fails the first test."""
import base64
import io
import os

import numpy as np
import pytest
from PIL import Image

from train_jobs.data.formats import read_dataset
from train_jobs.data.synth import make_anomaly, make_classification, make_detection, make_segmentation
from train_jobs.tasks import get_task, list_tasks
from train_jobs.tasks._base import TRAINERS


def _png(mask: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _classification(index, spoil: bool) -> dict:
    names = index.class_names
    return {s.image: {"top": [{"class": names[(s.label + (i % 2 if spoil else 0)) % len(names)], "score": 0.9}]}
            for i, s in enumerate(index.samples)}


def _semantic(index, spoil: bool) -> dict:
    out = {}
    for s in index.samples:
        with Image.open(os.path.join(index.root, s.mask)) as m:
            mask = np.asarray(m.convert("L").resize((32, 32), Image.NEAREST))
        out[s.image] = {"mask": _png(np.zeros_like(mask) if spoil else mask)}
    return out


def _anomaly(index, spoil: bool) -> dict:
    return {s.image: {"score": float(s.label != spoil), "threshold": 0.5, "class": ("good", "anomalous")[s.label != spoil]}
            for s in index.samples}


def _boxes(index, spoil: bool) -> dict:
    shift = lambda b: (b.x2 - b.x1) * 0.6 if spoil else 0.0  # noqa: E731 - IoU 0.25 when shifted: a miss at 0.5
    return {s.image: {"objects": [{"class": index.class_names[b.class_id], "score": 0.9,
                                   "box": [b.x1 + shift(b), b.y1, b.x2 + shift(b), b.y2]} for b in s.boxes]}
            for s in index.samples}


CASES = {  # trainer: (write a labelled dataset, answers from its labels, the headline metric)
    "classification": (lambda d: make_classification(d, num_classes=3, per_class=8, image_size=32), _classification,
                       "accuracy"),
    "segmentation": (lambda d: make_segmentation(d, num_classes=2, images=8, image_size=32), _semantic, "miou"),
    "anomaly_detection": (lambda d: make_anomaly(d, train_images=6, test_good=4, test_defects=4, image_size=32),
                          _anomaly, "auroc"),
    "detection/ultralytics": (lambda d: make_detection(d, num_classes=2, images=8, image_size=64), _boxes, "mAP50"),
    "segmentation/ultralytics": (lambda d: make_detection(d, num_classes=2, images=8, image_size=64, polygons=True),
                                 _boxes, "box_mAP50"),
}


def test_every_trainer_has_a_case():
    list_tasks()  # the built-in trainers registered
    assert set(CASES) == set(TRAINERS.names())


@pytest.mark.parametrize("name", sorted(CASES))
def test_labels_as_answers_score_perfectly_and_misses_lower(name, tmp_path):
    make, answers, headline = CASES[name]
    make(str(tmp_path / "data"))
    index = read_dataset(str(tmp_path / "data"))
    trainer = get_task(*name.split("/"))
    names = ["good", "anomalous"] if name == "anomaly_detection" else index.class_names
    perfect = trainer.batch_metrics(index, answers(index, False), names)
    missed = trainer.batch_metrics(index, answers(index, True), names)
    scored = [s for s in index.samples if s.label is not None or s.mask or s.label_file]
    assert perfect["num_images"] == missed["num_images"] == len(scored) > 0
    assert perfect[headline] >= 0.99 and missed[headline] < perfect[headline] - 0.2, (perfect, missed)
    assert trainer.batch_metrics(index, {}, names) is None  # nothing answered: nothing scored


def test_an_object_found_in_a_region_marked_not_to_count_is_not_a_false_positive(tmp_path):
    """A COCO crowd region (a VOC difficult object reads the same): the most confident answer lies inside
    it. Counted, it is a false positive ahead of every true one; inside the region it is not counted."""
    from train_jobs.data.formats import Box

    make_detection(str(tmp_path / "data"), num_classes=2, images=8, image_size=64)
    index = read_dataset(str(tmp_path / "data"))
    s = index.samples[0]
    s.ignored.append(Box(s.boxes[0].class_id, 0, 0, 20, 20))
    answers = _boxes(index, False)
    answers[s.image]["objects"].insert(0, {"class": index.class_names[s.boxes[0].class_id], "score": 0.99,
                                           "box": [2, 2, 18, 18]})
    trainer = get_task("detection", "ultralytics")
    scored = trainer.batch_metrics(index, answers, index.class_names)
    s.ignored.clear()
    counted = trainer.batch_metrics(index, answers, index.class_names)
    assert scored["ignored_region_hits"] == 1 and counted["ignored_region_hits"] == 0
    assert scored["precision"] > counted["precision"] and scored["mAP50"] > counted["mAP50"], (scored, counted)
