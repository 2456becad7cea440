"""Restarting the API (the whole Serve app) while a job trains: the job stays visible, tokens and
users survive (records and keys are durable), and the job's final state is right."""
import os
import subprocess
import sys
import time

import httpx
import pytest

from conftest import ADMIN, tiny_config

pytestmark = pytest.mark.ray


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


def test_job_survives_an_api_restart(api_url, admin_token, ray_cluster, shapes):
    config = tiny_config(shapes, "/ignored", hyperparameters={"epochs": 6, "batch_size": 4})
    del config["storage"]
    r = httpx.post(f"{api_url}/v1/jobs", headers=bearer(admin_token), json={"config": config})
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]
    deadline = time.time() + 240
    while httpx.get(f"{api_url}/v1/jobs/{job_id}", headers=bearer(admin_token)).json()["state"] != "training":
        assert time.time() < deadline
        time.sleep(1)

    env = {**os.environ, "VISIONTRAIN_HOME": ray_cluster.home, **ADMIN}
    subprocess.run([sys.executable, "-c", "import ray, sys; from ray import serve; "
                    "ray.init(address=sys.argv[1], logging_level='ERROR'); serve.shutdown()", ray_cluster.gcs_address],
                   check=True, timeout=120, env=env)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{api_url}/healthz", timeout=5).raise_for_status()
    port = api_url.rsplit(":", 1)[1]
    subprocess.run([sys.executable, "-m", "serve_app.cli", "serve", "--address", ray_cluster.gcs_address,
                    "--serve-port", port], check=True, timeout=300, env=env)

    record = httpx.get(f"{api_url}/v1/jobs/{job_id}", headers=bearer(admin_token))  # the same token still works
    assert record.status_code == 200 and record.json()["state"] not in ("failed", "stopped"), record.text
    assert job_id in [j["job_id"] for j in httpx.get(f"{api_url}/v1/jobs", headers=bearer(admin_token)).json()]
    deadline = time.time() + 300
    while (state := httpx.get(f"{api_url}/v1/jobs/{job_id}", headers=bearer(admin_token)).json())["state"] not in (
            "succeeded", "failed", "stopped"):
        assert time.time() < deadline, state
        time.sleep(2)
    assert state["state"] == "succeeded", state
    assert [h["state"] for h in state["history"]][-3:] == ["evaluating", "exporting", "succeeded"]
