"""Pretrained weights for an ordinary user, through the API (issue #25): the weights a platform job
trained are added to the platform's cache by an operator, and a user's next plan starts from them
by default, says so, and the job's workers build the model from them; a later job starts from the
first job's own weights when the user names it."""
import json
import os
import shutil

import httpx
import pytest

from serve_app.cli import main

pytestmark = pytest.mark.ray


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


def _events(api_url: str, job_id: str, headers: dict) -> list[dict]:
    events, kind = [], None
    with httpx.stream("GET", f"{api_url}/v1/jobs/{job_id}/events", headers=headers, timeout=600) as r:
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "job":
                events.append(json.loads(line[6:]))
    return events


def _train(api_url: str, headers: dict, message: str) -> tuple[dict, list[dict]]:
    turn = httpx.post(f"{api_url}/v1/chat", headers=headers, json={"message": message}).json()
    assert turn["plan"], turn
    r = httpx.post(f"{api_url}/v1/jobs", headers=headers, json={"session_id": turn["session_id"]})
    assert r.status_code == 201, r.text
    events = _events(api_url, r.json()["job_id"], headers)
    record = httpx.get(f"{api_url}/v1/jobs/{r.json()['job_id']}", headers=headers).json()
    assert record["state"] == "succeeded", record
    return {**turn["plan"], "record": record}, events


def _user_with_shapes(api_url: str, admin_token: str, name: str, shapes: str, tmp_path) -> dict:
    """A new user's headers, once they have uploaded the shapes dataset."""
    r = httpx.post(f"{api_url}/v1/users", headers=bearer(admin_token), timeout=60,
                   json={"username": name, "password": f"{name}-password", "role": "user"})
    assert r.status_code in (201, 409), r.text
    user = bearer(httpx.post(f"{api_url}/v1/auth/login", timeout=60,
                             json={"username": name, "password": f"{name}-password"}).json()["access_token"])
    archive = shutil.make_archive(str(tmp_path / "shapes"), "zip", shapes)
    with open(archive, "rb") as f:
        assert httpx.post(f"{api_url}/v1/datasets", params={"name": "shapes"}, content=f.read(), timeout=120,
                          headers={**user, "content-type": "application/zip"}).status_code == 201
    return user


def test_a_platform_trained_model_becomes_an_ordinary_users_pretrained_weights(api_url, admin_token, shapes,
                                                                             tmp_path, capsys):
    petra = _user_with_shapes(api_url, admin_token, "petra", shapes, tmp_path)

    ask = "train resnet18 on the dataset I uploaded, 1 epoch, image size 32, batch size 16"
    first, _ = _train(api_url, petra, ask)
    assert first["config"]["model"]["pretrained"] is False  # nothing cached, and this platform does not download
    assert first["notes"]["model.pretrained"].startswith("from scratch: no weights cached for timm/resnet18")

    job = first["record"]
    weights = tmp_path / "model.pt"
    weights.write_bytes(httpx.get(f"{api_url}/v1/jobs/{job['job_id']}/artifacts/weights/model.pt", headers=petra).content)
    storage = job["folder_uri"].rsplit("/jobs/", 1)[0]
    assert main(["weights", "add", str(weights), "--model", "timm/resnet18", "--storage", storage,
                 "--origin", f"job {job['job_id']}"]) == 0  # an operator, on the store's machine
    capsys.readouterr()
    assert main(["weights", "list", "--storage", storage, "--json"]) == 0
    [cached] = json.loads(capsys.readouterr().out)

    second, events = _train(api_url, petra, ask)
    assert second["config"]["model"]["pretrained"] is True and "model.pretrained" in second["defaults"]
    assert second["notes"]["model.pretrained"] == f"pretrained weights, cached: `job {job['job_id']}`"
    used = [e for e in events if e["kind"] == "weights"]
    assert used and used[0]["sha256"] == cached["sha256"] and used[0]["name"] == "resnet18"
    assert os.path.exists(os.path.join(storage, "weights", "timm", "resnet18", "model.safetensors"))

    third, events = _train(api_url, petra, f"fine-tune job {job['job_id']} on the dataset I uploaded, 1 epoch, "
                                           "image size 32, batch size 16")
    assert third["config"]["model"]["from_job"] == job["job_id"]
    assert [e["from_job"] for e in events if e["kind"] == "weights"] == [job["job_id"]]


def _checkpoint_state(record: dict) -> dict:
    import glob

    import torch

    newest = sorted(glob.glob(os.path.join(record["folder_uri"], "train", "checkpoint_*", "state.pt")))[-1]
    return torch.load(newest, weights_only=True)


def test_more_epochs_carry_on_a_job_with_its_data_settings_and_optimizer_state(api_url, admin_token, shapes, tmp_path):
    cora = _user_with_shapes(api_url, admin_token, "cora", shapes, tmp_path)
    first, first_events = _train(api_url, cora, "train test_resnet from scratch on the dataset I uploaded, 2 epochs, "
                                                "image size 32, batch size 16, learning rate 0.003")
    job = first["record"]

    more, events = _train(api_url, cora, "3 에폭 더 학습해줘")
    cfg = more["config"]
    assert (cfg["model"]["from_job"], cfg["model"]["continue_training"]) == (job["job_id"], True)
    assert cfg["dataset"] == first["config"]["dataset"] and cfg["hyperparameters"] == {
        **first["config"]["hyperparameters"], "epochs": 3}
    assert [(e["from_job"], e["from_epoch"]) for e in events if e["kind"] == "continued"] == [(job["job_id"], 2)]
    losses = [[e["train_loss"] for e in evs if e["kind"] == "metrics"] for evs in (first_events, events)]
    assert len(losses[1]) == 3 and losses[1][0] < losses[0][0]  # it goes on from what the first job learned
    steps = [_checkpoint_state(rec)["optimizer"]["state"][0]["step"].item() for rec in (job, more["record"])]
    assert steps[1] == 2.5 * steps[0]  # 2 + 3 epochs: Adam's moments (and step count) carried on, not restarted
