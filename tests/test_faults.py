"""Faults injected for real on the session cluster: a training worker killed, a whole node lost, the
driver killed, a job stopped and its newest checkpoint damaged. Each run ends succeeded with the
accuracy of the same config run undisturbed (epochs draw their randomness from their own seed, so
an epoch trained again after a resume trains as it did the first time)."""
import os
import signal
import time

import boto3
import psutil
import pytest

from conftest import tiny_config
from serve_app.services.jobs import JobService
from serve_app.local import stop_node
from serve_app.services.records import Records
from test_e2e import _check_artifacts
from train_jobs.config import config_from_dict
from train_jobs.data.synth import make_classification
from train_jobs.state import JobFolder
from train_jobs.store import open_store

pytestmark = pytest.mark.ray

EPOCHS = 10


@pytest.fixture(scope="module")
def service(ray_cluster, tmp_path_factory):
    return JobService(Records(f"sqlite:///{tmp_path_factory.mktemp('records')}/records.db"), ray_cluster.dashboard_url)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("faults") / "shapes")
    make_classification(path, num_classes=3, per_class=60, image_size=32, seed=3)
    return path


def config(data: str, storage: str, **overrides):
    return config_from_dict(tiny_config(data, storage, hyperparameters={"epochs": EPOCHS, "batch_size": 8,
                                                                        "learning_rate": 0.01}, **overrides))


@pytest.fixture(scope="module")
def undisturbed(service, data, tmp_path_factory) -> dict:
    cfg = config(data, str(tmp_path_factory.mktemp("undisturbed")))
    service.submit(cfg)
    assert service.wait(cfg.job_id, timeout_s=300)["state"] == "succeeded", service.logs(cfg.job_id)[-3000:]
    folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    return folder.store.read_json(folder.key("metrics.json"))


@pytest.fixture(scope="module")
def spot_nodes(ray_cluster):
    """Two one-CPU worker nodes labelled pool=spot joined to the session cluster (process groups)."""
    nodes = [ray_cluster.add_node(1, {"pool": "spot"}) for _ in range(2)]
    yield nodes
    for pgid in nodes:
        stop_node(pgid)


def _checkpoints(folder: JobFolder) -> int:
    return sum(e["kind"] == "checkpoint" for e in folder.events())


def _wait_for(what, timeout_s: float, service: JobService, job_id: str):
    deadline = time.time() + timeout_s
    while not (found := what()):
        assert time.time() < deadline, service.logs(job_id)[-3000:]
        assert service.get(job_id)["state"] not in ("failed", "succeeded", "stopped")
        time.sleep(0.2)
    return found


def _same_result(folder: JobFolder, undisturbed: dict) -> None:
    metrics = folder.store.read_json(folder.key("metrics.json"))
    assert metrics["accuracy"] == pytest.approx(undisturbed["accuracy"], abs=0.02)


def _continued(events: list[dict], resumed: dict) -> None:
    """After ``resumed``, epochs come in order from the one after its checkpoint (none from 1)."""
    after = events[events.index(resumed) + 1:]
    upto = next((i for i, e in enumerate(after) if e["kind"] in ("worker_failed", "driver_lost")), len(after))
    epochs = [e["epoch"] for e in after[:upto] if e["kind"] == "metrics"]
    assert epochs and epochs == list(range(resumed["from_epoch"] + 1, resumed["from_epoch"] + 1 + len(epochs)))


def _node_of(pid: int, nodes: list[int]) -> int:
    groups = {os.getpgid(p.pid) for p in psutil.Process(pid).parents()}
    return next(n for n in nodes if n in groups)


def test_a_killed_worker_a_lost_node_a_hung_worker_and_a_killed_driver_are_each_survived(
        service, data, tmp_path, spot_nodes, undisturbed):
    """One run, four faults in turn, each after the run has recovered from the one before: its
    training worker is killed; the node it restarted on is lost; the next worker hangs (SIGSTOP) and
    its monitor, seeing no step for 5 s, kills it (stall_action restart); then its driver is killed."""
    cfg = config(data, str(tmp_path), resources={"node_labels": {"pool": "spot"}, "max_failures": 3},
                 monitor={"sample_interval_s": 1, "stall_timeout_s": 5, "stall_action": "restart"})
    folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    record = service.submit(cfg)

    def resumed() -> list[dict]:
        return [e for e in folder.events() if e["kind"] == "resumed"]

    def next_worker(after: dict, pid: int) -> int:
        """Once the run has checkpointed since ``after``: the pid of the worker that replaced ``pid``."""
        _wait_for(lambda: any(e["kind"] == "checkpoint" and e["time"] > after["time"] for e in folder.events()),
                  120, service, cfg.job_id)
        return _wait_for(lambda: [w["worker_pid"] for w in folder.workers() if w["worker_pid"] != pid], 60,
                         service, cfg.job_id)[0]

    _wait_for(lambda: _checkpoints(folder) >= 1, 240, service, cfg.job_id)
    pid = folder.workers()[0]["worker_pid"]
    os.kill(pid, signal.SIGKILL)
    first = _wait_for(resumed, 120, service, cfg.job_id)[0]

    pid = next_worker(first, pid)
    stop_node(_node_of(pid, spot_nodes))
    second = _wait_for(lambda: resumed()[1:], 120, service, cfg.job_id)[0]

    pid = next_worker(second, pid)
    os.kill(pid, signal.SIGSTOP)
    third = _wait_for(lambda: resumed()[2:], 120, service, cfg.job_id)[0]

    next_worker(third, pid)
    os.kill(int(service.client.get_job_info(record["ray_job_id"]).driver_info.pid), signal.SIGKILL)

    final = service.wait(cfg.job_id, timeout_s=300)
    assert final["state"] == "succeeded", service.logs(cfg.job_id)[-3000:]
    assert final["submissions"] == 2 and final["ray_job_id"] != record["ray_job_id"]
    events = folder.events()
    failed = [e for e in events if e["kind"] == "worker_failed"]
    assert len(failed) == 3 and all(e["restarting"] for e in failed), failed
    assert any(e["kind"] == "stalled" and e["action"] == "restart" for e in folder.telemetry())
    lost = [e for e in events if e["kind"] == "driver_lost"]
    assert len(lost) == 1 and "driver died" in lost[0]["reason"] and "during training" in lost[0]["reason"]
    after = resumed()
    assert len(after) == 4 and all(e["from_epoch"] >= 1 for e in after), after
    order = [e["time"] for pair in zip(failed + lost, after) for e in pair]
    assert order == sorted(order)  # each fault, then its recovery
    for r in after:
        _continued(events, r)
    assert max(e["epoch"] for e in events if e["kind"] == "metrics") == EPOCHS
    assert folder.state()["attempt"] == 2
    _check_artifacts(folder, cfg, epochs=EPOCHS)
    _same_result(folder, undisturbed)


def test_a_driver_that_keeps_dying_fails_the_job_with_the_reason(service, data, tmp_path):
    cfg = config(data, str(tmp_path), resources={"driver_attempts": 1})
    record = service.submit(cfg)
    folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    _wait_for(lambda: (folder.state() or {}).get("state") in ("validating", "preparing", "training"), 120,
              service, cfg.job_id)
    os.kill(int(service.client.get_job_info(record["ray_job_id"]).driver_info.pid), signal.SIGKILL)
    final = service.wait(cfg.job_id, timeout_s=120)
    assert final["state"] == "failed" and final["submissions"] == 1
    assert "driver died" in final["message"] and "resources.driver_attempts" in final["message"], final["message"]
    assert not any(e["kind"] == "driver_lost" for e in folder.events())


def test_a_stopped_job_resumes_from_its_newest_complete_checkpoint(service, data, tmp_path, undisturbed):
    """Stopped after two checkpoints, its newest checkpoint's state cut short (as by a crash
    mid-write): submitted again, it notices the hash mismatch, says so, resumes from the complete
    checkpoint before it (not from epoch 0) and finishes."""
    cfg = config(data, str(tmp_path))
    folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    service.submit(cfg)
    _wait_for(lambda: _checkpoints(folder) >= 2, 240, service, cfg.job_id)
    service.stop(cfg.job_id)
    assert service.wait(cfg.job_id, timeout_s=60)["state"] == "stopped"
    assert _checkpoints(folder) < EPOCHS

    train = os.path.join(cfg.storage.uri, "jobs", cfg.job_id, "train")

    def complete_checkpoints() -> list[str]:
        return sorted((d for d in os.listdir(train) if os.path.exists(os.path.join(train, d, "manifest.json"))),
                      reverse=True)

    complete = complete_checkpoints()
    from ray.util.state import list_actors

    ray_job = service.client.get_job_info(service.get(cfg.job_id)["ray_job_id"]).job_id
    left = list_actors(address=service.ray_dashboard_url, filters=[("job_id", "=", ray_job), ("state", "!=", "DEAD")])
    assert not left, f"the job reads stopped while its actors live on: {left}"
    time.sleep(2)
    assert complete_checkpoints() == complete, "a checkpoint was written after the job read stopped"
    assert len(complete) >= 2, complete
    with open(os.path.join(train, complete[0], "state.pt"), "r+b") as f:
        f.truncate(100)

    service.submit(cfg)
    final = service.wait(cfg.job_id, timeout_s=300)
    assert final["state"] == "succeeded", service.logs(cfg.job_id)[-3000:]
    events = folder.events()
    skipped = [e for e in events if e["kind"] == "checkpoint_skipped"]
    assert [e["checkpoint"].rsplit("/", 1)[1] for e in skipped if "hash" in e["reason"]] == [complete[0]]
    resumed = [e for e in events if e["kind"] == "resumed"]
    assert len(resumed) == 1 and resumed[0]["checkpoint"].endswith(complete[1]) and resumed[0]["from_epoch"] >= 1
    _continued(events, resumed[0])
    assert folder.state()["attempt"] == 2
    _check_artifacts(folder, cfg, epochs=EPOCHS)
    _same_result(folder, undisturbed)


def test_an_s3_outage_mid_run_is_waited_out(service, data, s3_bucket, s3_outage, undisturbed):
    """Dataset and storage on the loopback S3 server, which stops in the middle of training and
    comes back 4 s later with its contents: the run waits it out (retries with backoff, or a
    worker-group restart from the last complete checkpoint) and stores everything on S3."""
    s3 = boto3.client("s3")
    for root, _, files in os.walk(data):
        for f in files:
            s3.upload_file(os.path.join(root, f), s3_bucket, "datasets/shapes/" + os.path.relpath(os.path.join(root, f), data))
    cfg = config(f"s3://{s3_bucket}/datasets/shapes", f"s3://{s3_bucket}/runs")
    folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    service.submit(cfg)
    _wait_for(lambda: _checkpoints(folder) >= 1, 240, service, cfg.job_id)
    down = time.time()
    s3_outage(4.0).join()
    up = time.time()

    final = service.wait(cfg.job_id, timeout_s=300)
    assert final["state"] == "succeeded", (down, up, [(round(e["time"] - down, 1), e["kind"], e.get("state"), e.get("reason")) for e in folder.events()])
    keys = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket, Prefix="runs/")
            for o in page.get("Contents", [])}
    prefix = f"runs/jobs/{cfg.job_id}/"
    for name in ("config.yaml", "state.json", "metrics.json", "history.json", "weights/model.pt", "export/model.onnx"):
        assert prefix + name in keys
    assert any(k.startswith(prefix + "events.jsonl.d/") for k in keys)  # S3 has no append: a part per append
    assert any(k.startswith(prefix + "train/checkpoint_") for k in keys)
    assert max(e["epoch"] for e in folder.events() if e["kind"] == "metrics") == EPOCHS
    _check_artifacts(folder, cfg, epochs=EPOCHS)
    _same_result(folder, undisturbed)
