"""Fine-tuning choices (issue #25): the head trained first while the backbone waits
(``model.freeze_backbone_epochs``), and an earlier job's training carried on for N more epochs with
its optimizer state (``model.continue_training``), as the chat asks for it and as the plan fills it in."""
import pytest
import torch
import torch.nn.functional as F

from serve_app.intent import ParseResult, parse
from serve_app.services.plan import PlanError, make_plan
from serve_app.services.records import Records
from train_jobs.config import ConfigError, TrainingConfig, config_from_dict
from train_jobs.state import JobFolder
from train_jobs.store import open_store
from train_jobs.tasks._torch import build_model, make_optimizer


def _config(tmp_path, **model) -> TrainingConfig:
    return TrainingConfig(task="classification", model={"name": "test_resnet", **model}, dataset={"uri": str(tmp_path)},
                          hyperparameters={"epochs": 3, "learning_rate": 0.01})


def _step(model, optimizer) -> None:
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 0])
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


def _changed(before: dict, model, head: bool) -> bool:
    after = model.state_dict()
    return any(not torch.equal(before[k], after[k]) for k in before
               if k.startswith("1.fc.") == head and after[k].dtype.is_floating_point and "running" not in k)


def test_the_head_trains_first_while_the_backbone_waits_its_epochs(tmp_path):
    cfg = _config(tmp_path, freeze_backbone_epochs=1)
    torch.manual_seed(0)
    model = build_model(cfg, 3)
    assert model.head == ("1.fc",)
    optimizer, schedule = make_optimizer(cfg, model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _step(model, optimizer)  # epoch 1: frozen backbone
    assert _changed(before, model, head=True) and not _changed(before, model, head=False)
    schedule.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.01 * 0.75, 0.01 * 0.75])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _step(model, optimizer)  # epoch 2: everything trains
    assert _changed(before, model, head=False)

    unfrozen, _ = make_optimizer(_config(tmp_path), build_model(_config(tmp_path), 3))
    assert [g["lr"] for g in unfrozen.param_groups] == [0.01, 0.01]  # the same groups: optimizer states carry over


def test_freezing_that_leaves_nothing_to_train_is_refused_with_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="freeze_backbone_epochs 3 leaves no epoch of the 3"):
        config_from_dict({"task": "classification", "model": {"name": "resnet18", "freeze_backbone_epochs": 3},
                          "dataset": {"uri": str(tmp_path)}, "hyperparameters": {"epochs": 3}})
    with pytest.raises(ConfigError, match="continue_training carries on an earlier job: name it in model.from_job"):
        config_from_dict({"task": "classification", "model": {"name": "resnet18", "continue_training": True},
                          "dataset": {"uri": str(tmp_path)}})
    with pytest.raises(ConfigError, match="Ultralytics models restart their own optimizer"):
        config_from_dict({"task": "detection", "model": {"source": "ultralytics", "name": "yolov8n",
                                                         "from_job": "detection-0123456789ab", "continue_training": True},
                          "dataset": {"uri": str(tmp_path)}})


@pytest.mark.parametrize("message, epochs, from_job", [
    ("10 에폭 더 학습해줘", 10, "latest"),
    ("지난번 모델 이어서 5 에폭 더 돌려줘", 5, "latest"),
    ("에폭 3번 더", 3, "latest"),
    ("train it for 5 more epochs", 5, "latest"),
    ("continue job classification-1a2b3c4d5e6f for 4 more epochs", 4, "classification-1a2b3c4d5e6f"),
])
def test_the_chat_reads_more_epochs_as_carrying_on_a_job(message, epochs, from_job):
    result = parse(message)
    assert result.status == "complete", result.questions  # the job brings its task and data
    it = result.intent
    assert (it.continue_training, it.from_job, it.hyperparameters.epochs) == (True, from_job, epochs)
    assert not parse("지난번 모델에서 이어서 새 데이터로 학습해줘").intent.continue_training  # fine-tuning, not more epochs


def test_a_carried_on_job_keeps_its_data_and_settings_and_takes_the_new_epochs(tmp_path):
    records, storage = Records(f"sqlite:///{tmp_path}/r.db"), str(tmp_path / "store")
    earlier = TrainingConfig(job_id="classification-aaaaaaaaaaaa", owner="ann", task="classification",
                             model={"name": "resnet18"}, dataset={"uri": "/data/shapes", "val_fraction": 0.3},
                             class_names=["circle", "square"], storage={"uri": storage},
                             hyperparameters={"epochs": 4, "image_size": 48, "learning_rate": 0.003})
    JobFolder(open_store(storage), earlier.job_id).store.write_text(f"jobs/{earlier.job_id}/config.yaml", earlier.to_yaml())
    records.add_job(job_id=earlier.job_id, owner="ann", task="classification", model="timm/resnet18",
                    config_uri="/x", folder_uri="/x")
    records.update_job(earlier.job_id, state="succeeded")
    result = ParseResult.model_validate({"status": "complete", "language": "ko", "intent": {
        "from_job": "latest", "continue_training": True, "hyperparameters": {"epochs": 2}}})
    plan = make_plan(result, {"username": "ann", "role": "admin"}, records, storage)
    cfg = plan["config"]
    assert cfg["model"]["from_job"] == earlier.job_id and cfg["model"]["continue_training"] is True
    assert cfg["dataset"] == {"uri": "/data/shapes", "format": None, "val_fraction": 0.3, "split_seed": 0}
    assert cfg["class_names"] == ["circle", "square"] and cfg["owner"] == "ann" and cfg["job_id"] != earlier.job_id
    assert (cfg["hyperparameters"]["epochs"], cfg["hyperparameters"]["image_size"],
            cfg["hyperparameters"]["learning_rate"]) == (2, 48, 0.003)
    assert plan["notes"]["model.pretrained"].startswith(f"작업 {earlier.job_id}의 학습을 이어서 합니다")  # said in Korean
    with pytest.raises(PlanError, match="no succeeded job to continue from"):
        make_plan(result, {"username": "ben", "role": "user"}, records, storage)


@pytest.mark.ray  # Ultralytics' trainer imports Ray (its Tune callbacks): after the session cluster set Ray's auth mode
def test_ultralytics_keeps_its_backbone_still_while_the_head_trains_first(ray_cluster, tmp_path, monkeypatch):
    from safetensors.torch import save_file

    import train_jobs.worker
    from adapters import get_adapter
    from train_jobs.data.synth import make_detection
    from train_jobs.tasks import ultralytics_run as u

    monkeypatch.setenv("TMPDIR", str(tmp_path / "work"))
    data = make_detection(str(tmp_path / "data"), num_classes=2, images=8, image_size=64, seed=0)["path"]
    torch.manual_seed(3)
    start = get_adapter("ultralytics").build("yolov8n", "detection", 2).state_dict()
    save_file({k: v.contiguous() for k, v in start.items()}, str(tmp_path / "start.safetensors"))
    kept, write = [], train_jobs.worker.write_checkpoint

    def keep(folder, state, epoch):
        kept.append({k: v.clone() for k, v in state["model"].items()})
        write(folder, state, epoch)

    monkeypatch.setattr(train_jobs.worker, "write_checkpoint", keep)
    u._fit_task(TrainingConfig(
        task="detection", model={"source": "ultralytics", "name": "yolov8n", "weights": str(tmp_path / "start.safetensors"),
                                 "freeze_backbone_epochs": 1},
        dataset={"uri": data}, hyperparameters={"epochs": 2, "batch_size": 64, "image_size": 64},
        storage={"uri": str(tmp_path / "store")}, job_id="frozen-backbone").model_dump(mode="json"))
    # yolov8n: 10 backbone layers. Biases: Ultralytics' warm-up moves them first (the weights' rate starts at 0),
    # and a batch of 64 (its nominal one) steps the optimizer after every batch.
    backbone, head = "model.0.bn.bias", "model.22.cv2.0.2.bias"
    assert len(kept) == 2
    assert torch.allclose(kept[0][backbone], start[backbone], atol=1e-6)
    assert not torch.allclose(kept[0][head], start[head], atol=1e-6)
    assert not torch.allclose(kept[1][backbone], start[backbone], atol=1e-6)
