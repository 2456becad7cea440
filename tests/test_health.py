"""What the health report adds for data as people bring it (#27): pictures that look the same though
their bytes differ, images too long to square, boxes too small to survive resizing, and classes so
imbalanced that the plan weighs them (and the classification trainer does)."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from serve_app.intent import ParseResult
from serve_app.services.plan import make_plan
from serve_app.services.records import Records
from train_jobs.config import ConfigError, config_from_dict
from train_jobs.data.versions import add_dataset
from train_jobs.data.validate import validate_dataset
from train_jobs.store import open_store


def photo(seed: int, size: tuple[int, int] = (160, 120)) -> Image.Image:
    """A smooth, photo-like picture: a few soft blobs of colour over a gradient."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    img = np.stack([rng.uniform(40, 200) + 60 * (x * rng.uniform(-1, 1) + y * rng.uniform(-1, 1))] * 3, -1)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 0.75), rng.uniform(0.08, 0.25)
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))[..., None]
        img = img * (1 - blob) + blob * rng.uniform(0, 255, 3)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def folder(root, spec: dict[str, list[Image.Image]]) -> str:
    for split_class, images in spec.items():
        os.makedirs(os.path.join(root, split_class), exist_ok=True)
        for i, im in enumerate(images):
            im.save(os.path.join(root, split_class, f"{i:03d}.png"))
    return str(root)


def findings(report: dict) -> dict[str, dict]:
    return {f["code"]: f for f in report["findings"]}


def test_a_resized_recompressed_copy_is_a_near_duplicate_and_other_pictures_are_not(tmp_path):
    root = folder(tmp_path / "ds", {"train/cat": [photo(i) for i in range(12)],
                                    "train/dog": [photo(100 + i) for i in range(12)],
                                    "val/cat": [], "val/dog": [photo(200)]})
    photo(3).resize((120, 90)).save(os.path.join(root, "val", "cat", "copy.jpg"), quality=60)
    found = findings(validate_dataset(root))
    assert found["near_duplicates"]["count"] == 1
    assert found["near_duplicates"]["examples"] == ["train/cat/003.png ≈ val/cat/copy.jpg"]
    assert "train_val_leakage" not in found  # not the same bytes
    again = folder(tmp_path / "clean", {"train/cat": [photo(i) for i in range(12)],
                                        "train/dog": [photo(100 + i) for i in range(12)]})
    assert "near_duplicates" not in findings(validate_dataset(again))


def test_long_images_and_tiny_boxes_are_named(tmp_path):
    root = tmp_path / "yolo"
    for split in ("train", "val"):
        os.makedirs(root / "images" / split)
        os.makedirs(root / "labels" / split)
        for i in range(3):
            photo(i + (10 if split == "val" else 0)).save(root / "images" / split / f"{i}.png")
            # a 2x2 px box in a 160x120 image: under 4 px, and under 1 % of the side
            (root / "labels" / split / f"{i}.txt").write_text("0 0.5 0.5 0.3 0.3\n" + ("1 0.2 0.2 0.0125 0.0167\n"
                                                                                      if i == 0 else "1 0.2 0.2 0.2 0.2\n"))
    photo(7, (640, 120)).save(root / "images" / "train" / "wide.png")
    (root / "labels" / "train" / "wide.txt").write_text("0 0.5 0.5 0.1 0.5\n")
    (root / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [a, b]\n")
    found = findings(validate_dataset(str(root)))
    assert found["tiny_boxes"]["count"] == 2 and found["tiny_boxes"]["examples"][0].endswith("2x2 px in 160x120")
    assert found["extreme_aspect_ratio"]["examples"] == ["images/train/wide.png: 640x120"]


def test_an_imbalanced_classification_dataset_is_planned_with_class_weights(tmp_path):
    root = folder(tmp_path / "ds", {"train/common": [photo(i, (32, 32)) for i in range(44)],
                                    "train/rare": [photo(500 + i, (32, 32)) for i in range(4)]})
    assert "class_imbalance" in findings(validate_dataset(root))
    records, storage = Records(f"sqlite:///{tmp_path}/r.db"), str(tmp_path / "store")
    added = add_dataset(root, open_store(storage))
    records.add_dataset(added["dataset_id"], "ann", "imbalanced", added["report"])
    result = ParseResult.model_validate({"status": "complete", "language": "en", "intent": {
        "task": "classification", "model": {"source": "timm", "name": "resnet18"},
        "dataset": {"uri": "name:imbalanced"}}})
    plan = make_plan(result, {"username": "ann", "role": "user"}, records, storage)
    assert plan["config"]["dataset"]["uri"] == added["dataset_id"]  # named, found
    assert plan["config"]["hyperparameters"]["class_weights"] == "balanced"
    assert "hyperparameters.class_weights" in plan["defaults"]
    assert plan["notes"]["hyperparameters.class_weights"].startswith("the classes are imbalanced (44 images against 4")


def test_class_weights_count_each_class_alike_and_are_for_classification_only():
    from train_jobs.tasks.classification import class_weights

    w = class_weights([0] * 90 + [1] * 10, 2)
    assert w.tolist() == pytest.approx([100 / 180, 100 / 20])
    assert (w.numpy() * [90, 10]).tolist() == pytest.approx([50, 50])  # each class weighs the same in all
    with pytest.raises(ConfigError, match="class_weights 'balanced' is for the classification trainer"):
        config_from_dict({"task": "detection", "model": {"source": "ultralytics", "name": "yolov8n"},
                          "dataset": {"uri": "/data"}, "hyperparameters": {"class_weights": "balanced"}})


def test_label_noise_hints_one_picture_in_two_classes_and_one_object_boxed_twice(tmp_path):
    root = folder(tmp_path / "cls", {"train/cat": [photo(i) for i in range(6)],
                                     "train/dog": [photo(100 + i) for i in range(5)] + [photo(2)]})
    found = findings(validate_dataset(root))
    assert found["conflicting_labels"]["examples"] == ["train/cat/002.png (cat) = train/dog/005.png (dog)"]
    yolo = tmp_path / "yolo"
    for split in ("train", "val"):
        (yolo / "images" / split).mkdir(parents=True)
        (yolo / "labels" / split).mkdir(parents=True)
        for i in range(2):
            photo(i + 20 * (split == "val")).save(yolo / "images" / split / f"{i}.png")
            again = "0 0.502 0.5 0.3 0.3\n" if (split, i) == ("train", 1) else "1 0.5 0.5 0.3 0.3\n"  # class 1: another
            (yolo / "labels" / split / f"{i}.txt").write_text("0 0.5 0.5 0.3 0.3\n" + again)
    (yolo / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [a, b]\n")
    found = findings(validate_dataset(str(yolo)))
    assert found["duplicate_boxes"]["count"] == 1 and found["duplicate_boxes"]["examples"] == ["labels/train/1.txt: a"]


def test_near_duplicate_groups_are_every_pair_within_the_bits_and_only_those():
    import random

    from train_jobs.data.validate import NEAR, near_duplicates

    rng = random.Random(0)
    shared = rng.getrandbits(256) & ((1 << 10) - 1)  # every hash in one bucket: compared in many blocks
    hashes = {f"{i:04d}": (rng.getrandbits(246) << 10) | shared for i in range(2000)}

    def flipped(h: int, bits: int) -> int:
        for b in rng.sample(range(10, 256), bits):
            h ^= 1 << b
        return h

    hashes["0005-near"] = flipped(hashes["0005"], NEAR)  # compared in the first block and the last
    hashes["last-near"] = flipped(hashes["0005-near"], NEAR - 4)  # the last one in: a group of three
    hashes["0100-far"] = flipped(hashes["0100"], NEAR + 1)
    want = [sorted(g) for g in ([a, b] for a in hashes for b in hashes
                                if a < b and bin(hashes[a] ^ hashes[b]).count("1") <= NEAR)]
    assert want == [["0005", "0005-near"], ["0005-near", "last-near"]]
    assert near_duplicates(hashes) == [["0005", "0005-near", "last-near"]]
