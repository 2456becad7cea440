"""Each task trains through the job driver on the local cluster, from a YAML config, and its
metric is clearly better than the same model's untrained (evaluated the same way, by the test).
Each is fed by a loader process beside its training step (resources.loader_workers)."""

import pytest
import torch

from conftest import tiny_config
from train_jobs.config import config_from_dict, config_from_yaml
from train_jobs.data.synth import make_anomaly, make_classification, make_detection, make_segmentation
from train_jobs.state import JobFolder
from train_jobs.store import open_store
from train_jobs.tasks import get_task

pytestmark = pytest.mark.ray


def _untrained_metrics(cfg, class_names, dataset, tmp_path):
    """Evaluate an untrained model of the same config through the task's own evaluate()."""
    scratch = JobFolder(open_store(str(tmp_path / "untrained")), cfg.job_id)
    path = str(tmp_path / "untrained.pt")
    torch.manual_seed(123)
    if cfg.task == "anomaly_detection":
        from train_jobs.tasks.anomaly import AutoEncoder, _backbone

        torch.save({"model": AutoEncoder(_backbone(cfg)).state_dict()}, path)
    elif cfg.model.source != "ultralytics":
        from train_jobs.tasks._torch import build_model

        torch.save({"model": build_model(cfg, len(class_names)).state_dict()}, path)
    else:
        from adapters import get_adapter

        model = get_adapter(cfg.model.source).build(cfg.model.name, cfg.task, len(class_names))
        torch.save({"model": model.state_dict(), "class_names": class_names}, path)  # as the trainer stores its best
    scratch.store.upload_file(scratch.key("weights/model.pt"), path)
    return get_task(cfg.task, cfg.model.source).evaluate(cfg, scratch, class_names, dataset)


CASES = {  # name: (task, metric, margin over the untrained model)
    "classification": ("classification", "accuracy", 0.25),
    "detection": ("detection", "mAP50", 0.05),
    "instance_segmentation": ("segmentation", "mAP50", 0.03),  # YOLO -seg: mask mAP50
    "semantic_segmentation": ("segmentation", "miou", 0.3),    # SegFormer on mask folders
    "anomaly_detection": ("anomaly_detection", "auroc", 0.05),  # autoencoder on normal images only
}


def _config(name: str, data: str, tmp_path):
    if name == "classification":
        make_classification(data, num_classes=3, per_class=150, image_size=32, seed=1)
        return config_from_dict(tiny_config(data, str(tmp_path / "artifacts"), resources={"cpus_per_worker": 2, "loader_workers": 1},
                                            hyperparameters={"epochs": 12, "batch_size": 16}))
    if name == "semantic_segmentation":
        make_segmentation(data, num_classes=2, images=160, image_size=48, seed=0)
        model, fmt, epochs = "{source: huggingface, name: nvidia/mit-b0}", "mask", 6
    elif name == "anomaly_detection":
        make_anomaly(data, train_images=100, test_good=20, test_defects=20, image_size=64, seed=0)
        model, fmt, epochs = "{source: timm, name: resnet18}", "mvtec", 10
    else:
        make_detection(data, num_classes=2, images=160, image_size=64, seed=0, max_objects=2,
                       object_scale=(0.14, 0.22), polygons=name == "instance_segmentation")
        model = "{source: ultralytics, name: %s}" % ("yolov8n-seg" if name == "instance_segmentation" else "yolov8n")
        fmt, epochs = "yolo", 25
    return config_from_yaml(f"""
task: {CASES[name][0]}
model: {model}
dataset: {{uri: {data}, format: {fmt}}}
hyperparameters: {{epochs: {epochs}, batch_size: 16, image_size: {48 if fmt == 'mask' else 64}, learning_rate: 0.002}}
resources: {{num_workers: 1, cpus_per_worker: 2, loader_workers: 1}}
storage: {{uri: {tmp_path / 'artifacts'}}}
""")


def _onnx_answers(folder: JobFolder, images: list[str], data: str) -> list[dict]:
    """The job's export run by its own predict.py (onnxruntime alone) on ``images``."""
    import os

    from train_jobs.onnx_predict import predict

    onnx = os.path.join(os.path.dirname(data), "exported.onnx")
    folder.store.download_file(folder.key("export/model.onnx"), onnx)
    return predict(onnx, images)


def _check_predictions(name: str, cfg, folder: JobFolder, class_names: list[str], data: str) -> None:
    """The job's model as the prediction endpoint serves it answers what its evaluation computes for
    the same images (by the evaluation's own loaders and model)."""
    import base64
    import glob
    import io
    import os

    import numpy as np
    from PIL import Image

    from train_jobs.predict import load_predictor
    from train_jobs.tasks._torch import preprocessing, to_float

    images = sorted(glob.glob(os.path.join(data, "*", "*.png")) if name == "classification" else
                    glob.glob(os.path.join(data, "test", "*", "*.png")) if name == "anomaly_detection" else
                    glob.glob(os.path.join(data, "images", "val", "*")))[:4]
    answers = load_predictor(cfg.storage.uri, cfg.job_id)([open(p, "rb").read() for p in images], draw=True)
    assert len(answers) == len(images)
    for answer in answers:  # each image with its prediction drawn: a PNG
        assert Image.open(io.BytesIO(base64.b64decode(answer.pop("drawn")))).format == "PNG"
    fed = preprocessing(cfg)
    if name == "classification":
        from train_jobs.tasks.classification import ClassificationTrainer, ImageDataset

        model = ClassificationTrainer()._trained_model(cfg, folder, class_names)
        x = torch.stack([ImageDataset([(p, 0)], fed["image_size"], resample=fed["interpolation"])[0][0] for p in images])
        with torch.no_grad():
            want = model(to_float(x)).argmax(1).tolist()
        assert [a["top"][0]["class"] for a in answers] == [class_names[i] for i in want]
    elif name == "semantic_segmentation":
        from train_jobs.tasks import semantic

        model = semantic._trained(cfg, folder, class_names)
        ds = semantic.MaskDataset([(p, p) for p in images], fed["image_size"], resample=fed["interpolation"])
        with torch.no_grad():
            want = model(to_float(torch.stack([ds[i][0] for i in range(len(images))]))).argmax(1).numpy()
        got = np.stack([np.asarray(Image.open(io.BytesIO(base64.b64decode(a["mask"])))) for a in answers])
        assert (got == want).mean() >= 0.99 and answers[0]["classes"] == class_names
        for exported, a in zip(_onnx_answers(folder, images, data), answers):  # the export alone answers the same
            assert exported["coverage"] == pytest.approx(a["coverage"], abs=2e-3)
    elif name == "anomaly_detection":
        from train_jobs.tasks.anomaly import AnomalyTrainer, _scores

        want = _scores(AnomalyTrainer()._scorer(cfg, folder), cfg, [(p, 0) for p in images])
        assert [a["score"] for a in answers] == pytest.approx(want.tolist(), abs=1e-5)
        assert all(a["class"] == ("anomalous" if a["score"] >= a["threshold"] else "good") for a in answers)
        for a in answers:  # the anomaly map: its brightest pixel is the score (128 at the threshold, 255 at twice it)
            heat = np.asarray(Image.open(io.BytesIO(base64.b64decode(a["map"]))))
            assert heat.shape == (fed["image_size"],) * 2
            assert abs(int(heat.max()) - min(255, round(a["score"] / a["threshold"] * 128))) <= 1
        for exported, a in zip(_onnx_answers(folder, images, data), answers):
            assert exported["score"] == pytest.approx(a["score"], rel=1e-3) and exported["class"] == a["class"]
    else:
        from train_jobs.tasks.ultralytics_run import trained_yolo

        results = trained_yolo(cfg, folder).predict(images, imgsz=cfg.hyperparameters.image_size, verbose=False)
        for answer, result in zip(answers, results):
            assert [o["class"] for o in answer["objects"]] == [class_names[int(c)] for c in result.boxes.cls.tolist()]
            assert [v for o in answer["objects"] for v in o["box"]] == \
                pytest.approx([v for box in result.boxes.xyxy.tolist() for v in box], abs=1.0)
            assert all(("polygon" in o) == (name == "instance_segmentation") for o in answer["objects"])
        from ultralytics import YOLO  # the export, through Ultralytics' own loader, answers the same

        onnx = os.path.join(os.path.dirname(data), "exported.onnx")
        folder.store.download_file(folder.key("export/model.onnx"), onnx)
        exported = YOLO(onnx)
        assert exported.task == ("segment" if name == "instance_segmentation" else "detect")
        for answer, result in zip(answers, exported.predict(images, imgsz=cfg.hyperparameters.image_size, verbose=False)):
            assert [o["class"] for o in answer["objects"]] == [result.names[int(c)] for c in result.boxes.cls.tolist()]
            assert [v for o in answer["objects"] for v in o["box"]] == \
                pytest.approx([v for box in result.boxes.xyxy.tolist() for v in box], abs=1.0)
            assert (result.masks is not None) == (name == "instance_segmentation" and bool(answer["objects"]))


BATCH_HEADLINE = {"classification": "accuracy", "detection": "mAP50", "instance_segmentation": "box_mAP50",
                  "semantic_segmentation": "miou", "anomaly_detection": "auroc"}


def _batch_over_its_data(name: str, cfg, folder: JobFolder, data: str, gcs_address: str) -> None:
    """The batch driver (as ``predict-batch`` runs it, Ray Data on the cluster) over the job's own
    dataset: a line per image of the dataset (a mask dataset's masks are not images to predict) and
    the task's scores of them against the labels."""
    import json
    import os
    import subprocess
    import sys

    from train_jobs.data.formats import read_dataset

    request = {"batch_id": "batch-e2e", "job_id": cfg.job_id, "dataset": data, "owner": "tests",
               "storage_uri": cfg.storage.uri, "created_at": 0, "gpus_per_actor": 0, "cluster_gpus": 0}
    folder.store.write_json(folder.key("batches/batch-e2e/request.json"), request)
    run = subprocess.run([sys.executable, "-m", "train_jobs.predict", "--request",
                          folder.uri("batches/batch-e2e/request.json")], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "RAY_ADDRESS": gcs_address})
    state = folder.store.read_json(folder.key("batches/batch-e2e/state.json"))
    assert run.returncode == 0 and state["state"] == "succeeded", (state, run.stderr[-3000:])
    index = read_dataset(data)
    lines = [json.loads(line) for line in folder.store.read_text(folder.key("batches/batch-e2e/predictions.jsonl")).splitlines()]
    assert sorted(line["image"] for line in lines) == sorted(s.image for s in index.samples)
    metrics = folder.store.read_json(folder.key("batches/batch-e2e/metrics.json"))
    print(f"{name}: batch over its own data: {BATCH_HEADLINE[name]} {metrics[BATCH_HEADLINE[name]]}")
    # A box model this small after 25 epochs scores about 0.08 mAP50 in evaluation (every box down to 0.001
    # confidence), and about 0 over its own answers (boxes of 0.25 confidence and up): scored, not good
    value = metrics[BATCH_HEADLINE[name]]
    assert (0 <= value if name in ("detection", "instance_segmentation") else 0 < value) and value <= 1
    assert metrics["num_images"] > 0
    assert state["metrics"][BATCH_HEADLINE[name]] == metrics[BATCH_HEADLINE[name]]


@pytest.mark.parametrize("name", sorted(CASES))
def test_task_trains_better_than_untrained(name, job_service, ray_cluster, tmp_path):
    task, metric, margin = CASES[name]
    data = str(tmp_path / "data")
    cfg = _config(name, data, tmp_path)
    job_service.submit(cfg)
    final = job_service.wait(cfg.job_id, timeout_s=600)
    assert final["state"] == "succeeded", job_service.logs(cfg.job_id)[-3000:]
    folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    trained = folder.store.read_json(folder.key("metrics.json"))
    untrained = _untrained_metrics(cfg, trained["class_names"], data, tmp_path)
    print(f"{name}: {metric} trained {trained[metric]} vs untrained {untrained[metric]}")
    assert trained[metric] >= untrained[metric] + margin
    assert folder.store.exists(folder.key("export/model.onnx"))
    _check_predictions(name, cfg, folder, trained["class_names"], data)
    _batch_over_its_data(name, cfg, folder, data, ray_cluster.gcs_address)
    (fed,) = [e for e in folder.events() if e["kind"] == "input"]  # decoded by a loader process, once
    assert (fed["loader_workers"], fed["decoded_kept"]) == (1, name not in ("detection", "instance_segmentation"))
    if name == "semantic_segmentation":
        assert set(trained["per_class_iou"]) == {"background", "circle", "square"}
        assert len(trained["samples"]) == 4 and all(folder.store.exists(folder.key(k)) for k in trained["samples"])
    if name == "anomaly_detection":
        assert trained["threshold"] > 0 and 0 <= trained["f1"] <= 1 and set(trained["per_defect"]) == {"scratch", "blot"}
    if name in ("detection", "instance_segmentation"):
        assert set(trained["per_class"]) == {"circle", "square"}
        assert len(trained["samples"]) == 4 and all(folder.store.exists(folder.key(k)) for k in trained["samples"])
        assert [e["epoch"] for e in folder.events() if e["kind"] == "metrics"] == list(range(1, 26))
