import hashlib
import os

import pytest

from train_jobs.data import DatasetError, scan_imagefolder
from train_jobs.data.synth import class_names_for, make_classification


def _digest(root):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            h.update(f.encode())
            h.update(open(os.path.join(dirpath, f), "rb").read())
    return h.hexdigest()


def test_synthetic_classification_layout_and_determinism(tmp_path):
    info = make_classification(str(tmp_path / "a"), num_classes=4, per_class=5, image_size=40, seed=7)
    assert info["class_names"] == ["circle", "square", "triangle", "star"]
    assert sorted(os.listdir(tmp_path / "a")) == sorted(info["class_names"])
    assert all(len(os.listdir(tmp_path / "a" / c)) == 5 for c in info["class_names"])
    make_classification(str(tmp_path / "b"), num_classes=4, per_class=5, image_size=40, seed=7)
    make_classification(str(tmp_path / "c"), num_classes=4, per_class=5, image_size=40, seed=8)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")


def test_synthetic_splits_and_many_classes(tmp_path):
    info = make_classification(str(tmp_path), num_classes=10, per_class=10, image_size=32, val_fraction=0.3)
    assert set(os.listdir(tmp_path)) == {"train", "val"}
    assert info["counts"]["val"]["circle-solid"] == 3 and info["counts"]["train"]["circle-solid"] == 7
    assert "circle-striped" in info["class_names"]
    with pytest.raises(ValueError, match="2 to 24 classes"):
        class_names_for(25)


def test_scan_splits_reproducibly_per_class(tmp_path):
    make_classification(str(tmp_path), num_classes=3, per_class=10, image_size=32)
    a = scan_imagefolder(str(tmp_path), val_fraction=0.2, seed=1)
    b = scan_imagefolder(str(tmp_path), val_fraction=0.2, seed=1)
    assert a.train == b.train and a.val == b.val
    assert a.counts() == {"train": {c: 8 for c in a.class_names}, "val": {c: 2 for c in a.class_names}}
    assert not set(a.train) & set(a.val)
    assert scan_imagefolder(str(tmp_path), val_fraction=0.2, seed=2).val != a.val


def test_scan_uses_given_split(tmp_path):
    make_classification(str(tmp_path), num_classes=2, per_class=10, image_size=32, val_fraction=0.5)
    idx = scan_imagefolder(str(tmp_path))
    assert idx.split_given and len(idx.train) == 10 and len(idx.val) == 10
    assert all("/val/" in p for p, _ in idx.val)


def test_dataset_errors_say_what_to_do(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        scan_imagefolder(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="one folder per class"):
        scan_imagefolder(str(tmp_path / "empty"))
    make_classification(str(tmp_path / "d"), num_classes=3, per_class=4, image_size=32)
    with pytest.raises(DatasetError) as err:
        scan_imagefolder(str(tmp_path / "d"), class_names=["circle", "square", "hexagon"])
    assert "missing folders ['hexagon']" in str(err.value) and "not in the config ['triangle']" in str(err.value)
    (tmp_path / "d" / "star").mkdir()
    with pytest.raises(DatasetError, match="class .star. has no training images"):
        scan_imagefolder(str(tmp_path / "d"))
