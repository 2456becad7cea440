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


def test_a_platform_trained_model_becomes_an_ordinary_users_pretrained_weights(api_url, admin_token, shapes,
                                                                             tmp_path, capsys):
    r = httpx.post(f"{api_url}/v1/users", headers=bearer(admin_token),
                   json={"username": "petra", "password": "petra-password", "role": "user"})
    assert r.status_code in (201, 409), r.text
    petra = bearer(httpx.post(f"{api_url}/v1/auth/login",
                              json={"username": "petra", "password": "petra-password"}).json()["access_token"])
    archive = shutil.make_archive(str(tmp_path / "shapes"), "zip", shapes)
    with open(archive, "rb") as f:
        assert httpx.post(f"{api_url}/v1/datasets", params={"name": "shapes"}, content=f.read(),
                          headers={**petra, "content-type": "application/zip"}).status_code == 201

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
    assert second["notes"]["model.pretrained"] == f"pretrained weights, cached: job {job['job_id']}"
    used = [e for e in events if e["kind"] == "weights"]
    assert used and used[0]["sha256"] == cached["sha256"] and used[0]["name"] == "resnet18"
    assert os.path.exists(os.path.join(storage, "weights", "timm", "resnet18", "model.safetensors"))

    third, events = _train(api_url, petra, f"fine-tune job {job['job_id']} on the dataset I uploaded, 1 epoch, "
                                           "image size 32, batch size 16")
    assert third["config"]["model"]["from_job"] == job["job_id"]
    assert [e["from_job"] for e in events if e["kind"] == "weights"] == [job["job_id"]]
