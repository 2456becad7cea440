"""Starting weights are read without running code from the file (issue #22): a released Ultralytics
checkpoint (a pickled network) and safetensors load; a file naming anything but network layers is
refused before it is read, in the adapter and in Ultralytics' own trainer, and its payload never runs."""
import copy
import os

import pytest
import torch

from adapters import get_adapter
from adapters._weights import WeightsRefused, load_state_dict
from train_jobs.config import TrainingConfig
from train_jobs.data.synth import make_detection


class Payload:
    def __init__(self, canary: str):
        self.canary = canary

    def __reduce__(self):
        return (open, (self.canary, "w"))


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A yolov8n checkpoint in the layout Ultralytics releases (a half-precision network under
    'model', written by Ultralytics' own strip_optimizer), with weights of its own."""
    import ultralytics
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils.torch_utils import strip_optimizer

    torch.manual_seed(7)
    net = DetectionModel("yolov8n.yaml", nc=80, verbose=False)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_()
    net.names = {i: f"c{i}" for i in range(80)}
    path = str(tmp_path_factory.mktemp("released") / "yolov8n.pt")
    torch.save({"epoch": 3, "best_fitness": 0.5, "model": None, "ema": copy.deepcopy(net), "updates": 1,
                "optimizer": None, "train_args": dict(vars(get_cfg())), "version": ultralytics.__version__}, path)
    strip_optimizer(path)
    return path, {k: v.half().float() for k, v in net.state_dict().items()}


def test_a_released_checkpoint_gives_its_weights_to_the_built_network(released):
    path, expected = released
    net = get_adapter("ultralytics").build("yolov8n", "detection", 80, weights=path)
    assert all(torch.equal(v, expected[k]) for k, v in net.state_dict().items() if v.is_floating_point())
    three = get_adapter("ultralytics").build("yolov8n", "detection", 3, weights=path).state_dict()
    backbone = "model.0.conv.weight"
    assert torch.equal(three[backbone], expected[backbone])  # the class head differs in shape; the rest is kept


def test_safetensors_and_plain_state_dicts_load_the_same(released, tmp_path):
    from safetensors.torch import save_file

    path, expected = released
    save_file(expected, str(tmp_path / "w.safetensors"))
    torch.save(expected, str(tmp_path / "state.pt"))
    for f in ("w.safetensors", "state.pt"):
        state = load_state_dict(str(tmp_path / f))
        assert state.keys() == expected.keys() and all(torch.equal(state[k], expected[k]) for k in expected)


@pytest.mark.parametrize("content, named", [
    (lambda canary: {"model": Payload(canary)}, "open"),
    (lambda canary: {"ema": torch.nn.modules.module.register_module_forward_hook}, "register_module_forward_hook"),
    (lambda canary: {"model": os.system}, "system"),
])
def test_a_file_naming_more_than_network_layers_is_refused_unread(content, named, tmp_path):
    canary = str(tmp_path / "canary")
    torch.save(content(canary), str(tmp_path / "hostile.pt"))
    with pytest.raises(WeightsRefused, match=f"{named}.*could run code.*safetensors"):
        get_adapter("ultralytics").build("yolov8n", "detection", 2, weights=str(tmp_path / "hostile.pt"))
    assert not os.path.exists(canary)


def test_a_file_that_is_not_weights_says_so(tmp_path):
    (tmp_path / "notes.pt").write_text("not weights")
    with pytest.raises(WeightsRefused, match="not a torch weights file"):
        load_state_dict(str(tmp_path / "notes.pt"))
    torch.save({"epoch": 3}, str(tmp_path / "empty.pt"))
    with pytest.raises(WeightsRefused, match="no network weights found"):
        load_state_dict(str(tmp_path / "empty.pt"))


@pytest.mark.ray  # Ultralytics' trainer imports Ray (its Tune callbacks): after the session cluster set Ray's auth mode
def test_ultralytics_trainer_starts_from_weights_it_never_unpickles(ray_cluster, released, tmp_path, monkeypatch):
    from train_jobs.state import JobFolder
    from train_jobs.store import open_store
    from train_jobs.tasks import ultralytics_run as u

    monkeypatch.setenv("TMPDIR", str(tmp_path / "work"))
    data = make_detection(str(tmp_path / "data"), num_classes=2, images=8, image_size=64, seed=0)["path"]

    def config(weights: str, job_id: str) -> dict:
        return TrainingConfig(task="detection", model={"source": "ultralytics", "name": "yolov8n", "weights": weights},
                              dataset={"uri": data}, hyperparameters={"epochs": 1, "batch_size": 8, "image_size": 64},
                              storage={"uri": str(tmp_path / "store")}, job_id=job_id).model_dump(mode="json")

    canary = str(tmp_path / "canary")
    torch.save({"ema": Payload(canary)}, str(tmp_path / "hostile.pt"))
    with pytest.raises(WeightsRefused, match="could run code"):
        u._fit_task(config(str(tmp_path / "hostile.pt"), "hostile-weights"))
    assert not os.path.exists(canary)

    u._fit_task(config(released[0], "released-weights"))
    job = JobFolder(open_store(str(tmp_path / "store")), "released-weights")
    assert [e["epoch"] for e in job.events() if e["kind"] == "metrics"] == [1]
    start = load_state_dict(os.path.join(u.work_dir(TrainingConfig.model_validate(config(released[0], "released-weights"))),
                                         "start.pt"))
    assert torch.equal(start["model.0.conv.weight"], released[1]["model.0.conv.weight"])
