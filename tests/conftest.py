"""Shared fixtures: one local Ray cluster per session (only its own processes are stopped),
a real S3-compatible HTTP server on loopback (moto's server mode), and small synthetic data."""
from __future__ import annotations

import os
import re
import tempfile
import threading

import httpx
import pytest

from serve_app.local import LocalRay, free_port, ray_client_env, start_mlflow, stop_mlflow
from train_jobs.data.synth import make_classification

# Tests never download: plans start from scratch unless the weights cache holds the model's weights
# (the download path is tested against a loopback stand-in for the Hugging Face Hub).
os.environ.setdefault("VISIONTRAIN_OFFLINE", "1")

# The platform's own folders (its home, and the temporary folders its API and jobs unpack into) are
# never named in an error answer: every API error any test of the session receives is checked.
SERVER_FOLDERS: list[str] = []  # filled in when the session's platform starts
TEMP_FOLDER = re.compile(r"vt-(?:upload|download|weights|script|zip)-\w+|/tmp/tmp\w{8}\b")


def _server_folders(text: str) -> list[str]:
    return [f for f in SERVER_FOLDERS if f in text] + TEMP_FOLDER.findall(text)


def _checking_errors(send):
    def checked(client, request, *args, **kwargs):
        r = send(client, request, *args, **kwargs)
        if r.status_code >= 400 and not kwargs.get("stream") and SERVER_FOLDERS:
            named = _server_folders(r.text)
            assert not named, f"{request.method} {request.url.path} answered {r.status_code} naming server folders " \
                              f"{named}: {r.text[:500]}"
        return r
    return checked


httpx.Client.send = _checking_errors(httpx.Client.send)


@pytest.fixture(scope="session")
def session_dir():
    with tempfile.TemporaryDirectory(prefix="vt-tests-") as d:
        yield d


@pytest.fixture(scope="session")
def s3_server(session_dir):
    """A real S3-compatible server over HTTP on 127.0.0.1; the AWS variables point at it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    _S3.update(server=server, port=port)
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env["AWS_ENDPOINT_URL"]
    _S3["restart"].join() if "restart" in _S3 else None
    _S3["server"].stop()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


_S3: dict = {}


@pytest.fixture
def s3_outage(s3_server):
    """``outage(seconds)``: the S3 server stops now and starts again on the same port, with the same
    contents, ``seconds`` later (in a thread)."""
    from moto.server import ThreadedMotoServer

    def back():
        _S3["server"] = ThreadedMotoServer(ip_address="127.0.0.1", port=_S3["port"])
        _S3["server"].start()

    def outage(seconds: float) -> threading.Timer:
        _S3["server"].stop()
        _S3["restart"] = threading.Timer(seconds, back)
        _S3["restart"].start()
        return _S3["restart"]

    return outage


@pytest.fixture
def s3_bucket(s3_server, request):
    import boto3

    name = ("vt-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()))[:60].strip("-")
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def ray_cluster(session_dir, s3_server):
    """A local Ray head (token auth on) on free ports, started for this session and stopped after it.
    It is started with the S3 variables set, as a production cluster gets them from its Secrets."""
    home = os.path.join(session_dir, "home")
    os.makedirs(home)
    os.environ.update(ray_client_env(home))
    os.environ["VISIONTRAIN_METRICS_TOKEN"] = METRICS_TOKEN  # the cluster's processes inherit it, as from a Secret
    os.environ["VISIONTRAIN_MAX_ACTIVE_JOBS"] = "1"  # so that a quota test needs only one running job
    os.environ["VISIONTRAIN_USER_S3_PREFIXES"] = "s3://b/d"  # users may name this bucket folder (it does not exist)
    # every test logs in from 127.0.0.1: failures per address are tested on their own (test_auth_unit)
    os.environ.update(VISIONTRAIN_LOGINS_PER_MINUTE="60", VISIONTRAIN_LOGIN_FAILURES_PER_MINUTE="100000")
    os.environ["VISIONTRAIN_STREAM_KEEPALIVE_S"] = "1"  # so that a test sees a quiet stream's keep-alives
    # every job is tracked in a real MLflow server on the local store, as after `visiontrain up`
    os.environ["MLFLOW_TRACKING_URI"] = start_mlflow(home, free_port())
    cluster = LocalRay(home, gcs_port=free_port(), dashboard_port=free_port(), num_cpus=2,
                       metrics_port=free_port()).start()
    yield cluster
    cluster.stop()
    stop_mlflow(home)


@pytest.fixture
def job_service(ray_cluster, tmp_path):
    from serve_app.services.jobs import JobService
    from serve_app.services.records import Records

    return JobService(Records(f"sqlite:///{tmp_path}/records.db"), ray_cluster.dashboard_url)


@pytest.fixture(scope="session")
def shapes(session_dir) -> str:
    """A small 3-class ImageFolder dataset (no val split: the driver makes one)."""
    path = os.path.join(session_dir, "shapes")
    make_classification(path, num_classes=3, per_class=24, image_size=32, seed=0)
    return path


def tiny_config(dataset: str, storage: str, **overrides) -> dict:
    cfg = {
        "task": "classification",
        "model": {"source": "timm", "name": "test_resnet"},
        "dataset": {"uri": dataset},
        "hyperparameters": {"epochs": 2, "batch_size": 16, "image_size": 32, "learning_rate": 0.003},
        "resources": {"num_workers": 1},
        "storage": {"uri": storage},
    }
    for key, value in overrides.items():
        if isinstance(value, dict):
            cfg[key] = {**cfg.get(key, {}), **value}
        else:
            cfg[key] = value
    return cfg


@pytest.fixture(scope="session")
def api_url(ray_cluster):
    """The Serve app deployed on the session cluster by the CLI (as `make up` does), on a free port."""
    import subprocess
    import sys

    port = free_port()
    env = {**os.environ, "VISIONTRAIN_HOME": ray_cluster.home, **ADMIN}
    subprocess.run([sys.executable, "-m", "serve_app.cli", "serve", "--address", ray_cluster.gcs_address,
                    "--serve-port", str(port)], check=True, timeout=300, env=env)
    SERVER_FOLDERS[:] = [ray_cluster.home]
    return f"http://127.0.0.1:{port}"


def signed_up(api_url: str, admin_token: str, name: str, role: str = "user") -> dict:
    """Headers of ``name``, made a user by the admin (password ``<name>-password``) unless one already."""
    import httpx

    r = httpx.post(f"{api_url}/v1/users", headers={"authorization": f"Bearer {admin_token}"},
                   json={"username": name, "password": f"{name}-password", "role": role})
    assert r.status_code in (201, 409), r.text
    login = httpx.post(f"{api_url}/v1/auth/login", json={"username": name, "password": f"{name}-password"})
    return {"authorization": f"Bearer {login.json()['access_token']}"}


def job_ended(api_url: str, who: dict, job_id: str, timeout_s: float = 600, poll_s: float = 2.0) -> dict:
    """The job's record once it ended (``GET /v1/jobs/{id}`` as ``who``), polled every ``poll_s``."""
    import time

    import httpx

    deadline = time.time() + timeout_s
    while True:
        record = httpx.get(f"{api_url}/v1/jobs/{job_id}", headers=who, timeout=30).json()
        if record["ended"]:
            return record
        if time.time() > deadline:
            raise AssertionError(f"job {job_id} did not end in {timeout_s:.0f} s: {record}")
        time.sleep(poll_s)


ADMIN = {"VISIONTRAIN_ADMIN_USER": "root", "VISIONTRAIN_ADMIN_PASSWORD": "root-password-for-tests"}
METRICS_TOKEN = "scrape-token-for-tests"


@pytest.fixture(scope="module")
def admin_token(api_url) -> str:
    """The admin's access token, from a login in each module: a token lives an hour (ACCESS_TTL_S), and the
    whole suite runs longer than that."""
    import httpx

    r = httpx.post(f"{api_url}/v1/auth/login", json={"username": ADMIN["VISIONTRAIN_ADMIN_USER"],
                                                     "password": ADMIN["VISIONTRAIN_ADMIN_PASSWORD"]})
    r.raise_for_status()
    return r.json()["access_token"]
