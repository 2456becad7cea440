"""Each task trains through the job driver on the local cluster, from a YAML config, and its
metric is clearly better than the same model's untrained (evaluated the same way, by the test)."""

import pytest
import torch

from conftest import tiny_config
from train_jobs.config import config_from_dict, config_from_yaml
from train_jobs.data.synth import make_classification, make_detection
from train_jobs.state import JobFolder
from train_jobs.store import open_store
from train_jobs.tasks import get_task

pytestmark = pytest.mark.ray


def _untrained_metrics(cfg, class_names, dataset, tmp_path):
    """Evaluate an untrained model of the same config through the task's own evaluate()."""
    scratch = JobFolder(open_store(str(tmp_path / "untrained")), cfg.job_id)
    path = str(tmp_path / "untrained.pt")
    if cfg.task == "classification":
        from train_jobs.tasks.classification import build_model

        torch.manual_seed(123)
        torch.save({"model": build_model(cfg, len(class_names)).state_dict()}, path)
    else:
        from adapters import get_adapter

        model = get_adapter(cfg.model.source).build(cfg.model.name, cfg.task, len(class_names))
        model.names = dict(enumerate(class_names))
        torch.save({"model": model, "train_args": {"task": "segment" if cfg.task == "segmentation" else "detect"}}, path)
    scratch.store.upload_file(scratch.key("weights/model.pt"), path)
    return get_task(cfg.task).evaluate(cfg, scratch, class_names, dataset)


CASES = {
    "classification": ("accuracy", 0.25),
    "detection": ("mAP50", 0.05),
    "segmentation": ("mAP50", 0.03),  # instance: mask mAP50 with a YOLO -seg model
}


@pytest.mark.parametrize("task", sorted(CASES))
def test_task_trains_better_than_untrained(task, job_service, tmp_path):
    metric, margin = CASES[task]
    data = str(tmp_path / "data")
    if task == "classification":
        make_classification(data, num_classes=3, per_class=150, image_size=32, seed=1)
        cfg = config_from_dict(tiny_config(data, str(tmp_path / "artifacts"), resources={"cpus_per_worker": 2},
                                           hyperparameters={"epochs": 12, "batch_size": 16}))
    else:
        make_detection(data, num_classes=2, images=160, image_size=64, seed=0, max_objects=2,
                       object_scale=(0.14, 0.22), polygons=task == "segmentation")
        model = "yolov8n-seg" if task == "segmentation" else "yolov8n"
        cfg = config_from_yaml(f"""
task: {task}
model: {{source: ultralytics, name: {model}}}
dataset: {{uri: {data}}}
hyperparameters: {{epochs: 25, batch_size: 16, image_size: 64, learning_rate: 0.002}}
resources: {{num_workers: 1, cpus_per_worker: 2}}
storage: {{uri: {tmp_path / 'artifacts'}}}
""")
    job_service.submit(cfg)
    final = job_service.wait(cfg.job_id, timeout_s=600)
    assert final["state"] == "succeeded", job_service.logs(cfg.job_id)[-3000:]
    folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    trained = folder.store.read_json(folder.key("metrics.json"))
    untrained = _untrained_metrics(cfg, trained["class_names"], data, tmp_path)
    print(f"{task}: {metric} trained {trained[metric]} vs untrained {untrained[metric]}")
    assert trained[metric] >= untrained[metric] + margin
    assert folder.store.exists(folder.key("export/model.onnx"))
    if task != "classification":
        assert set(trained["per_class"]) == {"circle", "square"}
        assert len(trained["samples"]) == 4 and all(folder.store.exists(folder.key(k)) for k in trained["samples"])
        assert [e["epoch"] for e in folder.events() if e["kind"] == "metrics"] == list(range(1, 26))
