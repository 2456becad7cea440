"""The pretrained-weights cache (issue #25): weights added by hand or fetched once from the model's
hub (here a loopback stand-in for the Hugging Face Hub: nothing downloads from the internet), kept as
safetensors in the artifact store, used by the job's workers; plans start from them by default and
say which weights, or why from scratch."""
import hashlib
import http.server
import os
import re
import threading

import pytest
import torch

from adapters import get_adapter
from adapters._weights import WeightsRefused
from serve_app.intent import ParseResult
from serve_app.services.plan import PlanError, make_plan
from serve_app.services.records import Records
from train_jobs.config import TrainingConfig
from train_jobs.data.synth import make_classification
from train_jobs.state import JobFolder
from train_jobs.store import open_store
from train_jobs.worker import save_tensors
from train_jobs.weights import WeightsCache, WeightsUnavailable, resolve_weights, worker_weights


def timm_state(seed: int) -> dict:
    import timm

    torch.manual_seed(seed)
    return timm.create_model("resnet18", pretrained=False, num_classes=1000).state_dict()


class StandInHub:
    """A stand-in for the Hugging Face Hub on loopback: ``/<repo>/resolve/<revision>/<file>`` answered
    from ``files`` as the Hub answers it (commit and ETag headers, HEAD then GET); it counts requests."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.requests = files, []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, body: bool) -> None:
                hub.requests.append((self.command, self.path))
                m = re.match(r"^/(.+)/resolve/([^/]+)/(.+?)(?:\?.*)?$", self.path)
                data = hub.files.get(f"{m.group(1)}/{m.group(3)}") if m else None
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("X-Repo-Commit", "0" * 40)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    save_file(timm_state(seed=1), str(tmp_path / "hub.safetensors"))
    stand_in = StandInHub({"timm/resnet18.a1_in1k/model.safetensors": (tmp_path / "hub.safetensors").read_bytes()})
    monkeypatch.setenv("HF_ENDPOINT", stand_in.url)
    monkeypatch.setenv("VISIONTRAIN_OFFLINE", "0")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    yield stand_in
    stand_in.close()


def test_the_hubs_weights_are_fetched_once_by_the_driver_and_built_into_the_workers_model(hub, tmp_path):
    store = str(tmp_path / "store")
    cfg = TrainingConfig(task="classification", model={"name": "resnet18", "pretrained": True},
                         dataset={"uri": str(tmp_path)}, storage={"uri": store}, job_id="pretrained-a")
    resolved, manifest = resolve_weights(cfg)  # the job's driver
    assert [method for method, _ in hub.requests] == ["HEAD", "GET"]  # huggingface_hub's own download
    assert "timm/resnet18.a1_in1k" in manifest["origin"] and manifest["sha256"]
    assert resolved.model.weights == f"weights:timm/resnet18@{manifest['sha256']}"
    net = get_adapter("timm").build("resnet18", "classification", 3, True, worker_weights(resolved))  # a worker
    served = timm_state(seed=1)
    assert torch.equal(net.state_dict()["layer1.0.conv1.weight"], served["layer1.0.conv1.weight"])
    assert net.state_dict()["fc.weight"].shape == (3, 512)  # a new head for three classes

    again, _ = resolve_weights(cfg.model_copy(update={"job_id": "pretrained-b"}))  # a second job
    assert len(hub.requests) == 2 and again.model.weights == resolved.model.weights  # the cache, no request


def test_weights_added_by_hand_are_kept_as_safetensors_and_a_pickle_is_refused(tmp_path):
    cache = WeightsCache(open_store(str(tmp_path / "store")))
    torch.save({"model": timm_state(seed=2), "epoch": 3}, str(tmp_path / "checkpoint.pt"))
    manifest = cache.add(str(tmp_path / "checkpoint.pt"), "timm", "resnet18", origin="our checkpoint")
    assert cache.find("timm", "resnet18") == manifest and cache.list() == [manifest]
    kept = cache.local_file(manifest)
    assert kept.endswith(".safetensors") and hashlib.sha256(open(kept, "rb").read()).hexdigest() == manifest["sha256"]

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "canary"), "w"))

    torch.save({"model": Payload()}, str(tmp_path / "hostile.pt"))
    with pytest.raises(WeightsRefused, match="could run code"):
        cache.add(str(tmp_path / "hostile.pt"), "timm", "resnet50", origin="an attacker")
    assert not os.path.exists(tmp_path / "canary") and cache.find("timm", "resnet50") is None


def test_offline_and_uncached_the_job_says_how_to_add_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONTRAIN_OFFLINE", "1")
    cfg = TrainingConfig(task="classification", model={"name": "resnet18", "pretrained": True},
                         dataset={"uri": str(tmp_path)}, storage={"uri": str(tmp_path / "store")})
    with pytest.raises(WeightsUnavailable, match=r"visiontrain weights add FILE --model timm/resnet18"):
        resolve_weights(cfg)


def _plan(tmp_path, message: dict, publishes=lambda source, name: True) -> dict:
    data = make_classification(str(tmp_path / "shapes"), num_classes=2, per_class=4, image_size=32, seed=0)["path"]
    result = ParseResult.model_validate({"status": "complete", "language": "en", "intent": {
        "task": "classification", "model": {"source": "timm", "name": "resnet18"}, "dataset": {"uri": data},
        **message}})
    return make_plan(result, {"username": "root", "role": "admin"}, Records(f"sqlite:///{tmp_path}/r.db"),
                     str(tmp_path / "store"), publishes=publishes)


def test_plans_start_from_pretrained_weights_where_they_can_and_say_which(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONTRAIN_OFFLINE", "1")
    plan = _plan(tmp_path, {})
    assert plan["config"]["model"]["pretrained"] is False and "model.pretrained" in plan["defaults"]
    assert plan["notes"]["model.pretrained"].startswith("from scratch: no weights cached for timm/resnet18 and this "
                                                        "platform does not download")
    assert "visiontrain weights add FILE --model timm/resnet18" in plan["notes"]["model.pretrained"]
    with pytest.raises(PlanError, match="no pretrained weights for timm/resnet18.*or say 'from scratch'"):
        _plan(tmp_path, {"pretrained": True})

    torch.save(timm_state(seed=3), str(tmp_path / "w.pt"))
    WeightsCache(open_store(str(tmp_path / "store"))).add(str(tmp_path / "w.pt"), "timm", "resnet18", "a test")
    plan = _plan(tmp_path, {})
    assert plan["config"]["model"]["pretrained"] is True
    assert plan["notes"]["model.pretrained"] == "pretrained weights, cached: `a test`"
    assert _plan(tmp_path, {"pretrained": False})["notes"]["model.pretrained"] == "from scratch, as you asked"

    monkeypatch.setenv("VISIONTRAIN_OFFLINE", "0")
    plan = _plan(tmp_path, {}, publishes=lambda source, name: name == "resnet50")
    assert plan["notes"]["model.pretrained"] == "pretrained weights, cached: `a test`"  # the cache first


def _platform_job(store: str, job_id: str, classes: int, seed: int) -> dict:
    """A job's best weights as the platform saves them (the model behind its input normalisation)."""
    from train_jobs.config import config_from_dict
    from train_jobs.state import JobFolder
    from train_jobs.tasks._torch import build_model

    cfg = config_from_dict({"task": "classification", "model": {"name": "resnet18"}, "dataset": {"uri": store},
                            "storage": {"uri": store}, "job_id": job_id})
    torch.manual_seed(seed)
    state = build_model(cfg, classes).state_dict()
    job = JobFolder(open_store(store), job_id)
    torch.save({"model": state, "epoch": 3}, str(os.path.join(store, "best.pt")))
    job.store.upload_file(job.key("weights/model.pt"), os.path.join(store, "best.pt"))
    return state


@pytest.mark.parametrize("classes, head_kept", [(3, True), (5, False)])
def test_a_model_from_an_earlier_job_keeps_its_head_only_for_the_same_classes(tmp_path, classes, head_kept):
    store = str(tmp_path / "store")
    os.makedirs(store)
    earlier = _platform_job(store, "classification-0123456789ab", classes=3, seed=4)
    cfg = TrainingConfig(task="classification", model={"name": "resnet18", "from_job": "classification-0123456789ab"},
                         dataset={"uri": str(tmp_path)}, storage={"uri": store}, job_id="fine-tune-1")
    resolved, start = resolve_weights(cfg)
    assert start == {"from_job": "classification-0123456789ab", "source": "timm", "name": "resnet18"}
    net = get_adapter("timm").build("resnet18", "classification", classes, False, worker_weights(resolved))
    assert torch.equal(net.state_dict()["layer4.1.conv2.weight"], earlier["1.layer4.1.conv2.weight"])
    assert torch.equal(net.state_dict()["fc.weight"], earlier["1.fc.weight"]) if head_kept else \
        net.state_dict()["fc.weight"].shape == (classes, 512)
    with pytest.raises(WeightsUnavailable, match="left no weights"):
        resolve_weights(cfg.model_copy(update={"model": cfg.model.model_copy(update={"from_job": "never-ran-1"})}))


def test_plans_from_an_earlier_job_take_its_model_and_refuse_others_jobs(tmp_path):
    records = Records(f"sqlite:///{tmp_path}/r.db")
    for job_id, owner, state in (("classification-aaaaaaaaaaaa", "ann", "succeeded"),
                                 ("classification-bbbbbbbbbbbb", "ben", "succeeded"),
                                 ("classification-cccccccccccc", "ann", "failed")):
        records.add_job(job_id=job_id, owner=owner, task="classification", model="timm/efficientnet_b0",
                        config_uri="/x", folder_uri="/x")
        records.update_job(job_id, state=state)
    data = make_classification(str(tmp_path / "shapes"), num_classes=2, per_class=4, image_size=32, seed=0)["path"]
    ann = {"username": "ann", "role": "admin"}

    def plan(from_job: str, user: dict = ann) -> dict:
        result = ParseResult.model_validate({"status": "complete", "language": "en", "intent": {
            "from_job": from_job, "dataset": {"uri": data}}})
        return make_plan(result, user, records, str(tmp_path / "store"))

    for ref in ("latest", "classification-aaaaaaaaaaaa"):
        p = plan(ref)
        assert p["config"]["model"] == {"source": "timm", "name": "efficientnet_b0", "pretrained": False,
                                        "from_job": "classification-aaaaaaaaaaaa", "continue_training": False,
                                        "freeze_backbone_epochs": 0, "weights": None}
        assert p["notes"]["model.pretrained"].startswith("job classification-aaaaaaaaaaaa's best weights")
    with pytest.raises(PlanError, match="is failed: only a succeeded job"):
        plan("classification-cccccccccccc")
    with pytest.raises(PlanError, match="no job classification-bbbbbbbbbbbb of yours"):
        plan("classification-bbbbbbbbbbbb", {"username": "ann", "role": "user"})


@pytest.mark.parametrize("message, pretrained", [
    ("ResNet50으로 고양이 3종류 분류해줘, 사전학습된 가중치로", True),
    ("resnet18 pretrained on imagenet, classify cats and dogs", True),
    ("fine-tune a pretrained efficientnet_b0 to tell cracks apart", True),
    ("train resnet18 from scratch on the dataset I uploaded", False),
    ("사전학습 없이 레즈넷18로 분류", False),
    ("처음부터 학습해줘, resnet18로 3가지 분류", False),
    ("resnet50으로 고양이 분류해줘", None),
])
def test_the_parser_reads_where_the_weights_start(message, pretrained):
    from serve_app.intent import parse

    result = parse(message)
    assert result.intent.pretrained is pretrained
    assert not (result.intent.class_names or []) or not any("학습" in c or "train" in c for c in result.intent.class_names)


@pytest.mark.parametrize("message, from_job", [
    ("지난번 모델에서 이어서 새 데이터로 학습해줘, 내가 올린 데이터셋으로", "latest"),
    ("fine-tune job classification-1a2b3c4d5e6f on the dataset I uploaded", "classification-1a2b3c4d5e6f"),
    ("continue from my last model with 5 more epochs on the dataset I uploaded", "latest"),
    ("10 에폭 더 학습해줘, 지난번 모델로", "latest"),
    ("train a detector for job site helmets", None),
])
def test_the_parser_reads_an_earlier_job_to_start_from(message, from_job):
    from serve_app.intent import parse

    result = parse(message)
    assert result.intent.from_job == from_job and not result.intent.class_names
    if from_job:
        assert "task" not in result.missing  # the earlier job brings its task


def _tiny_vit(folder, architecture: str = "ViTForImageClassification") -> dict:
    """A save_pretrained folder of a small ViT classifier (5 classes), as a Hub repository holds it."""
    import json

    import transformers

    torch.manual_seed(5)
    config = transformers.ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                                    image_size=32, patch_size=8, num_labels=5)
    model = transformers.ViTForImageClassification(config)
    model.save_pretrained(str(folder), safe_serialization=True)
    if architecture != "ViTForImageClassification":
        saved = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**saved, "architectures": [architecture]}))
    return model.state_dict()


def test_a_hub_model_outside_the_catalogue_is_taken_by_name_and_built_from_its_own_config(tmp_path, monkeypatch):
    served = _tiny_vit(tmp_path / "repo")
    hub = StandInHub({f"acme/tiny-vit/{f}": (tmp_path / "repo" / f).read_bytes()
                      for f in ("config.json", "model.safetensors")})
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    store = str(tmp_path / "store")
    records = Records(f"sqlite:///{tmp_path}/r.db")
    data = make_classification(str(tmp_path / "shapes"), num_classes=3, per_class=4, image_size=32, seed=0)["path"]

    def plan(**intent) -> dict:
        result = ParseResult.model_validate({"status": "complete", "language": "en", "intent": {
            "model": {"source": "huggingface", "name": "acme/tiny-vit"}, "task": "classification",
            "dataset": {"uri": data}, **intent}})
        return make_plan(result, {"username": "ann", "role": "admin"}, records, store,
                         publishes=lambda s, n: get_adapter(s).publishes_weights(n))

    with pytest.raises(PlanError, match="visiontrain weights pull huggingface/acme/tiny-vit"):
        plan()  # offline (the tests' setting) and not cached: it cannot be built
    monkeypatch.setenv("VISIONTRAIN_OFFLINE", "0")
    with pytest.raises(PlanError, match="does not train from scratch here"):
        plan(pretrained=False)
    p = plan()
    assert p["config"]["model"]["pretrained"] is True and "downloaded once" in p["notes"]["model.pretrained"]

    cfg = TrainingConfig.model_validate({**p["config"], "job_id": "hub-model-1"})
    resolved, manifest = resolve_weights(cfg)  # the driver: config.json and the weights, from the hub, once
    assert sorted(path.rsplit("/", 1)[1] for _, path in hub.requests if _ == "GET") == ["config.json", "model.safetensors"]
    assert set(manifest["beside"]) == {"config.json"}
    net = get_adapter("huggingface").build("acme/tiny-vit", "classification", 3, True, worker_weights(resolved))
    kept = net.state_dict()
    assert torch.equal(kept["model.vit.layers.0.mlp.fc2.weight"], served["vit.layers.0.mlp.fc2.weight"])
    assert kept["model.classifier.weight"].shape == (3, 32)  # a new head for three classes
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 3)

    job = JobFolder(open_store(store), "hub-model-1")  # the job trained it: its best weights, in the platform's names
    save_tensors({"model": {f"1.{k}": v for k, v in kept.items()}}, str(tmp_path / "best.pt"))
    job.store.upload_file(job.key("weights/model.pt"), str(tmp_path / "best.pt"))
    again = cfg.model_copy(update={"job_id": "hub-model-2", "model": cfg.model.model_copy(
        update={"pretrained": False, "from_job": "hub-model-1"})})
    net = get_adapter("huggingface").build("acme/tiny-vit", "classification", 3, False,
                                           worker_weights(resolve_weights(again)[0]))
    assert all(torch.equal(v, kept[k]) for k, v in net.state_dict().items())  # every tensor, its head too

    s3ish = WeightsCache(open_store(store))
    monkeypatch.setattr(s3ish.store, "child_uri", lambda key: "s3://not-local/" + key)  # a node without the store's disk
    beside = os.path.dirname(s3ish.local_file(manifest))
    assert sorted(os.listdir(beside)) == ["config.json", "model.safetensors"]


@pytest.mark.parametrize("architecture, error", [("BertForMaskedLM", "trains Hugging Face models for image "
                                                                      "classification"), (None, "no readable config.json")])
def test_a_hub_model_is_refused_without_a_config_it_can_build(tmp_path, architecture, error):
    _tiny_vit(tmp_path / "repo", architecture or "ViTForImageClassification")
    if architecture is None:
        os.remove(tmp_path / "repo" / "config.json")
    cache = WeightsCache(open_store(str(tmp_path / "store")))
    with pytest.raises(ValueError, match=error):
        cache.add(str(tmp_path / "repo" / "model.safetensors"), "huggingface", "acme/tiny-vit", origin="by hand")
    assert cache.list() == []


def test_a_config_naming_a_hub_model_starts_from_its_hub_files_and_never_from_scratch(tmp_path):
    from train_jobs.config import ConfigError, config_from_dict

    base = {"task": "classification", "dataset": {"uri": str(tmp_path)}, "storage": {"uri": str(tmp_path / "store")}}
    with pytest.raises(ConfigError, match="cannot train from scratch: leave model.pretrained out or set it true"):
        config_from_dict({**base, "model": {"source": "huggingface", "name": "acme/tiny-vit", "pretrained": False}})
    cfg = config_from_dict({**base, "model": {"source": "huggingface", "name": "acme/tiny-vit"}})
    with pytest.raises(WeightsUnavailable, match="visiontrain weights pull huggingface/acme/tiny-vit"):
        resolve_weights(cfg)  # the driver fetches them (here offline: it says how to add them)
    _tiny_vit(tmp_path / "repo")
    WeightsCache(open_store(str(tmp_path / "store"))).add(str(tmp_path / "repo" / "model.safetensors"), "huggingface",
                                                          "acme/tiny-vit", origin="pulled by an operator")
    resolved, manifest = resolve_weights(cfg)
    assert manifest["origin"] == "pulled by an operator" and resolved.model.weights.startswith("weights:huggingface/acme/")
