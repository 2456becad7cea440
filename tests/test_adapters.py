"""The ModelAdapter contract, run over every registered adapter."""
import numpy as np
import onnxruntime as ort
import pytest
import torch

from adapters import AdapterError, UnknownModelError, UnsupportedTaskError, get_adapter, list_adapters

def classification_loss(model, x):
    return torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 0]))


def yolo_batch(x, masks=False):
    batch = {"img": x, "cls": torch.tensor([[0.0], [1.0], [2.0]]), "batch_idx": torch.tensor([0.0, 1.0, 3.0]),
             "bboxes": torch.tensor([[0.5, 0.5, 0.4, 0.4], [0.3, 0.3, 0.2, 0.3], [0.6, 0.4, 0.3, 0.2]])}
    if masks:  # one mask per object, at 1/4 of the input size
        m = torch.zeros(3, x.shape[2] // 4, x.shape[3] // 4)
        m[0, 2:6, 2:6] = m[1, 1:3, 1:4] = m[2, 1:3, 4:7] = 1
        batch["masks"] = m
    return batch


def yolo_loss(model, x, masks=False):
    from ultralytics.cfg import get_cfg

    model.args = get_cfg(overrides={"overlap_mask": False})  # default gains; one mask per object
    loss, _ = model.loss(yolo_batch(x, masks))
    return loss.sum()


# A tiny model and a training step per (adapter, task) that the contract runs on. A new adapter
# fails test_every_adapter_has_a_contract_case until it is added here.
def pixel_loss(model, x):
    target = torch.zeros(x.shape[0], x.shape[2], x.shape[3], dtype=torch.long)
    target[:, 8:20, 8:20] = 1
    target[:, 22:, 22:] = 2
    return torch.nn.functional.cross_entropy(model(x), target)


def feature_loss(model, x):  # a backbone's feature maps pulled towards zero
    return sum(f.pow(2).mean() for f in model(x))


CASES = {
    "timm": {"classification": ("test_resnet", classification_loss),
             "anomaly_detection": ("test_resnet", feature_loss)},
    "huggingface": {"classification": ("microsoft/resnet-18", classification_loss),
                    "segmentation": ("nvidia/mit-b0", pixel_loss)},
    "ultralytics": {"detection": ("yolov8n", yolo_loss),
                    "segmentation": ("yolov8n-seg", lambda m, x: yolo_loss(m, x, masks=True))},
}


def test_every_adapter_has_a_contract_case():
    assert set(list_adapters()) == set(CASES)
    for name in list_adapters():
        assert set(get_adapter(name).tasks) == set(CASES[name])


@pytest.mark.parametrize("source, task, model_name, loss_fn",
                         [(s, t, *case) for s, tasks in CASES.items() for t, case in tasks.items()])
def test_build_train_step_export(source, task, model_name, loss_fn, tmp_path):
    adapter = get_adapter(source)
    assert model_name in adapter.list_models(task=task)
    info = adapter.describe(model_name)
    assert info.source == source and task in info.tasks
    torch.manual_seed(0)
    model = adapter.build(model_name, task, num_classes=3)
    x = torch.rand(4, 3, 32, 32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    model.train()
    for _ in range(5):
        loss = loss_fn(model, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    model.eval()
    path = str(tmp_path / "m.onnx")
    adapter.export_onnx(model, x, path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    batch = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        want = model(batch)
    want = want[0] if isinstance(want, (tuple, list)) else want
    np.testing.assert_allclose(sess.run(None, {"images": batch.numpy()})[0], want.numpy(), atol=1e-3)


def test_unknown_model_offers_closest_names():
    with pytest.raises(UnknownModelError) as err:
        get_adapter("timm").check("resnet-50", "classification")
    assert "resnet50" in err.value.suggestions
    assert "Closest names" in str(err.value)


def test_wrong_task_names_supported_tasks():
    with pytest.raises(UnsupportedTaskError, match="supports: classification"):
        get_adapter("timm").check("resnet18", "detection")


def test_detection_model_asked_to_classify():
    with pytest.raises(UnsupportedTaskError, match="does not do classification; it supports: detection"):
        get_adapter("ultralytics").check("yolov8n", "classification")
    with pytest.raises(UnknownModelError, match="yolov8n"):
        get_adapter("ultralytics").check("yolov8-nano", "detection")


def test_unknown_source_lists_sources():
    with pytest.raises(AdapterError, match="unknown model source 'keras'. Known: 'timm', 'ultralytics', 'huggingface'"):
        get_adapter("keras")
    with pytest.raises(AdapterError, match="did you mean 'timm'"):
        get_adapter("tim")


@pytest.mark.parametrize("source, name, task", [("timm", "resnet18", "classification"),
                                               ("ultralytics", "yolov8n", "detection"),
                                               ("huggingface", "nvidia/mit-b0", "segmentation")])
def test_pretrained_without_local_weights_is_refused(source, name, task, tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONTRAIN_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(AdapterError, match="set model.pretrained: false to train from scratch"):
        get_adapter(source).build(name, task, 3, pretrained=True)


def test_export_check_refuses_an_onnx_that_disagrees(tmp_path):
    from adapters.timm_adapter import TimmAdapter
    from train_jobs.export import ExportError, export_onnx_checked
    from train_jobs.state import JobFolder
    from train_jobs.store import LocalStore

    class Skewed(TimmAdapter):  # writes a model whose outputs are 1% off
        def export_onnx(self, model, sample, path):
            super().export_onnx(torch.nn.Sequential(model, _Scale(1.01)), sample, path)

    job = JobFolder(LocalStore(str(tmp_path)), "j1")
    model = get_adapter("timm").build("test_resnet", "classification", 3).eval()
    sample = torch.rand(2, 3, 32, 32) * 50  # large outputs: a relative error
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_onnx_checked(Skewed(), model, sample, job)
    assert not job.store.exists(job.key("export/model.onnx"))
    info = export_onnx_checked(get_adapter("timm"), model, sample, job)
    assert info["max_abs_diff"] < 1e-2 and job.store.exists(job.key("export/model.onnx"))


class _Scale(torch.nn.Module):
    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x):
        return x * self.k


@pytest.mark.parametrize("source, name", [("timm", "test_resnet"), ("huggingface", "microsoft/resnet-18"),
                                          ("ultralytics", "yolov8n")])
def test_a_trained_network_saved_natively_loads_in_its_own_library_with_the_same_outputs(source, name, tmp_path):
    import timm
    import transformers

    task = get_adapter(source).model_tasks(name)[0]
    net = get_adapter(source).build(name, task, 3).eval()
    how = get_adapter(source).save_native(net, str(tmp_path), ["circle", "square", "triangle"])
    x = torch.rand(2, 3, 32, 32)
    if source == "ultralytics":
        from ultralytics import YOLO

        assert how == "ultralytics.YOLO('best.pt')"
        loaded = YOLO(str(tmp_path / "best.pt"))
        assert loaded.task == "detect" and loaded.names == {0: "circle", 1: "square", 2: "triangle"}
        with torch.no_grad():
            assert torch.allclose(net(x)[0], loaded.model.float().eval()(x)[0], atol=1e-5)
        return
    if source == "timm":
        assert how.startswith("timm.create_model('test_resnet', num_classes=3")
        loaded = eval(how.replace("'model.safetensors'", repr(str(tmp_path / "model.safetensors"))),
                      {"timm": timm}).eval()
        out = loaded(x)
    else:
        loaded = transformers.AutoModelForImageClassification.from_pretrained(str(tmp_path)).eval()
        assert loaded.config.id2label == {0: "circle", 1: "square", 2: "triangle"}
        out = loaded(pixel_values=x).logits
    with torch.no_grad():
        assert torch.allclose(net(x), out, atol=1e-5)


def test_timm_names_with_a_pretrained_tag_are_models_and_a_wrong_tag_gets_the_real_ones():
    timm = get_adapter("timm")
    timm.check("resnet18.a1_in1k", "classification")
    assert timm.hub_file("resnet18.a1_in1k") == ("timm/resnet18.a1_in1k", "model.safetensors")
    assert timm.build("resnet18.a1_in1k", "classification", 3).num_classes == 3
    with pytest.raises(UnknownModelError, match="resnet18.a1_in1k"):
        timm.check("resnet18.in22k_typo", "classification")


@pytest.mark.parametrize("source, name, mean", [("timm", "vit_tiny_patch16_224", 0.5), ("timm", "resnet18", 0.485),
                                                ("huggingface", "google/vit-small-patch16-224", 0.5),
                                                ("huggingface", "microsoft/resnet-18", 0.485)])
def test_the_model_is_fed_as_its_own_config_normalises(source, name, mean, tmp_path):
    from train_jobs.config import TrainingConfig
    from train_jobs.tasks._torch import build_model

    cfg = TrainingConfig(task="classification", model={"source": source, "name": name}, dataset={"uri": str(tmp_path)})
    normalize = build_model(cfg, 3)[0]
    assert normalize.mean.flatten()[0].item() == pytest.approx(mean)
    assert get_adapter(source).preprocessing(name)["mean"][0] == pytest.approx(mean)
