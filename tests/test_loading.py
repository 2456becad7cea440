"""How a training worker is fed (train_jobs/loading.py): loader processes from its CPUs, each image
decoded once and shared by those processes, what the job's input event says, and compile."""
import contextlib
import glob
import os
import tempfile

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import train_jobs.loading as loading
from conftest import tiny_config
from train_jobs.config import config_from_dict
from train_jobs.data import scan_imagefolder
from train_jobs.data.synth import make_classification, make_segmentation
from train_jobs.loading import compute_threads, input_event, keeps_decoded, loader_workers
from train_jobs.tasks.classification import ImageDataset, train_one_epoch
from visiontrain.messages import in_language


def _cfg(**resources):
    return config_from_dict(tiny_config("/data", "/artifacts", resources=resources))


@pytest.mark.parametrize("resources, workers, threads", [
    ({"cpus_per_worker": 2}, 0, 2),                     # this machine: the step needs both cores
    ({"cpus_per_worker": 8}, 2, 6),                     # CPUs: one loader process per four
    ({"cpus_per_worker": 16, "use_gpu": True}, 15, 1),  # a GPU computes: every CPU but one decodes
    ({"cpus_per_worker": 1, "use_gpu": True}, 0, 1),
    ({"cpus_per_worker": 8, "loader_workers": 3}, 3, 5),  # said in the config
])
def test_loader_processes_follow_the_workers_cpus_or_the_config(resources, workers, threads):
    cfg = _cfg(**resources)
    assert (loader_workers(cfg), compute_threads(cfg)) == (workers, threads)


def test_the_config_refuses_a_negative_loader_count():
    with pytest.raises(Exception, match="loader_workers"):
        _cfg(loader_workers=-1)


def _labels_and_sums(loader) -> list:
    return sorted((int(y), int(x.sum())) for xb, yb in loader for x, y in zip(xb, yb))


def test_each_image_is_decoded_once_and_loader_processes_share_that_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    data = make_classification(str(tmp_path / "data"), num_classes=3, per_class=20, image_size=32, seed=0)["path"]
    index = scan_imagefolder(data, None, 0.2, 0)
    ds = ImageDataset(index.train, 32)
    loader = DataLoader(ds, batch_size=8, shuffle=True, num_workers=2, persistent_workers=True)
    first = _labels_and_sums(loader)
    for path, _ in index.train:  # the files go: a second epoch reads only what was decoded
        os.remove(path)
    assert _labels_and_sums(loader) == first and len(first) == len(index.train)
    assert keeps_decoded(ds)
    assert not glob.glob(str(tmp_path / "visiontrain-decoded-*"))  # nothing left to clean up, even while in use


def test_masks_are_kept_with_their_images(tmp_path):
    from train_jobs.tasks.semantic import MaskDataset

    data = make_segmentation(str(tmp_path / "seg"), num_classes=2, images=6, image_size=32, seed=0)["path"]
    pairs = [(os.path.join(d, n), os.path.join(d.replace(os.sep + "images", os.sep + "masks"), n))
             for d, _, names in os.walk(os.path.join(data, "images")) for n in sorted(names)]
    ds = MaskDataset(pairs, 32)
    before = [(x.clone(), y.clone()) for x, y in (ds[i] for i in range(len(ds)))]
    for image, mask in pairs:
        os.remove(image), os.remove(mask)
    for (x, y), (x0, y0) in zip((ds[i] for i in range(len(ds))), before):
        assert torch.equal(x, x0) and torch.equal(y, y0) and y.dtype == torch.int64


def test_a_dataset_too_big_to_keep_is_decoded_each_epoch_and_the_job_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "CACHE_LIMIT_BYTES", 1000)
    data = make_classification(str(tmp_path / "data"), num_classes=2, per_class=4, image_size=32, seed=0)["path"]
    ds = ImageDataset(scan_imagefolder(data, None, 0.2, 0).train, 32)
    assert not ds.cache.kept and not keeps_decoded(ds)
    assert len(_labels_and_sums(DataLoader(ds, batch_size=4))) == len(ds)
    event = input_event(_cfg(cpus_per_worker=2), 0, keeps_decoded(ds))
    assert event["decoded_kept"] is False and event["loader_workers"] == 0
    assert "decoded again each epoch" in event["message"]
    assert "에폭마다 다시 디코딩" in in_language(event, "ko")["message"]


def test_a_compiled_model_keeps_its_state_dict_names_and_trains_as_the_eager_one():
    """hyperparameters.compile compiles the model in place: checkpoints, best weights and exports
    keep the names an uncompiled model loads."""
    torch.manual_seed(0)

    def net():
        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                   torch.nn.Flatten(), torch.nn.Linear(4, 3))

    eager, compiled = net(), net()
    compiled.load_state_dict(eager.state_dict())
    compiled.compile()
    batches = [(torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8), torch.randint(0, 3, (4,))) for _ in range(3)]
    results = []
    for model in (eager, compiled):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        results.append(train_one_epoch(model, batches, optimizer, lambda x: x, contextlib.nullcontext))
    assert list(compiled.state_dict()) == list(eager.state_dict())
    fresh = net()
    fresh.load_state_dict(compiled.state_dict())
    x = torch.rand(2, 3, 16, 16)
    assert torch.allclose(fresh(x), eager(x), atol=1e-5)
    assert np.allclose(results[0], results[1], atol=1e-4)
