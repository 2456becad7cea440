"""The conversation runs a job's lifecycle (#29, part): its progress, the user's jobs, stopping it, its
results and why the plan chose a value are asked in words, in Korean or English, and answered with the
API's own rules; a command is never mistaken for a new training request, and an ambiguous one asks which."""
from __future__ import annotations

import json
import re
import shutil
import time
from types import SimpleNamespace

import httpx
import pytest

from serve_app.intent import parse_offline
from serve_app.services.commands import run_command
from serve_app.services.plan import PlanError
from serve_app.services.records import Records


@pytest.mark.parametrize("message, command, job, about", [
    ("내 학습 어떻게 돼가?", "status", None, None), ("how is my helmet model doing?", "status", None, None),
    ("진행 상황 알려줘", "status", None, None), ("show my jobs", "jobs", None, None), ("내 작업 목록", "jobs", None, None),
    ("멈춰줘", "stop", None, None), ("stop it", "stop", None, None), ("다시 시작해줘", "restart", None, None),
    ("restart job classification-1a2b3c4d5e6f", "restart", "classification-1a2b3c4d5e6f", None),
    ("재시작", "restart", None, None), ("start it again", "restart", None, None),
    ("지난 두 학습 비교해줘", "compare", None, None), ("compare my last two runs", "compare", None, None),
    ("which of my helmet models is best?", "best", None, None), ("제일 잘 나온 모델이 뭐야?", "best", None, None),
    ("stop job classification-1a2b3c4d5e6f", "stop", "classification-1a2b3c4d5e6f", None),
    ("결과 보여줘", "results", None, None), ("how did my last model do?", "results", "latest", None),
    ("정확도는 얼마나 나왔어?", "results", None, None),
    ("왜 배치 32야?", "explain", None, "hyperparameters.batch_size"),
    ("why is the image size 224?", "explain", None, "hyperparameters.image_size"),
    ("why that learning rate?", "explain", None, "hyperparameters.learning_rate"),
])
def test_commands_in_words(message, command, job, about):
    result = parse_offline(message, [])
    assert (result.intent.command, result.intent.job, result.intent.about) == (command, job, about)
    assert result.status == "complete" and result.questions == []  # nothing asked: it is not a training request


@pytest.mark.parametrize("message", [
    "classify traffic lights, stop signs and buses", "train resnet18 on the shapes dataset and show the results",
    "10 에폭 더 학습해줘", "detect people who stop at the gate",
])
def test_a_training_request_is_never_a_command(message):
    assert parse_offline(message, []).intent.command is None


def test_a_command_does_not_change_the_plan_being_discussed():
    first = parse_offline("train resnet18 to classify cats and dogs on s3://bucket/pets, batch size 32", [])
    asked = parse_offline("왜 배치 32야?", [first])
    assert asked.intent.hyperparameters.batch_size == 32 and asked.intent.command == "explain"
    after = parse_offline("epochs 5", [first, asked])
    assert after.intent.command is None and after.intent.hyperparameters.batch_size == 32 and after.status == "complete"


def test_stop_it_with_two_running_jobs_asks_which(tmp_path):
    """(The job service is a stand-in here: the records alone decide which job is meant.)"""
    records = Records(f"sqlite:///{tmp_path}/r.db")
    for i, state in enumerate(("running", "running", "succeeded")):
        records.add_job(job_id=f"job-{i}", owner="ann", task="classification", model="timm/resnet18", state=state,
                        config_uri="-", folder_uri="-")
    p = SimpleNamespace(records=records, jobs=SimpleNamespace(get=records.get_job))
    intent = parse_offline("stop it", []).intent
    with pytest.raises(PlanError, match=r"You have 2 jobs running \(job-1, job-0\); which one\?"):
        run_command(p, {"username": "ann", "role": "user"}, intent, "en", None)
    with pytest.raises(PlanError, match="실행 중인 작업이 2개"):
        run_command(p, {"username": "ann", "role": "user"}, intent, "ko", None)
    with pytest.raises(PlanError, match="no job job-9 of yours"):
        run_command(p, {"username": "ann", "role": "user"}, parse_offline("stop job job-9", []).intent.model_copy(
            update={"job": "job-9"}), "en", None)


def _say(api_url: str, who: dict, message: str, session: str | None = None) -> dict:
    body = {"message": message, **({"session_id": session} if session else {})}
    r = httpx.post(f"{api_url}/v1/chat", headers=who, json=body, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def _ended(api_url: str, who: dict, job_id: str) -> dict:
    for _ in range(300):
        record = httpx.get(f"{api_url}/v1/jobs/{job_id}", headers=who, timeout=30).json()
        if record["ended"]:
            return record
        time.sleep(1)
    raise AssertionError(record)


@pytest.mark.ray
def test_the_lifecycle_in_the_chat(api_url, admin_token, shapes, tmp_path, monkeypatch, capsys):
    from tests.conftest import signed_up

    lena = signed_up(api_url, admin_token, "lena")
    assert "no jobs yet" in _say(api_url, lena, "show my jobs")["reply"]
    archive = shutil.make_archive(str(tmp_path / "shapes"), "zip", shapes)
    with open(archive, "rb") as f:
        assert httpx.post(f"{api_url}/v1/datasets", params={"name": "shapes"}, content=f.read(), timeout=120,
                          headers={**lena, "content-type": "application/zip"}).status_code == 201
    turn = _say(api_url, lena, "Train resnet18 to classify 3 kinds of shapes on the shapes dataset, 20 epochs, "
                               "image size 32, batch size 16")
    session = turn["session_id"]
    assert turn["plan"]
    why = _say(api_url, lena, "왜 배치 16이야?", session)
    assert why["reply"] == "hyperparameters.batch_size 은(는) 16: 말씀하신 값입니다."
    why = _say(api_url, lena, "why that learning rate?", session)
    assert why["reply"].startswith("hyperparameters.learning_rate is 0.001: ")
    job = httpx.post(f"{api_url}/v1/jobs", headers=lena, json={"session_id": session}).json()["job_id"]
    for _ in range(120):  # until it trains
        status = _say(api_url, lena, "내 학습 어떻게 돼가?", session)
        if re.search(r"에폭 [2-9]/20", status["reply"]):  # stopped once it has checkpoints
            break
        time.sleep(1)
    assert status["job_id"] == job and status["reply"].startswith(f"작업 {job} (timm/resnet18): 학습 중")
    assert re.search(r"에폭 \d+/20(, 지금까지 val_accuracy [0-9.]+)?\.$", status["reply"]), status["reply"]
    assert job in _say(api_url, lena, "show my jobs", session)["reply"]
    stopped = _say(api_url, lena, "stop it", session)
    assert stopped["reply"].startswith(f"Stop requested for {job}")
    assert _ended(api_url, lena, job)["state"] == "stopped"
    assert "already ended" in _say(api_url, lena, "stop it", session)["reply"]
    assert httpx.get(f"{api_url}/v1/chat/{session}", headers=lena).json()["job_id"] == job  # "it", kept

    # Run it again: the same job, from its last checkpoint (not from epoch 0), to the end.
    other = signed_up(api_url, admin_token, "olaf")
    assert httpx.post(f"{api_url}/v1/jobs/{job}/restart", headers=other).status_code == 404  # not theirs
    again = _say(api_url, lena, "다시 시작해줘", session)
    assert again["job_id"] == job and again["reply"].startswith(f"{job} 작업을 다시 시작합니다"), again["reply"]
    r = httpx.post(f"{api_url}/v1/jobs/{job}/restart", headers=lena)
    assert r.status_code == 409 and "stop it before" in r.json()["detail"]  # it runs already
    assert _ended(api_url, lena, job)["state"] == "succeeded"
    events = httpx.get(f"{api_url}/v1/jobs/{job}/artifacts/events.jsonl", headers=lena).text.splitlines()
    resumed = [e for e in map(json.loads, events) if e["kind"] == "resumed"]
    assert resumed and resumed[-1]["from_epoch"] >= 1, resumed
    done = _say(api_url, lena, "restart it", session)
    assert done["reply"].startswith(f"Job {job}: succeeded. Only a failed or stopped job starts again"), done["reply"]

    short = _say(api_url, lena, "Train resnet18 to classify 3 kinds of shapes on the shapes dataset, 1 epoch, "
                                "image size 32, batch size 16")
    done = httpx.post(f"{api_url}/v1/jobs", headers=lena, json={"session_id": short["session_id"]}).json()["job_id"]
    assert _ended(api_url, lena, done)["state"] == "succeeded"
    results = _say(api_url, lena, "결과 보여줘", short["session_id"])
    assert results["job_id"] == done and results["reply"].startswith(f"작업 {done} (timm/resnet18) 완료: accuracy ")
    assert "가장 약한 클래스: " in results["reply"] and f"/v1/jobs/{done}/artifacts/export/model.onnx" in results["reply"]
    assert results["plan"] is None and httpx.get(f"{api_url}/v1/chat/{short['session_id']}",
                                                 headers=lena).json()["plan"]  # the plan stays

    # The two jobs side by side: the API, the chat and the CLI.
    table = httpx.get(f"{api_url}/v1/jobs/compare", params={"ids": f"{job},{done}"}, headers=lena).json()
    assert [r["job_id"] for r in table["jobs"]] == [job, done] and table["headline"] == "accuracy"
    assert table["differences"]["hyperparameters.epochs"] == {job: 20, done: 1}
    assert [len(table["curves"]["val_accuracy"][j]) for j in (job, done)] == [20, 1]  # each epoch once, resumed or not
    for row in table["jobs"]:
        kept = httpx.get(f"{api_url}/v1/jobs/{row['job_id']}/artifacts/metrics.json", headers=lena).json()
        assert row["score"] == kept["accuracy"] and row["images_per_s"] > 0 and row["duration_s"] > 0
    best = max(table["jobs"], key=lambda r: r["score"])["job_id"]
    assert table["best"] == best
    assert httpx.get(f"{api_url}/v1/jobs/compare", params={"ids": f"{job},{done}"}, headers=other).status_code == 404
    assert httpx.get(f"{api_url}/v1/jobs/compare", params={"ids": job}, headers=lena).status_code == 422
    side = _say(api_url, lena, "지난 두 학습 비교해줘", short["session_id"])["reply"]
    assert side.startswith(f"작업 2개 비교 (/v1/jobs/compare?ids={done},{job}):") and "hyperparameters.epochs: 1 / 20" in side
    assert _say(api_url, lena, "which of my models is best?")["reply"].endswith(
        f"Best: {best} (accuracy {table['jobs'][[job, done].index(best)]['score']:.4g}).")
    from serve_app.cli import main

    monkeypatch.setenv("VISIONTRAIN_HOME", str(tmp_path / "cli-home"))
    monkeypatch.setenv("VISIONTRAIN_PASSWORD", "lena-password")
    assert main(["login", "--user", "lena", "--api", api_url]) == 0
    capsys.readouterr()
    assert main(["compare", job, done]) == 0
    printed = capsys.readouterr().out
    assert job in printed and done in printed and "hyperparameters.epochs" in printed and f"best: {best}" in printed
