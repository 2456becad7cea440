"""Format detection, validation findings on broken data, conversions and dataset versions."""
import json
import os
import shutil
import struct
import zipfile
import zlib

import pytest
import yaml
from PIL import Image

from train_jobs.data.formats import FormatError, convert, detect_format, read_dataset
from train_jobs.data.synth import make_classification, make_detection
from train_jobs.data.validate import validate_dataset
from train_jobs.data.versions import add_dataset
from train_jobs.store import LocalStore


def codes(report, severity=None):
    return {f["code"] for f in report["findings"] if severity in (None, f["severity"])}


def finding(report, code):
    return next(f for f in report["findings"] if f["code"] == code)


@pytest.fixture
def yolo(tmp_path):
    return make_detection(str(tmp_path / "yolo"), num_classes=3, images=16, image_size=64, seed=3)["path"]


def test_formats_are_detected(tmp_path, yolo):
    make_classification(str(tmp_path / "cls"), num_classes=2, per_class=3, image_size=32)
    assert detect_format(str(tmp_path / "cls")).name == "imagefolder"
    assert detect_format(yolo).name == "yolo"
    idx = read_dataset(yolo)
    convert(idx, "coco", str(tmp_path / "coco"))
    convert(idx, "voc", str(tmp_path / "voc"))
    assert detect_format(str(tmp_path / "coco")).name == "coco"
    assert detect_format(str(tmp_path / "voc")).name == "voc"
    (tmp_path / "mv" / "train" / "good").mkdir(parents=True)
    assert detect_format(str(tmp_path / "mv")).name == "mvtec"
    (tmp_path / "seg" / "images").mkdir(parents=True)
    (tmp_path / "seg" / "masks").mkdir()
    assert detect_format(str(tmp_path / "seg")).name == "mask"
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="cannot tell the format"):
        detect_format(str(tmp_path / "empty"))


def test_clean_data_is_ready_to_train(yolo):
    report = validate_dataset(yolo, task="detection")
    assert report["ok"], report["summary"]
    assert report["format"] == "yolo" and report["images"] == 16
    assert report["images_per_split"] == {"train": 12, "val": 4}
    assert report["image_size"]["min"] == [64, 64]
    assert "Ready to train" in report["summary"]


def _boxes(idx):
    return sorted((os.path.basename(s.image), b.class_id, b.x1, b.y1, b.x2, b.y2) for s in idx.samples for b in s.boxes)


def test_detection_round_trip_is_exact_within_a_pixel(tmp_path, yolo):
    original = read_dataset(yolo)
    convert(original, "coco", str(tmp_path / "coco"))
    convert(read_dataset(str(tmp_path / "coco")), "voc", str(tmp_path / "voc"))
    convert(read_dataset(str(tmp_path / "voc"), "voc"), "yolo", str(tmp_path / "back"))
    back = read_dataset(str(tmp_path / "back"))
    assert back.class_names == original.class_names
    a, b = _boxes(original), _boxes(back)
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        assert x[:2] == y[:2]
        assert all(abs(p - q) <= 1.0 for p, q in zip(x[2:], y[2:])), (x, y)
    assert {s.split for s in back.samples} == {"train", "val"}


def test_broken_yolo_labels_are_reported(yolo):
    labels = sorted(os.listdir(os.path.join(yolo, "labels", "train")))
    with open(os.path.join(yolo, "labels", "train", labels[0]), "a") as f:
        f.write("1 0.9 0.5 0.4 0.2\n")   # x from 0.7 to 1.1: outside the image
        f.write("7 0.5 0.5 0.1 0.1\n")   # class 7 with nc = 3
        f.write("0 0.5 0.5 0.0 0.1\n")   # zero width
        f.write("zero one two\n")
    open(os.path.join(yolo, "labels", "train", labels[1]), "w").close()
    os.unlink(os.path.join(yolo, "labels", "train", labels[2]))
    report = validate_dataset(yolo)
    assert not report["ok"]
    assert {"box_out_of_range", "class_id_out_of_range", "degenerate_box", "bad_label_line"} <= codes(report, "error")
    assert {"empty_label_file", "images_without_labels"} <= codes(report, "warning")
    assert "class 7 (classes 0..2)" in finding(report, "class_id_out_of_range")["examples"][0]
    assert "cannot train" in report["summary"]


def test_data_yaml_download_hook_is_ignored_and_never_run(tmp_path, yolo):
    marker = tmp_path / "pwned"
    with open(os.path.join(yolo, "data.yaml")) as f:
        data = yaml.safe_load(f)
    data["download"] = f"import pathlib; pathlib.Path('{marker}').write_text('ran')"
    with open(os.path.join(yolo, "data.yaml"), "w") as f:
        yaml.safe_dump(data, f)
    report = validate_dataset(yolo)  # the images and labels are there: it trains on them, and says what it ignored
    assert report["ok"] and "download_ignored" in {f["code"] for f in report["findings"]}, report["summary"]
    assert "never downloads or runs what a dataset names" in report["summary"] and "metadata" not in report
    with open(os.path.join(yolo, "data.yaml"), "w") as f:
        f.write(f"names: [a]\ntrain: images/train\nx: !!python/object/apply:os.system ['touch {marker}']\n")
    assert not validate_dataset(yolo)["ok"]
    assert not marker.exists()


def test_coco_categories_that_differ_from_the_config(tmp_path, yolo):
    convert(read_dataset(yolo), "coco", str(tmp_path / "coco"))
    report = validate_dataset(str(tmp_path / "coco"), class_names=["circle", "square", "star"])
    assert "class_names_mismatch" in codes(report, "error")
    assert "'star'" in finding(report, "class_names_mismatch")["examples"][0]


def test_duplicates_across_train_and_val_are_leakage(tmp_path):
    make_classification(str(tmp_path / "d"), num_classes=2, per_class=10, image_size=32, val_fraction=0.3)
    src = os.path.join(tmp_path, "d", "train", "circle", "circle_00005.png")
    shutil.copy(src, os.path.join(tmp_path, "d", "val", "circle", "copy.png"))
    shutil.copy(src, os.path.join(tmp_path, "d", "train", "circle", "copy2.png"))
    report = validate_dataset(str(tmp_path / "d"))
    assert report["ok"]  # warnings only
    assert "train_val_leakage" in codes(report, "warning")
    assert "copy.png" in finding(report, "train_val_leakage")["examples"][0]


def _pixel_bomb(path, side=100_000):
    """A tiny PNG whose header claims side x side pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def test_corrupt_truncated_and_pixel_bomb_images(tmp_path):
    make_classification(str(tmp_path / "d"), num_classes=2, per_class=8, image_size=32)
    jpg = tmp_path / "d" / "circle" / "photo.jpg"
    Image.new("RGB", (64, 64), (200, 10, 10)).save(jpg, quality=95)
    jpg.write_bytes(jpg.read_bytes()[: jpg.stat().st_size // 2])
    (tmp_path / "d" / "square" / "notes.png").write_bytes(b"not an image at all")
    _pixel_bomb(tmp_path / "d" / "square" / "bomb.png")
    import tracemalloc
    tracemalloc.start()
    report = validate_dataset(str(tmp_path / "d"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < (64 << 20)  # the bomb's 30 GB of pixels were never decoded
    assert {"corrupt_image", "image_too_large"} <= codes(report, "error")
    assert set(finding(report, "corrupt_image")["examples"]) == {"circle/photo.jpg", "square/notes.png"}
    assert finding(report, "image_too_large")["examples"] == ["square/bomb.png"]


def test_imbalance_and_few_images_and_korean_summary(tmp_path):
    make_classification(str(tmp_path / "d"), num_classes=2, per_class=44, image_size=32)
    for f in sorted(os.listdir(tmp_path / "d" / "square"))[3:]:
        os.unlink(tmp_path / "d" / "square" / f)
    report = validate_dataset(str(tmp_path / "d"), language="ko")
    assert {"class_imbalance", "few_images_per_class", "no_val_split"} <= codes(report, "warning")
    assert "학습할 수 있습니다" in report["summary"] and "경고" in report["summary"]


def test_task_mismatch(tmp_path, yolo):
    assert "task_mismatch" in codes(validate_dataset(yolo, task="classification"), "error")


def test_versions_same_bytes_same_id_never_modified(tmp_path):
    make_classification(str(tmp_path / "d"), num_classes=2, per_class=4, image_size=32)
    archive = tmp_path / "d.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for dirpath, _, files in os.walk(tmp_path / "d"):
            for f in files:
                full = os.path.join(dirpath, f)
                zf.write(full, os.path.join("d", os.path.relpath(full, tmp_path / "d")))
    store = LocalStore(str(tmp_path / "store"))
    first = add_dataset(str(archive), store)
    again = add_dataset(str(tmp_path / "d"), store)  # the same content as a folder
    assert first["dataset_id"] == again["dataset_id"] and first["dataset_id"].startswith("ds-")
    assert first["created"] and not again["created"]
    assert first["report"]["ok"] and first["report"]["format"] == "imagefolder"
    stored = json.loads(open(os.path.join(first["uri"], "..", "report.json")).read())
    assert stored["dataset"] == first["dataset_id"]
    (tmp_path / "d" / "circle" / "circle_00000.png").write_bytes(b"changed")
    changed = add_dataset(str(tmp_path / "d"), store)
    assert changed["dataset_id"] != first["dataset_id"] and changed["created"]
    assert sorted(os.listdir(store.root + "/datasets")) == sorted([first["dataset_id"], changed["dataset_id"]])


def test_polygon_labels_read_as_instance_segmentation(tmp_path):
    info = make_detection(str(tmp_path / "seg"), num_classes=2, images=8, image_size=64, polygons=True)
    assert info["task"] == "segmentation"
    idx = read_dataset(info["path"])
    assert idx.task == "segmentation"
    polys = [b.polygon for s in idx.samples for b in s.boxes]
    assert polys and all(len(p) >= 3 for p in polys)
    report = validate_dataset(info["path"], task="segmentation")
    assert report["ok"], report["summary"]
    # the boxes derived from the outlines sit inside the image
    assert all(0 <= b.x1 < b.x2 <= 64 and 0 <= b.y1 < b.y2 <= 64 for s in idx.samples for b in s.boxes)


def test_mask_dataset_checks(tmp_path):
    root = tmp_path / "seg"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    (root / "classes.txt").write_text("background\nshape\n")
    for i in range(4):
        Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(root / "images" / f"{i}.png")
    Image.new("L", (32, 32), 1).save(root / "masks" / "0.png")           # fine
    Image.new("L", (16, 16), 1).save(root / "masks" / "1.png")           # wrong size
    Image.new("L", (32, 32), 7).save(root / "masks" / "2.png")           # class 7 of 2
    report = validate_dataset(str(root), task="segmentation")             # 3.png has no mask
    assert report["format"] == "mask"
    assert {"mask_size_mismatch", "class_id_out_of_range", "missing_mask"} <= codes(report, "error")
    assert finding(report, "missing_mask")["examples"] == ["images/3.png"]


def test_validation_shards_keep_order_and_both_limits(tmp_path, monkeypatch):
    from train_jobs.data import validate

    make_classification(str(tmp_path / "d"), num_classes=2, per_class=10, image_size=32)
    paths = sorted(str(p) for p in (tmp_path / "d").rglob("*.png")) + [str(tmp_path / "gone.png")]
    sizes = {p: os.path.getsize(p) for p in paths[:-1]}
    assert validate._shards(paths) == [paths]  # 20 small images: one shard, checked in this process
    monkeypatch.setattr(validate, "SHARD_IMAGES", 6)
    monkeypatch.setattr(validate, "SHARD_BYTES", 3 * max(sizes.values()))
    shards = validate._shards(paths)
    assert [p for s in shards for p in s] == paths and len(shards) >= 7
    assert all(len(s) <= 6 and sum(sizes.get(p, 0) for p in s) <= validate.SHARD_BYTES for s in shards)


SHARDED = """
import json, sys
import ray
ray.init(address=sys.argv[1], logging_level="ERROR")
from train_jobs.data import validate
validate.SHARD_IMAGES = 5
print(json.dumps(validate.validate_dataset(sys.argv[2], use_ray=True)))
"""


@pytest.mark.ray
def test_validation_as_ray_tasks_reports_what_one_process_does(ray_cluster, tmp_path):
    import subprocess
    import sys

    make_classification(str(tmp_path / "d"), num_classes=2, per_class=12, image_size=32)
    (tmp_path / "d" / "square" / "notes.png").write_bytes(b"not an image at all")
    shutil.copy(tmp_path / "d" / "circle" / sorted(os.listdir(tmp_path / "d" / "circle"))[0],
                tmp_path / "d" / "square" / "copy.png")
    here = validate_dataset(str(tmp_path / "d"))
    run = subprocess.run([sys.executable, "-c", SHARDED, ray_cluster.gcs_address, str(tmp_path / "d")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    sharded = json.loads(run.stdout.strip().splitlines()[-1])
    assert sharded == here and {"corrupt_image"} <= codes(here, "error") and here["images"] == 26
