"""The fixed vocabularies (dataset formats, model sources, task trainers) live in one registry each,
on one generic registry: a name registered once is offered everywhere that lists or checks names."""
from __future__ import annotations

import os

import pytest

from adapters import SOURCES, AdapterError
from serve_app.cli import build_parser
from serve_app.intent._schema import LIMITS, DatasetMention
from train_jobs.config import ConfigError, Resources, config_from_dict
from train_jobs.data.formats import FORMATS, DatasetFormat, DatasetIndex, FormatError, detect_format, get_format
from visiontrain import AlreadyRegistered, Registry


def test_a_registry_refuses_a_second_registration_and_suggests_close_names():
    reg: Registry[int] = Registry("colour", KeyError)
    reg.register("red", 1)
    reg.register("green", 2)
    with pytest.raises(AlreadyRegistered, match="colour 'red' is registered twice"):
        reg.register("red", 3)
    assert reg.get("red") == 1 and reg.names() == ["red", "green"] and reg.names("g*") == ["green"]
    with pytest.raises(KeyError, match="unknown colour 'gren'; did you mean 'green'"):
        reg.get("gren")


@pytest.mark.parametrize("registry, name", [(FORMATS, "yolo"), (SOURCES, "timm")])
def test_the_platforms_registries_refuse_a_duplicate(registry, name):
    with pytest.raises(AlreadyRegistered):
        registry.register(name, registry.get(name))
    assert registry.get(name) is not None


def test_an_unknown_name_gets_the_registrys_suggestion():
    with pytest.raises(FormatError, match="did you mean 'coco'"):
        get_format("coc")
    with pytest.raises(AdapterError, match="did you mean 'ultralytics'"):
        SOURCES.get("ultralytic")


@pytest.fixture
def toy_format():
    """A dataset format defined here, registered as a format module registers itself."""
    def looks_like(root: str) -> bool:
        return os.path.isfile(os.path.join(root, "toy.txt"))

    def read(root: str) -> DatasetIndex:
        raise FormatError("toy datasets are never read in this test")

    fmt = FORMATS.register("toy", DatasetFormat("toy", ("classification",), looks_like, read, layout="toy (toy.txt)"))
    yield fmt
    FORMATS.unregister("toy")


def test_a_registered_format_is_offered_everywhere_formats_are_named(toy_format, tmp_path):
    base = {"task": "classification", "model": {"name": "resnet18"}}
    cfg = config_from_dict({**base, "dataset": {"uri": str(tmp_path), "format": "toy"}})
    assert cfg.dataset.format == "toy"
    assert DatasetMention(format="toy").format == "toy"
    args = build_parser().parse_args(["datasets", "validate", str(tmp_path), "--format", "toy"])
    assert args.format == "toy"
    (tmp_path / "toy.txt").write_text("")
    assert detect_format(str(tmp_path)) is toy_format
    with pytest.raises(FormatError, match=r"toy \(toy.txt\)"):
        detect_format(str(tmp_path / "missing"))


def test_an_unregistered_format_is_refused_with_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="dataset.format: unknown dataset format 'cocoo'; did you mean 'coco'"):
        config_from_dict({"task": "detection", "model": {"name": "yolov8n", "source": "ultralytics"},
                          "dataset": {"uri": str(tmp_path), "format": "cocoo"}})
    with pytest.raises(SystemExit):
        build_parser().parse_args(["datasets", "validate", str(tmp_path), "--format", "toy"])


def test_the_parsers_limits_are_the_configs():
    assert LIMITS["num_workers"] == (1, Resources.model_fields["num_workers"].metadata[1].le) == (1, 256)


def test_the_upload_route_checks_the_format_against_the_registry(toy_format):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from serve_app.routes import datasets
    from serve_app.routes.deps import platform, writer_user

    app = FastAPI()
    app.include_router(datasets.router)
    app.dependency_overrides[writer_user] = lambda: {"username": "alice", "role": "user"}
    app.dependency_overrides[platform] = lambda: None
    with TestClient(app) as client:
        refused = client.post("/v1/datasets", params={"name": "d", "format": "vocc"})
        assert refused.status_code == 422 and "did you mean 'voc'" in refused.text, refused.text
        past_the_format = client.post("/v1/datasets", params={"name": "d", "format": "toy"})
        assert past_the_format.status_code == 415, past_the_format.text  # next check: the body's content-type


def test_every_platform_error_has_one_root_and_survives_pickling():
    import pickle

    from adapters import UnknownModelError, UnsupportedTaskError
    from serve_app.services.auth import TooManyAttempts
    from serve_app.client import ApiError
    from train_jobs.store import StoreNotFound
    from visiontrain import VisiontrainError

    errors = [UnknownModelError("timm", "resnt18", ["resnet18"]), UnsupportedTaskError("timm", "resnet18", "detection",
              ["classification"]), TooManyAttempts("slow down", 30.0), ApiError(404, {"detail": "no job"}),
              StoreNotFound("no artifact 'x'"), ConfigError("config: bad")]
    for err in errors:
        back = pickle.loads(pickle.dumps(err))
        assert isinstance(back, VisiontrainError) and type(back) is type(err)
        assert str(back) == str(err) and back.__dict__ == err.__dict__


def test_settings_name_the_variable_the_value_and_the_fix(monkeypatch):
    from visiontrain.settings import SettingsError, settings

    monkeypatch.setenv("VISIONTRAIN_MAX_GPUS", "lots")
    monkeypatch.setenv("VISIONTRAIN_S3_MAX_ATTEMPTS", "99")
    with pytest.raises(SettingsError) as err:
        settings()
    assert "VISIONTRAIN_MAX_GPUS='lots'" in str(err.value) and "VISIONTRAIN_S3_MAX_ATTEMPTS='99'" in str(err.value)
    assert "less than or equal to 50" in str(err.value) and "unset it for its default" in str(err.value)
    monkeypatch.setenv("VISIONTRAIN_MAX_GPUS", "2")
    monkeypatch.delenv("VISIONTRAIN_S3_MAX_ATTEMPTS")
    assert settings().max_gpus == 2.0


def test_no_module_reads_a_variable_itself():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    readers = [f"{p.relative_to(root)}: {m.group(0)}" for folder in ("serve_app", "train_jobs", "adapters")
               for p in (root / folder).rglob("*.py")
               for m in re.finditer(r"(?:environ\.get|getenv|environ\[)\(?\s*f?[\"']VISIONTRAIN_\w*", p.read_text())]
    assert readers == [], readers


@pytest.fixture
def toy_source():
    """A model source defined here with its own classification trainer, registered as an adapter's
    module and a trainer's module register themselves."""
    from adapters import ModelAdapter, ModelInfo, register_adapter
    from train_jobs.tasks import TRAINERS, TaskTrainer, register_task

    @register_adapter
    class ToyAdapter(ModelAdapter):
        name, tasks = "toy", ("classification",)

        def model_names(self, task=None):
            return ["toy-net"] if task in (None, "classification") else []

        def describe(self, model_name):
            return ModelInfo(source="toy", name=model_name, tasks=["classification"], params=10)

        def build(self, model_name, task, num_classes, pretrained=False, weights=None):
            raise AdapterError("toy networks are never built in this test")

    @register_task
    class ToySourceClassifier(TaskTrainer):
        task, source, metric = "classification", "toy", ("val_acc", "max")
        check_dataset = fit = evaluate = export = predictor = batch_metrics = None

    yield ToySourceClassifier
    TRAINERS.unregister("classification/toy")
    SOURCES.unregister("toy")


def test_a_registered_model_source_is_offered_everywhere_and_brings_its_trainer(toy_source, tmp_path):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from serve_app.routes import catalogue
    from serve_app.services.registry import search_models
    from train_jobs.tasks import get_task

    cfg = config_from_dict({"task": "classification", "model": {"source": "toy", "name": "toy-net"},
                            "dataset": {"uri": str(tmp_path)}})
    assert isinstance(get_task(cfg.task, cfg.model.source), toy_source)
    assert get_task("classification", "timm") is get_task("classification")  # the task's own trainer
    assert type(get_task("detection", "ultralytics")).__name__ == "UltralyticsDetection"
    assert type(get_task("segmentation", "ultralytics")).__name__ == "UltralyticsSegmentation"
    assert type(get_task("segmentation", "huggingface")).__name__ == "SegmentationTrainer"
    assert build_parser().parse_args(["models", "toy"]).source == "toy"
    assert [m["name"] for m in search_models(source="toy", task="classification")["models"]] == ["toy-net"]
    app = FastAPI()
    app.include_router(catalogue.router)
    with TestClient(app) as client:
        assert "toy" in client.get("/v1/vocabulary").json()["sources"]


def test_an_unregistered_model_source_is_refused_with_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="model.source: unknown model source 'tim'; did you mean 'timm'"):
        config_from_dict({"task": "classification", "model": {"source": "tim", "name": "resnet18"},
                          "dataset": {"uri": str(tmp_path)}})


@pytest.fixture
def toy_task():
    """A task defined here, registered as a task's module registers itself: its spec, then its trainer."""
    from train_jobs.tasks import TASKS, TRAINERS, TaskTrainer, register_task, register_task_spec

    register_task_spec("counting", "how many objects an image holds")

    @register_task
    class Counting(TaskTrainer):
        task, metric = "counting", ("val_mae", "min")
        check_dataset = fit = evaluate = export = predictor = batch_metrics = None

    yield Counting
    TRAINERS.unregister("counting")
    TASKS.unregister("counting")


def test_a_registered_task_is_offered_everywhere_tasks_are_named(toy_task, tmp_path):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from serve_app.intent._llm import _messages
    from serve_app.intent._schema import Intent
    from serve_app.routes import catalogue
    from serve_app.routes.deps import current_user, platform
    from train_jobs.tasks import get_task, list_tasks

    cfg = config_from_dict({"task": "counting", "model": {"name": "resnet18"}, "dataset": {"uri": str(tmp_path)}})
    assert cfg.task == "counting" and isinstance(get_task("counting"), toy_task) and "counting" in list_tasks()
    assert Intent(task="counting").task == "counting"
    assert "counting" in _messages("count the cells", Intent(), False)[0][1]  # what Claude is told
    assert build_parser().parse_args(["models", "--task", "counting"]).task == "counting"
    app = FastAPI()
    app.include_router(catalogue.router)
    app.dependency_overrides[current_user] = lambda: {"username": "alice", "role": "user"}
    app.dependency_overrides[platform] = lambda: None
    with TestClient(app) as client:
        words = client.get("/v1/vocabulary").json()  # the UI's task menu is this list
        assert "counting" in words["tasks"] and words["task_summaries"]["counting"] == "how many objects an image holds"
        refused = client.get("/v1/models", params={"task": "countng"})
        assert refused.status_code == 422 and "did you mean 'counting'" in refused.text, refused.text


def test_an_unregistered_task_is_refused_with_the_known_ones(tmp_path):
    from train_jobs.tasks import TaskTrainer, register_task

    with pytest.raises(ConfigError, match="task: unknown task 'clasification'; did you mean 'classification'"):
        config_from_dict({"task": "clasification", "model": {"name": "resnet18"}, "dataset": {"uri": str(tmp_path)}})
    with pytest.raises(SystemExit):
        build_parser().parse_args(["models", "--task", "counting"])
    with pytest.raises(ValueError, match="unknown task 'counting'.*register_task_spec"):
        @register_task
        class Unnamed(TaskTrainer):
            task, metric = "counting", ("val_mae", "min")
