"""The monitor beside real Ray Train workers: per-rank training metrics on Ray's Prometheus
endpoint (job id and rank labels) matching the job's telemetry stream, and a worker made to hang
(SIGSTOP) reported stalled and the job stopped as configured."""
import os
import re
import signal
import time

import httpx
import pytest

from conftest import tiny_config
from train_jobs.config import config_from_dict
from train_jobs.state import JobFolder
from train_jobs.store import open_store

pytestmark = pytest.mark.ray


def loss_series(metrics_url: str, job_id: str) -> dict[str, float]:
    """rank -> value of visiontrain_train_loss for ``job_id`` on Ray's Prometheus endpoint."""
    text = httpx.get(metrics_url, timeout=5).text
    out = {}
    for labels, value in re.findall(r"^ray_visiontrain_train_loss\{([^}]*)\}\s+(\S+)$", text, re.M):
        tags = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if tags.get("job_id") == job_id:
            out[tags["rank"]] = float(value)
    return out


def test_two_workers_loss_reaches_prometheus_and_the_api_event_stream(api_url, admin_token, ray_cluster, shapes,
                                                                       tmp_path):
    """Submitted through the API (by an admin, who may train on a server folder), followed on
    Prometheus while it runs, then replayed from the API's event stream."""
    from test_platform_api import bearer, sse

    config = tiny_config(shapes, "/ignored", resources={"num_workers": 2},
                         hyperparameters={"epochs": 12, "batch_size": 4}, monitor={"sample_interval_s": 1})
    del config["storage"]
    r = httpx.post(f"{api_url}/v1/jobs", headers=bearer(admin_token), json={"config": config})
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]
    seen: dict[str, float] = {}
    deadline = time.time() + 300
    while len(seen) < 2 and time.time() < deadline:
        seen = loss_series(ray_cluster.metrics_url, job_id)
        if httpx.get(f"{api_url}/v1/jobs/{job_id}", headers=bearer(admin_token)).json()["state"] in (
                "succeeded", "failed", "stopped"):
            break
        time.sleep(1)
    events = sse(f"{api_url}/v1/jobs/{job_id}/events", bearer(admin_token))
    assert events[-1] == ("end", {"job_id": job_id, "state": "succeeded"}), events[-5:]
    assert set(seen) == {"0", "1"}, f"loss for both ranks on {ray_cluster.metrics_url}; saw {seen}"
    telemetry = [e for kind, e in events if kind == "telemetry"]
    for rank, value in seen.items():
        sent = [e["loss"] for e in telemetry if e["kind"] == "progress" and e["rank"] == int(rank)]
        assert value in sent, f"rank {rank}: Prometheus shows {value}, the API's event stream has {sent[-5:]}"
    assert {e["job_id"] for e in telemetry} == {job_id}
    assert any(e["kind"] == "system" and e["memory_bytes"] > 0 for e in telemetry)
    assert any(e["kind"] == "checkpoint" for e in telemetry)
    record = httpx.get(f"{api_url}/v1/jobs/{job_id}", headers=bearer(admin_token)).json()
    folder = JobFolder(open_store(record["folder_uri"].rsplit("/jobs/", 1)[0]), job_id)
    assert {w["rank"] for w in folder.workers()} == {0, 1}


def test_a_hung_worker_is_reported_stalled_and_the_job_stops(job_service, shapes, tmp_path):
    timeout_s = 5
    cfg = config_from_dict(tiny_config(shapes, str(tmp_path / "artifacts"),
                                       hyperparameters={"epochs": 200, "batch_size": 4},
                                       monitor={"sample_interval_s": 1, "stall_timeout_s": timeout_s,
                                                "stall_action": "stop"}))
    job_service.submit(cfg)
    folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    deadline = time.time() + 240
    while not any(w["step"] > 0 for w in folder.workers()):
        assert time.time() < deadline, job_service.logs(cfg.job_id)[-3000:]
        time.sleep(0.5)
    pid = folder.workers()[0]["worker_pid"]
    os.kill(pid, signal.SIGSTOP)
    hung_at = time.time()
    try:
        final = job_service.wait(cfg.job_id, timeout_s=120)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    stalled = [e for e in folder.telemetry() if e["kind"] == "stalled"]
    assert stalled, job_service.logs(cfg.job_id)[-3000:]
    assert stalled[0]["time"] - hung_at <= timeout_s + 10
    assert final["state"] == "stopped" and "stalled" in final["message"], final


USER_SCRIPT = r'''
import os, sys, time
print("loading data from", os.environ["VISIONTRAIN_DATASET"])
for epoch in (1, 2):
    for step in (1, 2):
        sys.stdout.write(f"\rEpoch {epoch}/2: {step * 50}%|#####| {step}/2 [00:01<00:00, 2.0it/s, loss={0.9 / (epoch * step):.3f}]")
        sys.stdout.flush()
        time.sleep(0.2)
    print()
    print(f"Epoch {epoch}, Loss: {0.5 / epoch:.3f}")
    print(f"loss={0.4 / epoch:.2f} acc={0.5 + epoch / 10:.2f}")
    print(f"val_acc: {90 + epoch}.5%")
print("{'eval_loss': '0.6905', 'eval_accuracy': '0.5625', 'epoch': '2'}")
print("      Epoch    GPU_mem   box_loss   cls_loss   dfl_loss  Instances       Size")
print("        2/2         0G    0.03122     0.4913    0.01829          9         64: 100% ━━━━ 2/2 2.0it/s 0.2s")
print("Train: 2 [  50/156 ( 32%)]  Loss: 6.872 (6.91)  Time: 0.371s,  690.53/s  LR: 1.000e-05  Data: 0.012 (0.023)")
with open(os.path.join(os.environ["VISIONTRAIN_OUTPUT_DIR"], "model.txt"), "w") as f:
    f.write("weights")
if len(sys.argv) > 1:
    print("something went wrong", file=sys.stderr)
    sys.exit(int(sys.argv[1]))
'''


def test_a_user_script_runs_as_a_job_and_its_printed_metrics_are_read(job_service, shapes, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(USER_SCRIPT)
    cfg = config_from_dict(tiny_config(shapes, str(tmp_path / "artifacts"), script={"path": str(script)}))
    job_service.submit(cfg)
    final = job_service.wait(cfg.job_id, timeout_s=300)
    assert final["state"] == "succeeded", job_service.logs(cfg.job_id)[-3000:]
    folder = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    series = [{k: v for k, v in e.items() if k not in ("time", "kind", "job_id", "rank", "epoch", "step")}
              for e in folder.telemetry() if e["kind"] == "progress"]
    assert series == [
        {"loss": 0.9}, {"loss": 0.45}, {"loss": 0.5}, {"loss": 0.4, "acc": 0.6}, {"val_acc": 0.915},
        {"loss": 0.45}, {"loss": 0.225}, {"loss": 0.25}, {"loss": 0.2, "acc": 0.7}, {"val_acc": 0.925},
        {"eval_loss": 0.6905, "eval_accuracy": 0.5625},
        {"gpu_mem": 0, "box_loss": 0.03122, "cls_loss": 0.4913, "dfl_loss": 0.01829, "instances": 9},
        {"loss": 6.872, "lr": 1e-05},
    ]
    assert folder.store.read_text(folder.key("outputs/model.txt")) == "weights"
    assert folder.store.read_json(folder.key("metrics.json"))["val_acc"] == 0.925
    assert "Epoch 2, Loss: 0.250" in job_service.logs(cfg.job_id)


def test_a_failing_user_script_fails_the_job_with_its_last_lines(job_service, shapes, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(USER_SCRIPT)
    cfg = config_from_dict(tiny_config(shapes, str(tmp_path / "artifacts"), script={"path": str(script), "args": ["3"]},
                                       resources={"max_failures": 0}))  # the message, not the retries, is tested
    job_service.submit(cfg)
    final = job_service.wait(cfg.job_id, timeout_s=300)
    assert final["state"] == "failed"
    assert "the training script exited with code 3" in final["message"], final["message"]
    assert "something went wrong" in final["message"]
