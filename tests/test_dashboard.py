"""The Grafana dashboard only queries metrics that the platform exports."""
import json
import os
import re

from serve_app.metrics import REGISTRY
from train_jobs.monitor import SYSTEM_GAUGES, TRAIN_GAUGES

DASHBOARD = os.path.join(os.path.dirname(__file__), "..", "kuberay", "grafana-dashboard.json")


def exported() -> set[str]:
    ray = {f"ray_visiontrain_{name}" for name in TRAIN_GAUGES} | {"ray_visiontrain_train_metric"}
    ray |= {f"ray_visiontrain_worker_{name}" for name in SYSTEM_GAUGES}
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    api = {family.name + s for family in REGISTRY.collect() for s in suffixes[family.type]}
    return ray | api


def test_every_panel_queries_exported_metrics():
    with open(DASHBOARD, encoding="utf-8") as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
    used = {name for e in exprs for name in re.findall(r"\b(?:ray_)?visiontrain_\w+", e)}
    assert used and used <= exported(), used - exported()
    assert {"ray_visiontrain_train_loss", "ray_visiontrain_worker_gpu_utilization_percent",
            "visiontrain_api_requests_total"} <= used
