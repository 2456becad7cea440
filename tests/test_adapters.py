"""The ModelAdapter contract, run over every registered adapter."""
import numpy as np
import onnxruntime as ort
import pytest
import torch

from adapters import AdapterError, UnknownModelError, UnsupportedTaskError, get_adapter, list_adapters

# A tiny model per (adapter, task) that the contract runs on. A new adapter fails
# test_every_adapter_has_a_contract_case until it is added here.
CASES = {
    "timm": {"classification": "test_resnet"},
}


def test_every_adapter_has_a_contract_case():
    assert set(list_adapters()) == set(CASES)
    for name in list_adapters():
        assert set(get_adapter(name).tasks) == set(CASES[name])


@pytest.mark.parametrize("source, task, model_name",
                         [(s, t, m) for s, tasks in CASES.items() for t, m in tasks.items()])
def test_build_train_step_export(source, task, model_name, tmp_path):
    adapter = get_adapter(source)
    assert model_name in adapter.list_models(task=task)
    info = adapter.describe(model_name)
    assert info.source == source and task in info.tasks
    torch.manual_seed(0)
    model = adapter.build(model_name, task, num_classes=3)
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 0])
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    model.train()
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(model(x), y)
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
        np.testing.assert_allclose(sess.run(None, {"images": batch.numpy()})[0], model(batch).numpy(), atol=1e-4)


def test_unknown_model_offers_closest_names():
    with pytest.raises(UnknownModelError) as err:
        get_adapter("timm").check("resnet-50", "classification")
    assert "resnet50" in err.value.suggestions
    assert "Closest names" in str(err.value)


def test_wrong_task_names_supported_tasks():
    with pytest.raises(UnsupportedTaskError, match="supports: classification"):
        get_adapter("timm").check("resnet18", "detection")


def test_unknown_source_lists_sources():
    with pytest.raises(AdapterError, match="available: timm"):
        get_adapter("keras")


def test_pretrained_without_local_weights_is_refused():
    with pytest.raises(AdapterError, match="model.weights"):
        get_adapter("timm").build("resnet18", "classification", 3, pretrained=True)
