"""Hyperparameter search: the config's search section, the trials table, and (on the session's Ray
cluster, over real HTTP) a 4-trial learning-rate search asked for in Korean, from chat to exported model."""
import json
import shutil

import httpx
import pytest

from conftest import tiny_config
from train_jobs.config import ConfigError, config_from_dict
from train_jobs.search import best_trial, trials_table


def _config(search: dict, **overrides) -> dict:
    return {**tiny_config("/data/shapes", "/tmp/artifacts", **overrides), "search": search}


def test_search_defaults_and_trial_configs():
    cfg = config_from_dict(_config({"parameters": {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}}}))
    assert cfg.search.num_trials == 4 and cfg.search.max_concurrent_trials == 2 and cfg.search.scheduler == "asha"
    both = config_from_dict(_config({"parameters": {"model": {"values": ["test_resnet", "resnet18"]}}}))
    assert both.search.num_trials == 2  # every listed value once
    trial = both.trial({"model": "resnet18", "learning_rate": 0.05})
    assert (trial.model.name, trial.hyperparameters.learning_rate, trial.search) == ("resnet18", 0.05, None)
    assert trial.job_id == both.job_id and trial.dataset == both.dataset


@pytest.mark.parametrize("search, expected", [
    ({"parameters": {"lr": {"low": 0.1, "high": 1}}}, "cannot search over ['lr']; searchable: learning_rate"),
    ({"parameters": {"learning_rate": {"low": 1e-3, "high": 100}}}, "learning_rate': 100.0} make an invalid config"),
    ({"parameters": {"learning_rate": {"low": 1e-2, "high": 1e-3}}}, "low (0.01) must be below high (0.001)"),
    ({"parameters": {"learning_rate": {"low": 0, "high": 1e-3, "log": True}}}, "a log range needs low > 0"),
    ({"parameters": {"batch_size": {"values": [8]}, "model": {"values": ["a", "b"]}}, "num_trials": 3},
     "num_trials 3 is not a multiple of the 2 combinations"),
    ({"parameters": {}}, "search.parameters"),
    ({"parameters": {"learning_rate": {"values": [0.1], "low": 0.1, "high": 1}}}, "either values"),
])
def test_bad_search_sections_say_what_to_change(search, expected):
    with pytest.raises(ConfigError) as err:
        config_from_dict(_config(search))
    assert expected in str(err.value)


def test_ultralytics_models_cannot_be_searched():
    with pytest.raises(ConfigError, match="ultralytics models and own scripts train with their own loop"):
        config_from_dict({**_config({"parameters": {"learning_rate": {"low": 1e-4, "high": 1e-2}}}),
                          "task": "detection", "model": {"source": "ultralytics", "name": "yolov8n.yaml"}})


def test_trials_table_follows_the_event_stream():
    events = [
        {"kind": "trial", "trial": "t00", "state": "running", "params": {"learning_rate": 0.1}},
        {"kind": "trial", "trial": "t01", "state": "running", "params": {"learning_rate": 0.001}},
        {"kind": "trial_metrics", "trial": "t00", "epoch": 1, "val_accuracy": 0.5},
        {"kind": "trial_metrics", "trial": "t01", "epoch": 1, "val_accuracy": 0.3},
        {"kind": "trial", "trial": "t01", "state": "stopped_early", "params": {"learning_rate": 0.001}},
        {"kind": "trial_metrics", "trial": "t00", "epoch": 2, "val_accuracy": 0.9},
        {"kind": "trial_metrics", "trial": "t00", "epoch": 3, "val_accuracy": 0.8},
        {"kind": "trial", "trial": "t00", "state": "finished", "params": {"learning_rate": 0.1}},
    ]
    table = trials_table(events, "val_accuracy", "max")
    assert [(r["trial"], r["state"], r["epochs"], r["val_accuracy"], r["best_epoch"]) for r in table] == [
        ("t00", "finished", 3, 0.9, 2), ("t01", "stopped_early", 1, 0.3, 1)]
    assert best_trial(table, "val_accuracy", "max")["trial"] == "t00"
    assert trials_table(events, "val_accuracy", "min")[0]["val_accuracy"] == 0.5  # lower is better there
    assert best_trial([], "val_accuracy", "max") is None


def _sse(url: str, headers: dict, timeout_s: float = 600) -> list[tuple[str, dict]]:
    events, kind = [], None
    with httpx.stream("GET", url, headers=headers, timeout=timeout_s) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    return events


@pytest.mark.ray
def test_learning_rate_search_from_chat_to_exported_model(api_url, admin_token, shapes, tmp_path):
    admin = {"authorization": f"Bearer {admin_token}"}
    r = httpx.post(f"{api_url}/v1/users", headers=admin, json={"username": "tuna", "password": "tuna-password",
                                                                "role": "user"})
    assert r.status_code in (201, 409), r.text
    login = httpx.post(f"{api_url}/v1/auth/login", json={"username": "tuna", "password": "tuna-password"}).json()
    me = {"authorization": f"Bearer {login['access_token']}"}
    with open(shutil.make_archive(str(tmp_path / "shapes"), "zip", shapes), "rb") as f:
        r = httpx.post(f"{api_url}/v1/datasets", params={"name": "shapes"}, content=f.read(),
                       headers={**me, "content-type": "application/zip"}, timeout=120)
    assert r.status_code == 201, r.text

    said = "업로드한 데이터로 test_resnet 도형 분류, 에폭 4, 배치 8, 학습률 1e-3에서 3e-1 사이로 4번 탐색해줘"
    answer = httpx.post(f"{api_url}/v1/chat", headers=me, json={"message": said}, timeout=60).json()
    assert answer["result"]["status"] == "complete", answer
    search = answer["plan"]["config"]["search"]
    assert search["num_trials"] == 4 and search["parameters"] == {
        "learning_rate": {"values": None, "low": 0.001, "high": 0.3, "log": True}}
    job = httpx.post(f"{api_url}/v1/jobs", headers=me, json={"session_id": answer["session_id"]}).json()
    events = [e for kind, e in _sse(f"{api_url}/v1/jobs/{job['job_id']}/events", me) if kind == "job"]

    record = httpx.get(f"{api_url}/v1/jobs/{job['job_id']}", headers=me).json()
    assert record["state"] == "succeeded", httpx.get(f"{api_url}/v1/jobs/{job['job_id']}/logs", headers=me).text[-3000:]
    results = httpx.get(f"{api_url}/v1/jobs/{job['job_id']}/trials", headers=me).json()
    assert results["metric"] == "val_accuracy" and len(results["trials"]) == 4
    assert results["trials"] == trials_table(events, "val_accuracy", "max")  # the stored table = the stream
    lrs = [t["params"]["learning_rate"] for t in results["trials"]]
    assert len(set(lrs)) == 4 and all(1e-3 <= lr <= 0.3 for lr in lrs)
    states = [t["state"] for t in results["trials"]]
    assert "stopped_early" in states and "finished" in states, json.dumps(results, indent=1)
    stopped = [t for t in results["trials"] if t["state"] == "stopped_early"]
    assert all(t["epochs"] < 4 for t in stopped)
    best = next(t for t in results["trials"] if t["trial"] == results["best"])
    worst_finished = min(t["val_accuracy"] for t in results["trials"] if t["state"] == "finished")
    assert best["val_accuracy"] >= worst_finished
    per_trial = {t: [e["epoch"] for e in events if e["kind"] == "trial_metrics" and e["trial"] == t]
                 for t in ("t00", "t01", "t02", "t03")}
    assert all(epochs == list(range(1, len(epochs) + 1)) for epochs in per_trial.values()), per_trial
    done = next(e for e in events if e["kind"] == "search_done")
    assert (done["best"], done["params"]) == (best["trial"], best["params"])

    # The best trial's model was evaluated and exported like a single run's, with its learning rate.
    names = httpx.get(f"{api_url}/v1/jobs/{job['job_id']}/artifacts", headers=me).json()["artifacts"]
    assert {"metrics.json", "history.json", "weights/model.pt", "export/model.onnx", "search/results.json"} <= set(names)
    history = httpx.get(f"{api_url}/v1/jobs/{job['job_id']}/artifacts/history.json", headers=me).json()
    assert [h["epoch"] for h in history] == list(range(1, best["epochs"] + 1))
    assert max(h["val_accuracy"] for h in history) == best["val_accuracy"]
    metrics = httpx.get(f"{api_url}/v1/jobs/{job['job_id']}/artifacts/metrics.json", headers=me).json()
    assert 0 <= metrics["accuracy"] <= 1 and len(metrics["confusion_matrix"]) == 3
    # In MLflow (the session's server): the search is one run, each trial a child run with its values and epochs
    import mlflow

    runs = mlflow.search_runs(experiment_names=["visiontrain/tuna"], output_format="list")
    (parent,) = [r for r in runs if r.data.tags["visiontrain.job_id"] == job["job_id"]]
    children = {r.data.tags["visiontrain.trial"]: r for r in runs
                if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert sorted(children) == [t["trial"] for t in results["trials"]]
    client = mlflow.MlflowClient()
    for t in results["trials"]:
        child = children[t["trial"]]
        assert float(child.data.params["hyperparameters.learning_rate"]) == t["params"]["learning_rate"]
        assert child.info.status == {"finished": "FINISHED", "stopped_early": "KILLED"}[t["state"]]
        logged = [m.step for m in client.get_metric_history(child.info.run_id, "val_accuracy")]
        assert logged == list(range(1, t["epochs"] + 1))
    assert parent.info.status == "FINISHED" and "final/accuracy" in parent.data.metrics

    other = httpx.get(f"{api_url}/v1/jobs/{job['job_id']}/trials", headers=admin)
    assert other.status_code == 200  # admins see every job
