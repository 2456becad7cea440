"""The platform as users meet it, over HTTP on a local cluster: how long from confirming a plan to
the first training step (on a warm cluster: a first job has run, and its processes have exited),
and how fast ``GET /v1/jobs/{id}`` answers under 20 concurrent clients (20 users, so no one hits
the rate limit) once the measured job's processes have exited.

Prints JSON lines; the last is the summary with confirm_to_first_step_s, get_job_p50_ms,
get_job_p99_ms (and the request count and errors), plus the machine.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import httpx  # noqa: E402

from _local import local_platform, settle  # noqa: E402
from train_jobs.data.synth import make_classification  # noqa: E402

ADMIN = {"VISIONTRAIN_ADMIN_USER": "bench-admin", "VISIONTRAIN_ADMIN_PASSWORD": "bench-admin-password"}
MESSAGES = ["Train resnet18 to classify 3 kinds of shapes, 2 epochs, image size 32, batch size 16",
            "use the dataset I uploaded"]


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def login(url: str, user: str, password: str) -> dict:
    r = httpx.post(f"{url}/v1/auth/login", json={"username": user, "password": password})
    r.raise_for_status()
    return {"authorization": f"Bearer {r.json()['access_token']}"}


def make_users(url: str, admin: dict, n: int, role: str) -> list[dict]:
    out = []
    for i in range(n):
        name = f"bench-{role}-{i}"
        httpx.post(f"{url}/v1/users", headers=admin, json={"username": name, "password": f"{name}-pw-123", "role": role})
        out.append(login(url, name, f"{name}-pw-123"))
    return out


def first_step_after_confirm(url: str, user: dict) -> dict:
    """Talk to a plan, confirm it, and time the first training step from the job's event stream."""
    session = None
    for message in MESSAGES:
        session = httpx.post(f"{url}/v1/chat", headers=user, json={"message": message, "session_id": session},
                             timeout=60).json()["session_id"]
    t0 = time.time()
    r = httpx.post(f"{url}/v1/jobs", headers=user, json={"session_id": session}, timeout=60)
    r.raise_for_status()
    job_id, first, kind = r.json()["job_id"], None, None
    with httpx.stream("GET", f"{url}/v1/jobs/{job_id}/events", headers=user, params={"poll_s": 0.2},
                      timeout=600) as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind != "end":
                event = json.loads(line[6:])
                if event["kind"] == "progress" and first is None:
                    first = event["time"]
    record = httpx.get(f"{url}/v1/jobs/{job_id}", headers=user).json()
    return {"job_id": job_id, "state": record["state"],
            "confirm_to_first_step_s": round(first - t0, 2) if first else None,
            "after_confirm_s": {h["state"]: round(h["time"] - t0, 2) for h in record["history"]}}


async def get_latencies(url: str, users: list[dict], job_id: str, per_client: int) -> tuple[list, int]:
    """Every client's own connection, all asking at once. The clients are made and connected
    before the clock starts, with one TLS context between them: httpx builds one per client
    otherwise (~40 ms of this process's CPU each), which had the first requests wait on the bench
    itself."""
    tls = ssl.create_default_context()

    async def client(c: httpx.AsyncClient) -> tuple[list, int]:
        times, errors = [], 0
        for _ in range(per_client):
            t = time.perf_counter()
            r = await c.get(f"{url}/v1/jobs/{job_id}")
            times.append((time.perf_counter() - t) * 1000)
            errors += r.status_code != 200
        return times, errors

    clients = [httpx.AsyncClient(headers=u, timeout=30, verify=tls) for u in users]
    try:
        for c in clients:  # each client's connection opened before the clock, as a client that stays on has it
            (await c.get(f"{url}/v1/jobs/{job_id}")).raise_for_status()
        results = await asyncio.gather(*[client(c) for c in clients])
    finally:
        await asyncio.gather(*[c.aclose() for c in clients])
    return sorted(t for ts, _ in results for t in ts), sum(e for _, e in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests-per-client", type=int, default=50)
    args = ap.parse_args()
    with local_platform("submit", ADMIN) as (d, _, url):
        admin = login(url, ADMIN["VISIONTRAIN_ADMIN_USER"], ADMIN["VISIONTRAIN_ADMIN_PASSWORD"])
        users = make_users(url, admin, 2, "user")
        make_classification(os.path.join(d, "shapes"), 3, 60, 32, seed=0)
        archive = shutil.make_archive(os.path.join(d, "shapes"), "zip", os.path.join(d, "shapes"))
        with open(archive, "rb") as f:
            body = f.read()
        for user in users:
            httpx.post(f"{url}/v1/datasets", params={"name": "shapes"}, content=body, timeout=120,
                       headers={**user, "content-type": "application/zip"}).raise_for_status()
        warm = first_step_after_confirm(url, users[0])
        emit({"bench": "submit", "phase": "warm_up", **warm, "then_settled_s": settle()})
        measured = first_step_after_confirm(url, users[1])
        viewers = make_users(url, admin, args.clients, "viewer")  # viewers read every job
        emit({"bench": "submit", "phase": "measured", **measured, "then_settled_s": settle()})
        times, errors = asyncio.run(get_latencies(url, viewers, measured["job_id"], args.requests_per_client))

    def pct(p: float) -> float:
        return round(times[min(len(times) - 1, int(p * len(times)))], 2)

    emit({"bench": "submit", "confirm_to_first_step_s": measured["confirm_to_first_step_s"],
          "get_job_p50_ms": pct(0.50), "get_job_p99_ms": pct(0.99), "clients": args.clients,
          "requests": len(times), "errors": errors, "warm_cluster": True,
          "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}})


if __name__ == "__main__":
    main()
