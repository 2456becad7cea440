"""The model's own preprocessing (issue #25): its config's interpolation and input size are what the
job resizes with and what the plan picks the image size from (with the data's own size, and why);
the export records what the model is fed, in export.json and in the ONNX file's metadata."""
import json

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from adapters import get_adapter
from serve_app.intent import ParseResult
from serve_app.services.plan import make_plan
from serve_app.services.records import Records
from train_jobs.config import TrainingConfig
from train_jobs.data.synth import make_classification
from train_jobs.data.versions import add_dataset
from train_jobs.export import export_onnx_checked
from train_jobs.state import JobFolder
from train_jobs.store import LocalStore, open_store
from train_jobs.tasks._torch import build_model, export_about, preprocessing
from train_jobs.tasks.classification import ImageDataset


@pytest.mark.parametrize("source, name, interpolation, size", [
    ("timm", "resnet18", "bicubic", 224), ("timm", "test_resnet", "bilinear", 160),
    ("huggingface", "microsoft/resnet-18", "bicubic", 224), ("huggingface", "google/vit-small-patch16-224", "bilinear", 224),
    ("huggingface", "nvidia/mit-b0", "bilinear", 512), ("ultralytics", "yolov8n", "bilinear", 640)])
def test_each_model_says_how_it_is_fed(source, name, interpolation, size):
    pre = get_adapter(source).preprocessing(name)
    assert (pre["interpolation"], pre["input_size"]) == (interpolation, size)


def test_the_job_resizes_with_the_models_interpolation(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (97, 131, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    cfg = TrainingConfig(task="classification", model={"name": "resnet18"}, dataset={"uri": str(tmp_path)},
                         hyperparameters={"image_size": 48})
    fed = preprocessing(cfg)
    assert fed == {"image_size": 48, "interpolation": "bicubic", "mean": [0.485, 0.456, 0.406],
                   "std": [0.229, 0.224, 0.225], "channels": "RGB", "layout": "NCHW", "scale": 255}
    x, _ = ImageDataset([(str(tmp_path / "a.png"), 0)], 48, resample=fed["interpolation"])[0]
    with Image.open(tmp_path / "a.png") as img:
        want = np.asarray(img.convert("RGB").resize((48, 48), Image.BICUBIC))
        other = np.asarray(img.convert("RGB").resize((48, 48), Image.BILINEAR))
    assert np.array_equal(x.permute(1, 2, 0).numpy(), want) and not np.array_equal(want, other)


def test_a_timm_vit_trains_at_the_jobs_image_size(tmp_path):
    cfg = TrainingConfig(task="classification", model={"name": "vit_tiny_patch16_224"}, dataset={"uri": str(tmp_path)},
                         hyperparameters={"image_size": 64})
    assert build_model(cfg, 3)(torch.rand(2, 3, 64, 64)).shape == (2, 3)


def test_the_export_records_what_the_model_is_fed(tmp_path):
    cfg = TrainingConfig(task="classification", model={"name": "test_resnet"}, dataset={"uri": str(tmp_path)},
                         hyperparameters={"image_size": 32})
    job = JobFolder(LocalStore(str(tmp_path / "store")), "j1")
    info = export_onnx_checked(get_adapter("timm"), build_model(cfg, 3), torch.rand(2, 3, 32, 32), job,
                               export_about(cfg, ["cat", "dog", "고양이"]))
    assert info["preprocessing"] == preprocessing(cfg) == job.store.read_json(job.key("export/export.json"))["preprocessing"]
    props = {p.key: json.loads(p.value)
             for p in onnx.load(job.store.child_uri(job.key("export/model.onnx"))).metadata_props}
    assert props == {"task": "classification", "classes": ["cat", "dog", "고양이"], "preprocessing": preprocessing(cfg)}


@pytest.mark.parametrize("model, side, size, why", [
    ("resnet18", 64, 64, "your images are about 64 px, under the 224 px resnet18 was made for: larger adds "
                         "compute, not detail"),
    ("resnet18", 300, 224, "resnet18's own input size (your images are about 300 px)"),
    ("test_resnet", 200, 160, "test_resnet's own input size (your images are about 200 px)"),
])
def test_the_plan_picks_the_image_size_from_the_model_and_the_data_and_says_why(tmp_path, model, side, size, why):
    records, storage = Records(f"sqlite:///{tmp_path}/r.db"), str(tmp_path / "store")
    data = make_classification(str(tmp_path / "data"), num_classes=2, per_class=3, image_size=side, seed=0)["path"]
    added = add_dataset(data, open_store(storage))
    records.add_dataset(added["dataset_id"], "ann", "shapes", added["report"])
    ann = {"username": "ann", "role": "user"}

    def plan(uri: str, **hyper) -> dict:
        result = ParseResult.model_validate({"status": "complete", "language": "en", "intent": {
            "task": "classification", "model": {"source": "timm", "name": model}, "dataset": {"uri": uri},
            "hyperparameters": hyper}})
        return make_plan(result, ann, records, storage)

    fitted = plan(added["dataset_id"])
    assert fitted["config"]["hyperparameters"]["image_size"] == size
    assert fitted["notes"]["hyperparameters.image_size"] == why and "hyperparameters.image_size" in fitted["defaults"]
    stated = plan(added["dataset_id"], image_size=96)
    assert stated["config"]["hyperparameters"]["image_size"] == 96 and "hyperparameters.image_size" not in stated["notes"]
