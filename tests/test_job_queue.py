"""Submissions through the API are queued (recorded, then submitted to Ray in the background): a
queued job that its replica never submitted is submitted by the job watcher, once; a queued job
stopped before it starts never reaches Ray; queued jobs reach Ray two at a time, and not while
the API is busy (a burst of requests unanswered)."""
import asyncio
import threading
import time

import pytest

from conftest import tiny_config
from serve_app.services.jobs import QUEUED, JobService
from serve_app.services.records import Records
from train_jobs.config import config_from_dict
from train_jobs.state import JobFolder
from train_jobs.store import open_store

pytestmark = pytest.mark.ray


def _ray_jobs(service: JobService, job_id: str) -> list:
    return [j for j in service.client.list_jobs() if (j.metadata or {}).get("visiontrain_job_id") == job_id]


def test_a_queued_job_left_behind_is_submitted_by_the_watcher_once(ray_cluster, shapes, tmp_path):
    records = Records(f"sqlite:///{tmp_path}/records.db")
    cfg = config_from_dict(tiny_config(shapes, str(tmp_path / "artifacts")))
    took = JobService(records, ray_cluster.dashboard_url)
    record = took.submit(cfg, queue=True)  # and then the replica that took it dies before submitting it
    assert (record["state"], record["message"], record["ray_job_id"]) == ("pending", QUEUED["message"], None)
    assert took.get(cfg.job_id)["state"] == "pending" and not _ray_jobs(took, cfg.job_id)

    watchers = [JobService(records, ray_cluster.dashboard_url, queue_grace_s=5) for _ in range(2)]
    assert watchers[0].reconcile()[0]["ray_job_id"] is None  # not yet: it may still be on its way
    time.sleep(5)
    for w in watchers:
        w.reconcile()
    assert len(_ray_jobs(took, cfg.job_id)) == 1
    deadline = time.time() + 120
    while (record := took.get(cfg.job_id))["state"] == "pending" and time.time() < deadline:
        time.sleep(0.5)
    assert record["state"] in ("validating", "preparing", "training"), took.logs(cfg.job_id)[-2000:]  # its driver runs
    took.stop(cfg.job_id)
    final = took.wait(cfg.job_id, timeout_s=120)
    assert final["state"] == "stopped" and final["submissions"] == 1, took.logs(cfg.job_id)[-2000:]
    assert len(_ray_jobs(took, cfg.job_id)) == 1


def test_a_queued_job_stopped_before_it_starts_never_reaches_ray(job_service, shapes, tmp_path):
    cfg = config_from_dict(tiny_config(shapes, str(tmp_path / "artifacts")))
    job_service.submit(cfg, queue=True)
    assert job_service.stop(cfg.job_id)["state"] == "stopped"
    assert job_service.launch(cfg.job_id)["state"] == "stopped"
    assert not _ray_jobs(job_service, cfg.job_id)
    folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    assert folder.state()["state"] == "stopped" and folder.state()["message"] == "stopped before it started"


def _platform(ray_cluster, tmp_path):
    """A Platform as an ingress replica has it, on the test cluster."""
    from serve_app.services.platform import Platform

    (tmp_path / "home").mkdir()
    return Platform({"home": str(tmp_path / "home"), "ray_dashboard_url": ray_cluster.dashboard_url,
                     "storage_uri": str(tmp_path / "artifacts")})


def _until_submitted(p, job_id: str, timeout_s: float, never: str) -> None:
    deadline = time.time() + timeout_s
    while not p.records.get_job(job_id)["ray_job_id"]:
        assert time.time() < deadline, never
        time.sleep(0.05)


def _stop_all(p, job_ids: list) -> None:
    for job_id in job_ids:
        p.jobs.stop(job_id)
    for job_id in job_ids:
        assert p.jobs.wait(job_id, timeout_s=120)["state"] in ("stopped", "succeeded")


def test_jobs_queued_together_reach_ray_two_at_a_time(ray_cluster, shapes, tmp_path):
    """Each Ray job boots a supervisor and a driver process: a job queued behind two others is
    submitted only once one of them runs its driver, so a burst of submissions cannot swamp the head."""
    from serve_app.services.platform import LAUNCHING_AT_ONCE

    assert LAUNCHING_AT_ONCE == 2
    p = _platform(ray_cluster, tmp_path)
    cfgs = [config_from_dict(tiny_config(shapes, str(tmp_path / "artifacts"), job_id=f"burst-{i}")) for i in range(3)]
    for cfg in cfgs:
        p.jobs.submit(cfg, queue=True)
        p.launch_later(cfg.job_id)

    def driver_runs(job_id: str) -> bool:
        return p.jobs.folder(p.records.get_job(job_id)).state()["state"] != "pending"

    _until_submitted(p, "burst-2", 120, "the third job was never submitted to Ray")
    assert any(driver_runs(c.job_id) for c in cfgs[:2]), "the third job reached Ray while the first two were starting"
    assert all(p.records.get_job(c.job_id)["ray_job_id"] for c in cfgs[:2])
    _stop_all(p, [c.job_id for c in cfgs])


def _hold_requests(n: int, until: threading.Event) -> None:
    """``n`` requests through the API's metrics middleware, unanswered until ``until`` is set."""
    from serve_app.metrics import RequestMetrics

    async def app(scope, receive, send):
        while not until.is_set():
            await asyncio.sleep(0.01)
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def send(message):
        pass

    async def requests():
        await asyncio.gather(*[RequestMetrics(app)({"type": "http", "method": "POST"}, None, send) for _ in range(n)])

    asyncio.run(requests())


def _held(n: int, until: threading.Event) -> threading.Thread:
    from serve_app.metrics import unanswered

    before = unanswered()
    holder = threading.Thread(target=_hold_requests, args=(n, until), daemon=True)
    holder.start()
    deadline = time.time() + 5
    while unanswered() < before + n:
        assert time.time() < deadline, "the held requests were never counted"
        time.sleep(0.01)
    return holder


def test_a_launch_waits_while_the_api_is_busy(ray_cluster, shapes, tmp_path):
    """Starting a Ray job takes the head's CPU for a second or two: a queued job is submitted once
    the replica has answered a burst of requests (chat turns), not in the middle of it."""
    from serve_app.services.platform import BUSY_REQUESTS

    p = _platform(ray_cluster, tmp_path)
    cfg = config_from_dict(tiny_config(shapes, str(tmp_path / "artifacts"), job_id="after-the-burst"))
    answered = threading.Event()
    holder = _held(BUSY_REQUESTS + 1, answered)
    p.jobs.submit(cfg, queue=True)
    p.launch_later(cfg.job_id)
    time.sleep(2)
    assert p.records.get_job(cfg.job_id)["ray_job_id"] is None, "the job reached Ray while requests waited"
    answered.set()
    holder.join()
    _until_submitted(p, cfg.job_id, 60, "the job was not submitted once the requests were answered")
    _stop_all(p, [cfg.job_id])


def test_a_busy_api_holds_a_launch_back_no_longer_than_its_limit(monkeypatch):
    import serve_app.services.platform as platform

    monkeypatch.setattr(platform, "BUSY_WAIT_S", 1.0)
    for n, waits in ((platform.BUSY_REQUESTS, False), (platform.BUSY_REQUESTS + 1, True)):
        answered = threading.Event()
        holder = _held(n, answered)
        try:
            t = time.monotonic()
            platform.Platform.wait_while_busy()
            waited = time.monotonic() - t
        finally:
            answered.set()
            holder.join()
        if waits:  # a steady stream of requests must not hold jobs back for good
            assert 1.0 <= waited < 3.0, f"{n} requests unanswered: the launch waited {waited:.2f} s"
        else:  # a few clients polling without pause must not hold jobs back
            assert waited < 0.5, f"{n} requests unanswered: the launch waited {waited:.2f} s"


def test_a_launch_while_the_dashboard_is_down_waits_and_goes_later(ray_cluster, shapes, tmp_path):
    from serve_app.local import free_port

    records = Records(f"sqlite:///{tmp_path}/records.db")
    cfg = config_from_dict(tiny_config(shapes, str(tmp_path / "artifacts")))
    down = JobService(records, f"http://127.0.0.1:{free_port()}", queue_grace_s=0, unreachable_wait_s=1)
    down.submit(cfg, queue=True)
    with pytest.raises(Exception):
        down.launch(cfg.job_id)
    record = records.get_job(cfg.job_id)
    assert (record["state"], record["ray_job_id"]) == ("pending", None), record  # not failed for good
    assert "did not answer" in record["message"]
    up = JobService(records, ray_cluster.dashboard_url, queue_grace_s=0)
    up.reconcile()
    assert len(_ray_jobs(up, cfg.job_id)) == 1 and records.get_job(cfg.job_id)["ray_job_id"]
    up.stop(cfg.job_id)
    assert up.wait(cfg.job_id, timeout_s=120)["state"] == "stopped"


def test_a_job_ray_took_before_its_id_was_recorded_is_not_launched_twice(ray_cluster, shapes, tmp_path):
    """The replica that claimed attempt 1 died after Ray took it and before recording its Ray id."""
    from serve_app.services.jobs import submission_id

    records = Records(f"sqlite:///{tmp_path}/records.db")
    cfg = config_from_dict(tiny_config(shapes, str(tmp_path / "artifacts")))
    service = JobService(records, ray_cluster.dashboard_url, queue_grace_s=0)
    service.submit(cfg, queue=True)
    records.update_job(cfg.job_id, submissions=1, message="submitting to Ray")
    service.client.submit_job(entrypoint="python -c 'import time; time.sleep(120)'",
                              submission_id=submission_id(cfg.job_id, 1), metadata={"visiontrain_job_id": cfg.job_id},
                              entrypoint_num_cpus=0)
    for _ in range(2):
        service.reconcile()
    assert [j.submission_id for j in _ray_jobs(service, cfg.job_id)] == [submission_id(cfg.job_id, 1)]
    assert records.get_job(cfg.job_id)["ray_job_id"] == submission_id(cfg.job_id, 1)
    service.client.stop_job(submission_id(cfg.job_id, 1))
