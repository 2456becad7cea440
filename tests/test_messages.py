"""The one catalogue of what the platform says (visiontrain/messages.py): every sentence in every
language with the same blanks, every task and job state named, a job's progress said again in the
reader's language, and a plan planned for a Korean conversation written in Korean."""
from __future__ import annotations

import re
import string

import pytest

from serve_app.intent import ParseResult
from serve_app.services.plan import make_plan
from serve_app.services.records import Records
from train_jobs.data.findings import CATALOGUE
from train_jobs.data.synth import make_classification
from train_jobs.data.versions import add_dataset
from train_jobs.state import STATES, JobFolder
from train_jobs.store import LocalStore, open_store
from visiontrain.messages import LANGUAGES, MESSAGES, in_language, said, say, words
from visiontrain.tasks import TASKS

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _blanks(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_is_in_every_language_with_the_same_blanks(key):
    texts = MESSAGES[key]
    assert set(texts) == set(LANGUAGES), f"{key} lacks {set(LANGUAGES) - set(texts)}"
    assert len({frozenset(_blanks(t)) for t in texts.values()}) == 1, texts
    assert HANGUL.search(texts["ko"]), f"{key}'s Korean has no Korean in it: {texts['ko']!r}"


def test_every_task_and_job_state_has_a_name_in_every_language():
    for lang in LANGUAGES:
        named = words(lang)
        assert {f"task.{t}" for t in TASKS.names()} | {f"state.{s}" for s in STATES} == set(named)
    assert words("ko")["task.anomaly_detection"] == "이상 탐지" and words("ko")["state.succeeded"] == "완료"


def test_every_health_finding_says_what_it_means_and_what_to_do_in_every_language():
    assert {f"finding.{code}" for code in CATALOGUE} <= set(MESSAGES)
    assert CATALOGUE["no_images"].said("ko").startswith("이미지를 찾지 못했습니다")


def test_a_jobs_progress_is_said_again_in_the_readers_language(tmp_path):
    job = JobFolder(LocalStore(str(tmp_path)), "classification-0123456789ab")
    job.transition("preparing", **said("job.preparing", model="timm/resnet18", task="classification"))
    state = job.transition("training", **said("job.training", workers=2, device="CPU", epochs=4))
    assert state["message"] == "2 worker(s), CPU, 4 epochs"  # the record keeps English
    event = job.store.read_jsonl(job.key("events.jsonl"))[-1]
    assert in_language(event, "ko")["message"] == "워커 2개, CPU, 에폭 4회"
    assert in_language(state["history"][0], "ko")["message"] == "분류용 timm/resnet18 모델 준비 중"  # the task named too
    assert in_language(event, "en") == event
    old = {"state": "training", "message": "1 worker(s), CPU, 3 epochs"}  # written before messages kept their key
    assert in_language(old, "ko") == old
    assert in_language({**old, "text": {"key": "job.training", "values": {"workers": 1}}}, "ko") == \
        {**old, "text": {"key": "job.training", "values": {"workers": 1}}}  # values that do not fit: as written
    job.transition("failed", "ValueError: something")  # no key: the reader gets what was written
    assert "text" not in job.state()


def test_a_plan_for_a_korean_conversation_is_written_in_korean(tmp_path):
    records, storage = Records(f"sqlite:///{tmp_path}/r.db"), str(tmp_path / "store")
    data = make_classification(str(tmp_path / "data"), num_classes=3, per_class=3, image_size=48, seed=0)["path"]
    added = add_dataset(data, open_store(storage))
    records.add_dataset(added["dataset_id"], "ann", "shapes", added["report"])
    ann = {"username": "ann", "role": "user"}

    def plan(lang: str) -> dict:
        result = ParseResult.model_validate({"status": "complete", "language": lang, "intent": {
            "task": "classification", "model": {"source": "timm", "name": "resnet18"},
            "dataset": {"uri": added["dataset_id"]}, "num_classes": 4}})
        return make_plan(result, ann, records, storage, cluster={"cpus_per_node": 2, "gpus": 0})

    ko, en = plan("ko"), plan("en")
    assert {**ko["config"], "job_id": None} == {**en["config"], "job_id": None}  # the same plan, said twice
    assert ko["notes"]["resources.cpus_per_worker"] == "이 클러스터에 맞춰 고른 값"
    assert en["notes"]["resources.cpus_per_worker"] == "chosen for this cluster"
    assert ko["notes"]["hyperparameters.image_size"] == "이미지가 약 48 px로, resnet18 모델의 224 px보다 작습니다: " \
                                                        "키워도 계산만 늘고 정보는 늘지 않습니다"
    assert ko["notes"]["model.pretrained"].startswith("처음부터 학습: timm/resnet18의 저장된 가중치가 없고")
    assert len(ko["warnings"]) == 1 and ko["warnings"][0].startswith("클래스가 4개라고 하셨지만 데이터셋에는 3개가 있습니다: ")
    for text in [*ko["notes"].values(), *ko["warnings"]]:
        assert HANGUL.search(text), text


def test_say_names_the_task_in_the_language_asked():
    assert say("ask.model_task", "ko", detail="yolov8n", suggestions="resnet18", task="classification").startswith(
        "yolov8n 모델은 분류 작업을")
    assert "does not do classification" in say("ask.model_task", "en", detail="yolov8n", suggestions="x",
                                                task="classification")
