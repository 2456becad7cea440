"""What the local platform costs while it waits: ``make up``'s processes (Ray head, Serve's controller,
proxy and replicas, the API, the chat UI, MLflow) started in a throwaway home, left alone, and their CPU
time counted over ``--seconds``. On a 2-core laptop this is taken from every training step.

Prints JSON lines: one per component, then the summary with ``idle_cpu_percent`` (all of them, in % of
one core), ``by_component`` and the machine. Needs the ports ``make up`` uses to be free.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import psutil

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

# The first pattern found in a process's command line names its component.
COMPONENTS = (("gradio_ui", "chat UI"), ("ServeController", "Serve controller"), ("ProxyActor", "Serve proxy"),
              ("ServeReplica", "Serve replicas"), ("mlflow", "MLflow"), ("gcs_server", "Ray GCS"),
              ("raylet", "Ray raylet"), ("dashboard", "Ray dashboard"), ("DashboardAgent", "Ray dashboard"),
              ("log_monitor", "Ray log monitor"), ("ray::", "Ray workers"))


def component(cmdline: str) -> str:
    return next((name for pattern, name in COMPONENTS if pattern in cmdline), "other")


def platform_processes(home: str) -> list[psutil.Process]:
    """The processes started for the platform in ``home`` (they carry it in their environment)."""
    found = []
    for p in psutil.process_iter():
        try:
            if p.pid != os.getpid() and p.environ().get("VISIONTRAIN_HOME") == home:
                found.append(p)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            pass
    return found


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, tuple[str, float]]:
    out = {}
    for p in procs:
        try:
            t = p.cpu_times()
            out[p.pid] = (" ".join(p.cmdline()), t.user + t.system)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            pass
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the idle platform is watched")
    ap.add_argument("--settle", type=float, default=30.0, help="seconds left alone after it is up, first")
    args = ap.parse_args()
    cli = [sys.executable, "-m", "serve_app.cli"]
    with tempfile.TemporaryDirectory(prefix="vt-bench-idle-") as home:
        env = {**os.environ, "VISIONTRAIN_HOME": home, "RAY_USAGE_STATS_ENABLED": "0"}
        t0 = time.time()
        subprocess.run([*cli, "up"], env=env, check=True, stdout=subprocess.DEVNULL)
        up_s = time.time() - t0
        try:
            time.sleep(args.settle)
            procs = platform_processes(home)
            before, t1 = cpu_seconds(procs), time.time()
            time.sleep(args.seconds)
            after, elapsed = cpu_seconds(procs), time.time() - t1
        finally:
            subprocess.run([*cli, "down"], env=env, stdout=subprocess.DEVNULL)
    by: dict[str, float] = {}
    for pid, (cmd, used) in after.items():
        if pid in before:
            by[component(cmd)] = by.get(component(cmd), 0.0) + (used - before[pid][1]) / elapsed * 100
    for name, pct in sorted(by.items(), key=lambda kv: -kv[1]):
        print(json.dumps({"bench": "idle", "component": name, "cpu_percent": round(pct, 2)}), flush=True)
    print(json.dumps({
        "bench": "idle", "idle_cpu_percent": round(sum(by.values()), 2), "seconds": round(elapsed, 1),
        "processes": len(after), "up_s": round(up_s, 1), "state": "measured",
        "by_component": {k: round(v, 2) for k, v in sorted(by.items(), key=lambda kv: -kv[1])},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }), flush=True)


if __name__ == "__main__":
    main()
