"""YOLO datasets as tools export them (#27): a Roboflow YOLOv8 export (``train: ../train/images``,
``valid/``, a ``roboflow:`` section), an Ultralytics dataset folder with its own ``coco8.yaml``
(``path: coco8``, ``names`` as a mapping, a ``download:`` URL), splits given as ``.txt`` lists of
images and as lists of folders. Each is read with every image and box, its extra keys kept as
metadata, and nothing outside the dataset is reachable through the same entries."""
from __future__ import annotations

import os

import pytest
import yaml
from PIL import Image

from train_jobs.data.formats import convert, read_dataset
from train_jobs.data.validate import validate_dataset


def _images(folder: str, labels: str, n: int, prefix: str = "") -> list[str]:
    """``n`` 32x32 images, each with one box of class ``i % 2`` in a YOLO label file."""
    os.makedirs(folder, exist_ok=True)
    os.makedirs(labels, exist_ok=True)
    names = []
    for i in range(n):
        name = f"{prefix}{i:04d}"
        Image.new("RGB", (32, 32), (30 * i % 255, 80, 160)).save(os.path.join(folder, f"{name}.jpg"))
        with open(os.path.join(labels, f"{name}.txt"), "w") as f:
            f.write(f"{i % 2} 0.5 0.5 0.25 0.25\n")
        names.append(f"{name}.jpg")
    return names


def _yaml(path: str, data: dict) -> None:
    with open(path, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False)


def roboflow_export(root: str) -> str:
    for split, n in (("train", 6), ("valid", 3), ("test", 2)):
        _images(os.path.join(root, split, "images"), os.path.join(root, split, "labels"), n, f"{split}_")
    _yaml(os.path.join(root, "data.yaml"), {
        "train": "../train/images", "val": "../valid/images", "test": "../test/images", "nc": 2,
        "names": ["helmet", "head"],
        "roboflow": {"workspace": "acme", "project": "hard-hats", "version": 3, "license": "CC BY 4.0",
                     "url": "https://universe.roboflow.com/acme/hard-hats/dataset/3"}})
    with open(os.path.join(root, "README.roboflow.txt"), "w") as f:
        f.write("Exported via roboflow.com\n")
    return root


def ultralytics_folder(root: str) -> str:
    for split, n in (("train", 4), ("val", 4)):
        _images(os.path.join(root, "images", split), os.path.join(root, "labels", split), n)
    _yaml(os.path.join(root, "coco8.yaml"), {
        "path": "coco8", "train": "images/train", "val": "images/val", "test": None,
        "names": {0: "person", 1: "bicycle"},
        "download": "https://github.com/ultralytics/assets/releases/download/v0.0.0/coco8.zip"})
    return root


def listed_splits(root: str) -> str:
    train = _images(os.path.join(root, "images", "train"), os.path.join(root, "labels", "train"), 5)
    extra = _images(os.path.join(root, "images", "extra"), os.path.join(root, "labels", "extra"), 2, "x")
    val = _images(os.path.join(root, "images", "val"), os.path.join(root, "labels", "val"), 3, "v")
    with open(os.path.join(root, "train.txt"), "w") as f:
        f.write("".join(f"./images/train/{n}\n" for n in train))
    with open(os.path.join(root, "val.txt"), "w") as f:
        f.write("".join(f"images/val/{n}\n" for n in val))
    _yaml(os.path.join(root, "data.yaml"), {"train": ["train.txt", "images/extra"], "val": "val.txt",
                                            "names": ["a", "b"]})
    assert len(extra) == 2
    return root


def test_a_roboflow_yolov8_export_is_read_as_exported(tmp_path):
    root = roboflow_export(str(tmp_path / "hard-hats"))
    report = validate_dataset(root)
    assert report["ok"], report["summary"]
    assert report["class_names"] == ["helmet", "head"]
    assert report["images_per_split"] == {"train": 6, "val": 3, "test": 2}
    assert report["metadata"]["roboflow"]["project"] == "hard-hats"
    index = read_dataset(root)
    assert sum(len(s.boxes) for s in index.samples) == 11
    assert {s.image.split("/")[0] for s in index.samples} == {"train", "valid", "test"}


def test_an_ultralytics_dataset_folder_with_its_own_yaml_is_read(tmp_path):
    root = ultralytics_folder(str(tmp_path / "coco8"))
    report = validate_dataset(root)
    assert report["ok"] and report["format"] == "yolo", report["summary"]
    assert report["class_names"] == ["person", "bicycle"] and report["images_per_split"] == {"train": 4, "val": 4}
    assert "download_ignored" in {f["code"] for f in report["findings"]}  # read as data, never fetched


def test_splits_listed_in_text_files_and_lists_of_folders_are_read(tmp_path):
    root = listed_splits(str(tmp_path / "listed"))
    report = validate_dataset(root)
    assert report["ok"], report["summary"]
    assert report["images_per_split"] == {"train": 7, "val": 3}
    index = read_dataset(root)
    assert all(s.label_file and s.boxes for s in index.samples)


@pytest.mark.parametrize("fmt", ["yolo", "coco", "voc"])
def test_images_of_the_same_name_in_two_folders_both_survive_a_conversion(tmp_path, fmt):
    """train: [images/train, images/extra], both holding 0000.jpg and 0001.jpg (with other boxes)."""
    from train_jobs.data.formats import convert

    root = str(tmp_path / "same-names")
    _images(os.path.join(root, "images", "train"), os.path.join(root, "labels", "train"), 3)
    _images(os.path.join(root, "images", "extra"), os.path.join(root, "labels", "extra"), 2)
    for i in range(2):  # the second folder's boxes are of the other class and smaller
        with open(os.path.join(root, "labels", "extra", f"{i:04d}.txt"), "w") as f:
            f.write(f"{1 - i % 2} 0.5 0.5 0.125 0.125\n")
    _images(os.path.join(root, "images", "val"), os.path.join(root, "labels", "val"), 2, "v")
    _yaml(os.path.join(root, "data.yaml"), {"train": ["images/train", "images/extra"], "val": "images/val",
                                            "names": ["a", "b"]})
    index = read_dataset(root)

    def boxes(ix) -> list:
        return sorted((s.split, b.class_id, round(b.x2 - b.x1)) for s in ix.samples for b in s.boxes)

    convert(index, fmt, str(tmp_path / fmt))
    again = read_dataset(str(tmp_path / fmt), fmt)
    assert len(again.samples) == len(index.samples) == 7 and boxes(again) == boxes(index)


@pytest.mark.parametrize("entry", ["../../victim/images", "../outside.txt"])
def test_the_readings_that_help_exports_reach_nothing_outside_the_dataset(tmp_path, entry):
    victim = tmp_path / "victim"
    _images(str(victim / "images"), str(victim / "labels"), 2)
    (tmp_path / "outside.txt").write_text(f"{victim}/images/0000.jpg\n")
    root = roboflow_export(str(tmp_path / "upload"))
    with open(os.path.join(root, "data.yaml")) as f:
        data = yaml.safe_load(f)
    _yaml(os.path.join(root, "data.yaml"), {**data, "train": entry})
    report = validate_dataset(root)
    assert not report["ok"] and report["images"] == 0 and "inside" in report["summary"], report["summary"]


def test_a_listed_image_outside_the_dataset_is_refused(tmp_path):
    root = listed_splits(str(tmp_path / "listed"))
    with open(os.path.join(root, "train.txt"), "a") as f:
        f.write("/etc/hostname\n")
    report = validate_dataset(root)
    assert not report["ok"] and "/etc/hostname" in report["summary"] and "inside" in report["summary"]


def test_a_roboflow_export_gets_a_working_copy_of_every_image(tmp_path, monkeypatch):
    """The per-job copy Ultralytics trains on holds every image of train, valid and test (trained for an
    epoch through the API in test_dataset_manager)."""
    from train_jobs.config import TrainingConfig
    from train_jobs.tasks import ultralytics_run as u

    monkeypatch.setenv("TMPDIR", str(tmp_path / "work"))
    root = roboflow_export(str(tmp_path / "hard-hats"))
    cfg = TrainingConfig(task="detection", model={"source": "ultralytics", "name": "yolov8n"}, dataset={"uri": root},
                         class_names=["helmet", "head"], hyperparameters={"epochs": 1, "batch_size": 4, "image_size": 32},
                         storage={"uri": str(tmp_path / "store")}, job_id="detection-roboflow")
    data_yaml, _ = u.prepare_yolo_data(cfg, root)
    with open(data_yaml) as f:
        copy = yaml.safe_load(f)["path"]
    assert [len(os.listdir(os.path.join(copy, "images", s))) for s in ("train", "val", "test")] == [6, 3, 2]


def mvtec_category(root: str) -> str:
    """One category of MVTec AD as distributed: train/good, test/good and test/<defect>, ground_truth masks,
    and the set's license.txt."""
    from train_jobs.data.synth import make_anomaly

    make_anomaly(root, train_images=16, test_good=4, test_defects=4, image_size=64, seed=0)
    with open(os.path.join(root, "license.txt"), "w") as f:
        f.write("CC BY-NC-SA 4.0\n")
    return root


def test_the_whole_mvtec_set_is_refused_with_what_to_upload_instead(tmp_path):
    for category in ("bottle", "cable"):
        mvtec_category(str(tmp_path / "mvtec_anomaly_detection" / category))
    report = validate_dataset(str(tmp_path / "mvtec_anomaly_detection"))
    assert not report["ok"] and "2 MVTec categories (bottle, cable)" in report["summary"]
    assert "upload one category's folder (e.g. bottle/" in report["summary"]


def test_coco_objects_in_several_parts_keep_every_part_and_crowds_are_kept_for_evaluation(tmp_path):
    """COCO as annotation tools export it: an object drawn as two polygons, and a crowd region, which is
    not trained on and is still a crowd region in a COCO copy."""
    import json

    from train_jobs.data.formats import convert

    root = tmp_path / "coco"
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (64, 64)).save(root / "images" / "a.jpg")
    left, right = [4, 4, 20, 4, 20, 20, 4, 20], [40, 30, 60, 30, 60, 60, 40, 60]
    (root / "annotations.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 64}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 56, 56], "segmentation": [left, right], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [0, 0, 64, 64], "iscrowd": 1,
             "segmentation": {"counts": [0, 4096], "size": [64, 64]}}],
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "crowd"}]}))
    index = read_dataset(str(root))
    [box] = index.samples[0].boxes
    corners = {(float(x), float(y)) for x, y in zip(left[0::2] + right[0::2], left[1::2] + right[1::2])}
    assert corners <= set(box.polygon)  # both parts, joined into one outline
    report = validate_dataset(str(root))
    assert "crowd_ignored" in {f["code"] for f in report["findings"]}
    convert(index, "yolo", str(tmp_path / "yolo"))
    [again] = read_dataset(str(tmp_path / "yolo")).samples[0].boxes
    assert {(round(x), round(y)) for x, y in again.polygon} >= {(round(x), round(y)) for x, y in corners}
    assert [(b.class_id, b.x1, b.y1, b.x2, b.y2) for b in index.samples[0].ignored] == [(1, 0, 0, 64, 64)]
    convert(index, "coco", str(tmp_path / "copy"))
    [copy] = read_dataset(str(tmp_path / "copy")).samples
    assert len(copy.boxes) == 1 and [(b.x1, b.y1, b.x2, b.y2) for b in copy.ignored] == [(0, 0, 64, 64)]


def cvat_voc_export(root: str) -> str:
    """CVAT's "PASCAL VOC 1.1": Annotations, JPEGImages, ImageSets/Main/default.txt, labelmap.txt; each
    object with pose, truncated, difficult, occluded and attributes. frame_000001 has a difficult object."""
    for d in ("Annotations", "JPEGImages", os.path.join("ImageSets", "Main")):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    stems = [f"frame_{i:06d}" for i in range(4)]
    for i, stem in enumerate(stems):
        Image.new("RGB", (64, 48), (40 * i, 90, 150)).save(os.path.join(root, "JPEGImages", f"{stem}.jpg"))
        objects = [("helmet", 0, 0, (5, 5, 30, 30)), ("head", 1, 0, (34, 10, 60, 40))]
        if i == 1:
            objects.append(("head", 0, 1, (1, 40, 6, 46)))
        xml = "".join(
            f"<object><name>{n}</name><pose>Unspecified</pose><truncated>{t}</truncated><difficult>{d}</difficult>"
            f"<occluded>0</occluded><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}"
            "</ymax></bndbox><attributes><attribute><name>color</name><value>red</value></attribute></attributes>"
            "</object>" for n, t, d, b in objects)
        with open(os.path.join(root, "Annotations", f"{stem}.xml"), "w") as f:
            f.write(f"<annotation><folder></folder><filename>{stem}.jpg</filename><source><database>Unknown</database>"
                    f"</source><size><height>48</height><width>64</width><depth>3</depth></size><segmented>0"
                    f"</segmented>{xml}</annotation>")
    with open(os.path.join(root, "ImageSets", "Main", "default.txt"), "w") as f:
        f.write("\n".join(stems) + "\n")
    with open(os.path.join(root, "labelmap.txt"), "w") as f:
        f.write("# label:color_rgb:parts:actions\nhead:250,50,83::\nhelmet:51,221,255::\nbackground:0,0,0::\n")
    return root


def cvat_coco_export(root: str, crowd: bool = False) -> str:
    """CVAT's "COCO 1.0": annotations/instances_default.json, images under images/default/; with ``crowd``,
    each image also has a crowd region of heads (``iscrowd: 1``, its mask as uncompressed RLE)."""
    import json

    os.makedirs(os.path.join(root, "annotations"))
    os.makedirs(os.path.join(root, "images", "default"))
    images, anns = [], []
    for i in range(4):
        name = f"frame_{i:06d}.jpg"
        Image.new("RGB", (64, 48), (40 * i, 90, 150)).save(os.path.join(root, "images", "default", name))
        images.append({"id": i + 1, "width": 64, "height": 48, "file_name": name, "license": 0, "flickr_url": "",
                       "coco_url": "", "date_captured": 0})
        for cat, box in ((1, [5, 5, 25, 25]), (2, [34, 10, 26, 30])):
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": cat, "segmentation": [],
                         "area": box[2] * box[3], "bbox": box, "iscrowd": 0,
                         "attributes": {"occluded": False, "rotation": 0.0}})
        if crowd:
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 2, "iscrowd": 1, "area": 64 * 8,
                         "bbox": [0, 40, 64, 8], "segmentation": {"counts": [40, 8] * 64, "size": [48, 64]}})
    with open(os.path.join(root, "annotations", "instances_default.json"), "w") as f:
        json.dump({"licenses": [{"name": "", "id": 0, "url": ""}],
                   "info": {"contributor": "", "date_created": "", "description": "", "url": "", "version": "",
                            "year": ""},
                   "categories": [{"id": 1, "name": "helmet", "supercategory": ""},
                                  {"id": 2, "name": "head", "supercategory": ""}],
                   "images": images, "annotations": anns}, f)
    return root


def test_a_cvat_voc_export_is_read_and_difficult_objects_are_kept_out_of_training(tmp_path):
    root = cvat_voc_export(str(tmp_path / "cvat-voc"))
    report = validate_dataset(root)
    assert report["ok"] and report["format"] == "voc", report["summary"]
    assert report["images"] == 4 and sorted(report["class_names"]) == ["head", "helmet"]
    assert {f["code"]: f["count"] for f in report["findings"]}.get("difficult_ignored") == 1
    index = read_dataset(root)
    assert [len(s.boxes) for s in index.samples] == [2, 2, 2, 2]  # truncated kept, the difficult one left out
    assert [len(s.ignored) for s in index.samples] == [0, 1, 0, 0]  # ... for the evaluation not to count
    for fmt in ("voc", "coco"):  # still a region not to count in either format
        convert(index, fmt, str(tmp_path / fmt))
        again = read_dataset(str(tmp_path / fmt))
        assert sorted(len(s.ignored) for s in again.samples) == [0, 0, 0, 1], fmt
        assert sorted(len(s.boxes) for s in again.samples) == [2, 2, 2, 2], fmt


def test_a_cvat_coco_export_finds_its_images_under_the_subset_folder(tmp_path):
    root = cvat_coco_export(str(tmp_path / "cvat-coco"))
    report = validate_dataset(root)
    assert report["ok"] and report["format"] == "coco", report["summary"]
    index = read_dataset(root)
    assert [s.image for s in index.samples][0] == "images/default/frame_000000.jpg"
    assert sum(len(s.boxes) for s in index.samples) == 8 and index.class_names == ["helmet", "head"]


def _filled(polygon, size=(288, 240)):
    import numpy as np
    from PIL import ImageDraw

    canvas = Image.new("L", size)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in polygon], fill=1, outline=1)
    return np.asarray(canvas, dtype=bool)


def test_coco_crowd_rle_and_multi_polygon_objects_go_to_yolo_and_back_as_the_same_instances(tmp_path):
    """An RLE mask (compressed, as pycocotools writes it), an object in two polygons and a crowd region
    (uncompressed RLE): both objects survive COCO -> YOLO -> COCO with mask IoU >= 0.95, the crowd is
    left out, and two images of one name in different folders keep their own labels."""
    import json

    import numpy as np
    from pycocotools import mask as rle

    from train_jobs.data.formats import convert

    root = tmp_path / "coco"
    for sub in ("a", "b"):
        (root / "images" / sub).mkdir(parents=True)
        Image.new("RGB", (288, 240), (10, 20, 30) if sub == "a" else (200, 100, 50)).save(root / "images" / sub / "0001.jpg")
    yy, xx = np.mgrid[0:240, 0:288]
    blob = (((xx - 90) / 54.0) ** 2 + ((yy - 120) / 42.0) ** 2 <= 1).astype(np.uint8)
    encoded = rle.encode(np.asfortranarray(blob))
    left, right = [180, 30, 225, 30, 225, 90, 180, 90], [240, 150, 276, 150, 276, 228, 240, 228]
    crowd = {"counts": [0, 288 * 240], "size": [240, 288]}
    (root / "annotations.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a/0001.jpg", "width": 288, "height": 240},
                   {"id": 2, "file_name": "b/0001.jpg", "width": 288, "height": 240}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [36, 78, 109, 85], "iscrowd": 0,
             "segmentation": {"size": [240, 288], "counts": encoded["counts"].decode()}},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [180, 30, 96, 198], "iscrowd": 0,
             "segmentation": [left, right]},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [0, 0, 288, 240], "iscrowd": 1, "segmentation": crowd},
            {"id": 4, "image_id": 2, "category_id": 2, "bbox": [180, 30, 45, 60], "iscrowd": 0,
             "segmentation": [left]}],
        "categories": [{"id": 1, "name": "blob"}, {"id": 2, "name": "post"}]}))
    want = {"blob": blob.astype(bool), "post": _filled(list(zip(left[0::2], left[1::2]))) | _filled(
        list(zip(right[0::2], right[1::2])))}

    def instances(path: str) -> dict:
        index = read_dataset(path)
        return {s.image: {index.class_names[b.class_id]: _filled(b.polygon) for b in s.boxes} for s in index.samples}

    def iou(a, b) -> float:
        return (a & b).sum() / (a | b).sum()

    first = instances(str(root))
    assert {k: sorted(v) for k, v in first.items()} == {"images/a/0001.jpg": ["blob", "post"],
                                                        "images/b/0001.jpg": ["post"]}  # the crowd left out
    convert(read_dataset(str(root)), "yolo", str(tmp_path / "yolo"))
    convert(read_dataset(str(tmp_path / "yolo")), "coco", str(tmp_path / "back"))
    for copy in (str(tmp_path / "yolo"), str(tmp_path / "back")):
        found = instances(copy)
        assert len(found) == 2 and sorted(len(v) for v in found.values()) == [1, 2]  # no name collision
        both = next(v for v in found.values() if len(v) == 2)
        for name, mask in want.items():
            assert iou(both[name], mask) >= 0.95, (copy, name, iou(both[name], mask))


def roboflow_coco_export(root: str) -> str:
    """Roboflow's COCO export: train/, valid/ and test/, each with its images and _annotations.coco.json."""
    import json

    for k, (split, n) in enumerate((("train", 6), ("valid", 3), ("test", 2))):
        os.makedirs(os.path.join(root, split))
        images, anns = [], []
        for i in range(n):
            name = f"{split}_{i:04d}_jpg.rf.{i:032x}.jpg"
            Image.new("RGB", (64, 48), (30 * i % 255, 60 + 50 * k, 160)).save(os.path.join(root, split, name))
            images.append({"id": i, "license": 1, "file_name": name, "height": 48, "width": 64,
                           "date_captured": "2026-12-01T00:00:00+00:00"})
            anns.append({"id": i, "image_id": i, "category_id": 1 + i % 2, "bbox": [8, 8, 20, 16], "area": 320,
                         "segmentation": [], "iscrowd": 0})
        with open(os.path.join(root, split, "_annotations.coco.json"), "w") as f:
            json.dump({"info": {"year": "2026", "description": "Exported from roboflow.com"},
                       "licenses": [{"id": 1, "name": "CC BY 4.0"}],
                       "categories": [{"id": 0, "name": "hard-hats", "supercategory": "none"},
                                      {"id": 1, "name": "head", "supercategory": "hard-hats"},
                                      {"id": 2, "name": "helmet", "supercategory": "hard-hats"}],
                       "images": images, "annotations": anns}, f)
    with open(os.path.join(root, "README.roboflow.txt"), "w") as f:
        f.write("Exported via roboflow.com\n")
    return root


def test_a_roboflow_coco_export_is_read_with_each_split_from_its_folder(tmp_path):
    root = roboflow_coco_export(str(tmp_path / "rf-coco"))
    report = validate_dataset(root)
    assert report["ok"] and report["format"] == "coco", report["summary"]
    assert report["images_per_split"] == {"train": 6, "val": 3, "test": 2}
    assert report["class_names"] == ["head", "helmet"]  # the project's own category (unused) is no class
    index = read_dataset(root)
    assert sum(len(s.boxes) for s in index.samples) == 11
    assert all(s.image.startswith(("train/", "valid/", "test/")) for s in index.samples)


def test_nested_class_folders_and_any_letter_case_are_images_of_their_class(tmp_path):
    from train_jobs.data.imagefolder import scan_imagefolder

    for i, rel in enumerate(["cat/indoor/a.JPG", "cat/outdoor/deep/b.Jpeg", "cat/c.webp", "cat/d.PNG",
                             "dog/e.jpeg", "dog/f.TIF", "dog/g.bmp", "dog/h.Png"]):
        path = tmp_path / "pets" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (24, 24), (30 * i, 90, 160)).save(path)
    index = scan_imagefolder(str(tmp_path / "pets"), val_fraction=0.25)
    assert index.class_names == ["cat", "dog"] and len(index.train) + len(index.val) == 8
    assert validate_dataset(str(tmp_path / "pets"))["counts"] == {"train": {"cat": 4, "dog": 4}}
