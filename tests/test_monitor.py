"""The monitoring actor: heartbeats, system samples, the telemetry stream, stall detection and its
actions. In-process here (a real child process plays the worker); on Ray in test_monitor_ray.py."""
import subprocess
import sys
import time

import pytest

from train_jobs.monitor import Monitor
from train_jobs.state import JobFolder
from train_jobs.store import open_store


@pytest.fixture
def worker():
    code = "import time; print('ready', flush=True); time.sleep(120)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"  # sampled only once the interpreter runs
    yield proc
    proc.kill()
    proc.wait()


def monitor(tmp_path, worker, **options) -> Monitor:
    opts = {"sample_interval_s": 0.5, "stall_timeout_s": 5, **options}
    return Monitor("job-a", "classification", 1, str(tmp_path), opts, worker.pid, export=False)


def wait_for(check, timeout_s: float):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if (value := check()):
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s} s")


def test_beats_and_samples_reach_the_telemetry_stream(tmp_path, worker):
    m = monitor(tmp_path, worker)
    m.beat(1, 10, {"loss": 0.5})
    m.beat(1, 20, {"loss": 0.25, "Acc@1": 91.0})
    m.epoch_end({"epoch": 1, "val_accuracy": 0.9, "note": "text is left out"})
    status = m.close()
    assert status["step"] == 20 and status["latest"] == {"loss": 0.25, "acc_1": 91.0} and not status["stalled"]
    job = JobFolder(open_store(str(tmp_path)), "job-a")
    events = job.telemetry()
    progress = [e for e in events if e["kind"] == "progress"]
    assert [(e["rank"], e["step"], e["loss"]) for e in progress] == [(1, 10, 0.5), (1, 20, 0.25)]
    assert {e["job_id"] for e in events} == {"job-a"}
    assert [e for e in events if e["kind"] == "metrics"][0]["val_accuracy"] == 0.9
    system = [e for e in events if e["kind"] == "system"]
    assert system and system[-1]["memory_bytes"] > 1e6 and "cpu_percent" in system[-1]
    assert job.workers()[0]["rank"] == 1 and job.workers()[0]["worker_pid"] == worker.pid


def test_a_user_scripts_output_becomes_metrics(tmp_path, worker):
    m = monitor(tmp_path, worker, patterns=[r"top1 (?P<top1>[\d.]+)"])
    found = m.lines(["Epoch 2, Loss: 0.234", "downloading weights...", "top1 0.75"])
    assert found == [{"epoch": 2, "loss": 0.234}, {"top1": 0.75}]
    assert m.close()["latest"] == {"epoch": 2, "loss": 0.234, "top1": 0.75}


def test_a_silent_worker_is_reported_stalled_and_recovers(tmp_path, worker):
    m = monitor(tmp_path, worker, stall_action="wait")
    m.beat(1, 1, {"loss": 1.2})
    t0 = time.time()
    wait_for(lambda: m.status()["stalled"], 15)
    assert 5 <= time.time() - t0 <= 15
    assert worker.poll() is None, "wait only reports"
    m.beat(1, 2, {"loss": 1.0})
    assert not m.status()["stalled"]
    kinds = [e["kind"] for e in (m.close() and JobFolder(open_store(str(tmp_path)), "job-a").telemetry())]
    assert kinds.index("stalled") < kinds.index("recovered")


def test_a_worker_before_its_first_step_has_the_startup_timeout(tmp_path, worker):
    """Reading data, building and compiling come before the first step: a tight stall_timeout_s
    must not stop a worker that is still starting, and one that never starts is still reported."""
    m = monitor(tmp_path, worker, stall_action="wait", startup_timeout_s=12)
    t0 = time.time()
    wait_for(lambda: m.status()["stalled"], 30)
    assert 12 <= time.time() - t0 <= 25
    stalled = [e for e in JobFolder(open_store(str(tmp_path)), "job-a").telemetry() if e["kind"] == "stalled"]
    assert "no step yet since it started; startup_timeout_s 12" in stalled[0]["message"], stalled
    m.close()


def test_stall_action_stop_asks_the_job_to_stop_and_ends_the_worker(tmp_path, worker):
    m = monitor(tmp_path, worker, stall_action="stop")
    m.beat(1, 1, {"loss": 1.0})
    wait_for(lambda: worker.poll() is not None, 20)
    m.close()
    job = JobFolder(open_store(str(tmp_path)), "job-a")
    assert "worker rank 1 stalled" in job.stop_request()["reason"]
    assert any(e["kind"] == "stalled" and e["action"] == "stop" for e in job.telemetry())
