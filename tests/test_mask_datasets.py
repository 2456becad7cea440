"""Mask datasets as they come (#27): ADE20K's layout with palette PNG masks (read by their indices, not
their colours), Cityscapes as distributed (train ids where cityscapesScripts made them, else label ids),
each read, checked and (ADE20K) trained for an epoch."""
from __future__ import annotations

import os

import pytest
from PIL import Image

from train_jobs.data.formats import read_dataset
from train_jobs.data.validate import validate_dataset


def _scene(i: int, size=(64, 48)) -> tuple:
    """An image and its class ids: 0 background, 1 a left block, 2 a right block (sizes vary with i)."""
    import numpy as np

    ids = np.zeros(size[::-1], dtype=np.uint8)
    ids[8:40, 4:20 + i] = 1
    ids[4:44 - i, 36:60] = 2
    colours = np.array([[90, 90, 90], [200, 40, 40], [40, 40, 200]], dtype=np.uint8)
    return Image.fromarray(colours[ids]), ids


def ade_export(root: str) -> str:
    """ADE20K's SceneParsing layout: images/{training,validation}/*.jpg, annotations/... as palette PNGs
    whose colours are not their indices, objectInfo150.csv naming the classes."""
    import numpy as np

    palette = [0, 0, 0, 128, 0, 0, 0, 128, 0] + [255] * (256 * 3 - 9)  # index 1 shows dark red, 2 dark green
    for split, n in (("training", 8), ("validation", 4)):
        os.makedirs(os.path.join(root, "images", split))
        os.makedirs(os.path.join(root, "annotations", split))
        for i in range(n):
            image, ids = _scene(i)
            name = f"ADE_{'train' if split == 'training' else 'val'}_{i + 1:08d}"
            image.save(os.path.join(root, "images", split, f"{name}.jpg"))
            mask = Image.fromarray(ids, "P")
            mask.putpalette(palette)
            mask.save(os.path.join(root, "annotations", split, f"{name}.png"))
            assert np.array_equal(np.asarray(Image.open(os.path.join(root, "annotations", split, f"{name}.png"))), ids)
    with open(os.path.join(root, "objectInfo150.csv"), "w") as f:
        f.write("Idx,Ratio,Train,Val,Name\n1,0.15,8,4,wall\n2,0.10,8,4,floor;flooring\n")
    return root


def cityscapes_export(root: str, train_ids: bool = True) -> str:
    """leftImg8bit/{train,val}/<city>/*_leftImg8bit.png with gtFine/...: labelIds, colour and polygons, and
    labelTrainIds where cityscapesScripts made them (road 0, car 13, the rest 255 in this scene)."""
    import json

    import numpy as np

    for split, city, n in (("train", "aachen", 6), ("val", "frankfurt", 3)):
        for d in ("leftImg8bit", "gtFine"):
            os.makedirs(os.path.join(root, d, split, city))
        for i in range(n):
            image, ids = _scene(i)
            stem = f"{city}_{i:06d}_000019"
            image.save(os.path.join(root, "leftImg8bit", split, city, f"{stem}_leftImg8bit.png"))
            gt = os.path.join(root, "gtFine", split, city, f"{stem}_gtFine_")
            Image.fromarray(np.array([0, 7, 26], dtype=np.uint8)[ids]).save(gt + "labelIds.png")
            Image.fromarray(np.array([255, 0, 13], dtype=np.uint8)[ids]).save(gt + "labelTrainIds.png") if train_ids else None
            image.save(gt + "color.png")
            with open(gt + "polygons.json", "w") as f:
                json.dump({"imgHeight": 48, "imgWidth": 64, "objects": []}, f)
    return root


def test_ade20k_palette_masks_are_read_by_their_indices(tmp_path):
    import numpy as np

    from train_jobs.tasks.semantic import MaskDataset

    root = ade_export(str(tmp_path / "ade"))
    report = validate_dataset(root)
    assert report["ok"] and report["format"] == "mask", report["summary"]
    assert report["class_names"] == ["other", "wall", "floor"] and report["images_per_split"] == {"train": 8, "val": 4}
    index = read_dataset(root)
    sample = index.samples[0]
    _, ids = _scene(0)
    y = MaskDataset([(index.path(sample), os.path.join(root, sample.mask))], 48)[0][1].numpy()
    want = np.asarray(Image.fromarray(ids).resize((48, 48), Image.NEAREST))
    assert np.array_equal(y, want)  # the indices, not the palette's colours as grey


@pytest.mark.parametrize("train_ids", [True, False])
def test_cityscapes_as_distributed_is_read(tmp_path, train_ids):
    root = cityscapes_export(str(tmp_path / "cityscapes"), train_ids)
    report = validate_dataset(root)
    assert report["ok"] and report["format"] == "cityscapes", report["summary"]
    assert report["images_per_split"] == {"train": 6, "val": 3}
    index = read_dataset(root)
    assert len(index.class_names) == (19 if train_ids else 34)
    assert index.samples[0].mask.endswith("_gtFine_labelTrainIds.png" if train_ids else "_gtFine_labelIds.png")
    assert "gtFine" not in {s.image.split("/")[0] for s in index.samples}  # colour images are not samples


@pytest.mark.ray
@pytest.mark.parametrize("layout", ["ade20k"])  # palette masks; Cityscapes' 8-bit ids are read as the masks were
def test_mask_exports_train_an_epoch(job_service, tmp_path, layout):
    from train_jobs.config import config_from_dict
    from train_jobs.data.formats.cityscapes import TRAIN_NAMES

    root = (ade_export if layout == "ade20k" else cityscapes_export)(str(tmp_path / layout))
    cfg = config_from_dict({"task": "segmentation", "model": {"source": "huggingface", "name": "nvidia/mit-b0"},
                            "dataset": {"uri": root}, "storage": {"uri": str(tmp_path / "artifacts")},
                            "hyperparameters": {"epochs": 1, "batch_size": 4, "image_size": 32},
                            "resources": {"cpus_per_worker": 2}})
    job_service.submit(cfg)
    final = job_service.wait(cfg.job_id, timeout_s=400)
    assert final["state"] == "succeeded", job_service.logs(cfg.job_id)[-3000:]
    from train_jobs.state import JobFolder
    from train_jobs.store import open_store

    folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    metrics = folder.store.read_json(folder.key("metrics.json"))
    assert metrics["class_names"] == (["other", "wall", "floor"] if layout == "ade20k" else TRAIN_NAMES)
    # the classes the masks hold, read by their ids (Cityscapes' 255 left out of the scores)
    assert set(metrics["per_class_iou"]) == ({"other", "wall", "floor"} if layout == "ade20k" else {"road", "car"})
