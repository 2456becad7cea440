"""Questions about models, answered from the model registry's metadata (#29): what the models named are
and how they differ, which model suits a task, its data and the cluster, and the plan's own choice of
model, with its reason, when the user names none."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from serve_app.intent import ParseResult, parse_offline
from serve_app.services.advice import LARGE_DATASET, recommend
from serve_app.services.commands import run_command
from serve_app.services.plan import make_plan
from serve_app.services.records import Records
from serve_app.services.registry import describe_model
from train_jobs.store import open_store


@pytest.mark.parametrize("message, models", [
    ("yolov8n이랑 yolov8s 차이가 뭐야?", ["ultralytics/yolov8n", "ultralytics/yolov8s"]),
    ("what is the difference between resnet18 and resnet50?", ["timm/resnet18", "timm/resnet50"]),
    ("compare ResNet-50 vs EfficientNet-B0", ["timm/resnet50", "timm/efficientnet_b0"]),
    ("레즈넷50이 뭐야?", ["timm/resnet50"]), ("tell me about segformer b2", ["huggingface/nvidia/mit-b2"]),
])
def test_a_question_about_named_models_is_not_a_training_request(message, models):
    result = parse_offline(message, [])
    assert (result.status, result.intent.command, result.intent.models) == ("complete", "models", models)
    assert result.intent.model is None and result.intent.search is None and result.questions == []


@pytest.mark.parametrize("message, task", [
    ("어떤 모델이 좋을까?", None), ("which model should I use for detecting helmets?", "detection"),
    ("what model do you recommend for segmenting roads?", "segmentation"), ("분류 모델 추천해줘", "classification"),
])
def test_asking_which_model_to_use(message, task):
    result = parse_offline(message, [])
    assert (result.intent.command, result.intent.task) == ("recommend", task)
    assert result.intent.class_names is None  # "helmets" is what the model would find, not a class list asked for


@pytest.mark.parametrize("message", [
    "train resnet18 or efficientnet_b0 on the shapes dataset, whichever is better",
    "classify cats and dogs on the dataset I uploaded", "which model is best? train it on the shapes dataset",
])
def test_a_training_request_with_its_data_is_not_a_question(message):
    assert parse_offline(message, []).intent.command is None


def _millions(source: str, name: str) -> str:
    return f"{describe_model(source, name)['params'] / 1e6:.1f}M"


def test_the_answer_comes_from_the_registry():
    p = SimpleNamespace(cluster_shape=lambda: {"gpus": 0.0, "cpus_per_node": 2.0}, storage_uri="-")
    user = {"username": "ann", "role": "user"}
    reply, job = run_command(p, user, parse_offline("yolov8n이랑 yolov8s 차이가 뭐야?", []).intent, "ko", None)
    small, large = describe_model("ultralytics", "yolov8n"), describe_model("ultralytics", "yolov8s")
    assert job is None and f"파라미터 {_millions('ultralytics', 'yolov8n')}" in reply
    assert f"기본 입력 {large['default_image_size']} px" in reply
    assert f"{large['params'] / small['params']:.1f}배" in reply
    reply, _ = run_command(p, user, parse_offline("which model should I use for detecting helmets?", []).intent, "en",
                           None)
    assert reply.startswith("For detection, I suggest yolov8n (") and "the cluster has no GPU" in reply
    asked, _ = run_command(p, user, parse_offline("어떤 모델이 좋을까?", []).intent, "ko", None)
    assert asked.startswith("어떤 작업용인가요?")


def test_the_suggestion_follows_the_data_and_the_hardware():
    assert recommend("classification", {"images": 300}, gpus=1)[:2] == ("timm", "resnet18")
    assert recommend("classification", {"images": LARGE_DATASET}, gpus=1)[:2] == ("timm", "resnet50")
    assert recommend("classification", {"images": LARGE_DATASET}, gpus=0)[:2] == ("timm", "resnet18")
    assert recommend("segmentation", {"format": "masks", "images": 40}, gpus=0)[:2] == ("huggingface", "nvidia/mit-b0")
    assert recommend("segmentation", {"format": "coco", "images": 40}, gpus=0)[:2] == ("ultralytics", "yolov8n-seg")


def test_a_plan_without_a_model_takes_the_suggested_one_and_says_why(tmp_path):
    storage, records = str(tmp_path / "store"), Records(f"sqlite:///{tmp_path}/r.db")
    ds = "ds-" + "a" * 64
    report = {"ok": True, "summary": "fine", "format": "yolo", "task": "detection", "images": 12000,
              "class_names": ["helmet", "head"]}
    open_store(storage).write_json(f"datasets/{ds}/report.json", report)
    records.add_dataset(ds, "ann", "site-a", report)
    result = parse_offline("detect helmets and heads on the site-a dataset", [])
    assert result.status == "complete" and result.intent.model is None
    plan = make_plan(result, {"username": "ann", "role": "user"}, records, storage, {"gpus": 1.0, "cpus_per_node": 8.0})
    assert (plan["config"]["model"]["source"], plan["config"]["model"]["name"]) == ("ultralytics", "yolov8s")
    assert "model.name" in plan["defaults"] and "12000 images and a GPU" in plan["notes"]["model.name"]
    on_cpu = make_plan(ParseResult.model_validate({**result.model_dump(), "language": "ko"}),
                       {"username": "ann", "role": "user"}, records, storage, {"gpus": 0.0, "cpus_per_node": 2.0})
    assert on_cpu["config"]["model"]["name"] == "yolov8n" and "GPU가 없어서" in on_cpu["notes"]["model.name"]
    why = parse_offline("왜 이 모델이야?", [result])
    reply, _ = run_command(None, {"username": "ann", "role": "user"}, why.intent, "ko", on_cpu)
    assert reply.startswith("model.name 은(는) yolov8n: yolov8n (파라미터 ")
