"""The API under load on a local platform: 50 conversations at once (each a few chat turns, by 50
users) while 20 job submissions arrive together (5 users, 4 each, against the per-user quota of
concurrent jobs). Every request is timed; every submission must end accepted (and then visible in
its owner's job list) or refused with 429, never dropped.

Prints JSON lines; the last is the summary with bench, requests, errors (anything but 2xx and the
quota's 429), p50_ms, p99_ms, rejected_429, lost (accepted submissions that did not reach Ray
within 2 minutes: submissions are queued, then submitted in the background), accepted, and the machine.
During the burst, 200 logins with wrong passwords for one account arrive too (`--login-flood`):
``login_flood`` says how many were refused with 429; they are not in the latency figures.

The client is aiohttp: it shares the machine's cores with the platform, and httpx's async client
cost ~3 ms of CPU per request there (0.45 s over the 150 chat turns), which the bench counted as
the API's latency; aiohttp costs ~0.4 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import aiohttp  # noqa: E402

from _local import local_platform  # noqa: E402
from train_jobs.data.synth import make_classification  # noqa: E402

ADMIN = {"VISIONTRAIN_ADMIN_USER": "load-admin", "VISIONTRAIN_ADMIN_PASSWORD": "load-admin-password"}
TURNS = [("ResNet18로 도형 3종류 분류해줘, 에폭 3", "Train efficientnet_b0 on my shapes, 5 epochs"),
         ("이미지 크기는 64로 해줘", "batch size 32 please"),
         ("데이터는 /data/shapes 에 있어", "the data is in /data/shapes")]


def emit(obj: dict) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


async def users(c: aiohttp.ClientSession, url: str, admin: dict, prefix: str, n: int) -> list[dict]:
    out = []
    for i in range(n):
        name = f"{prefix}-{i}"
        async with c.post(f"{url}/v1/users", headers=admin, json={"username": name, "password": f"{name}-password"}):
            pass
        out.append(await login(c, url, name, f"{name}-password"))
    return out


async def login(c: aiohttp.ClientSession, url: str, username: str, password: str) -> dict:
    async with c.post(f"{url}/v1/auth/login", json={"username": username, "password": password}, raise_for_status=True) as r:
        return {"authorization": f"Bearer {(await r.json())['access_token']}"}


async def timed(c: aiohttp.ClientSession, log: list, method: str, url: str, path: str, **kw) -> tuple[int, dict] | None:
    """``(status, JSON body)``, or None for a broken request; the time is logged either way."""
    t = time.perf_counter()
    try:
        async with c.request(method, url + path, **kw) as r:
            body = await r.json(content_type=None)
        log.append((path, r.status, (time.perf_counter() - t) * 1000))
        return r.status, body
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        log.append((path, type(exc).__name__, (time.perf_counter() - t) * 1000))
        return None


async def conversation(c: aiohttp.ClientSession, log: list, url: str, user: dict, i: int) -> None:
    session = None
    for turn in TURNS:
        answer = await timed(c, log, "POST", url, "/v1/chat", headers=user, json={"message": turn[i % 2], "session_id": session})
        if answer is not None and answer[0] == 200:
            session = answer[1]["session_id"]


def job_config(n: int) -> dict:
    return {"task": "classification", "model": {"source": "timm", "name": "test_resnet"},
            "dataset": {"uri": "uploaded:latest"}, "hyperparameters": {"epochs": 1, "batch_size": 16, "image_size": 32}}


async def flood(c: aiohttp.ClientSession, url: str, username: str, n: int) -> dict:
    """``n`` logins with wrong passwords at once (someone guessing): how many were refused with 429."""
    log: list = []
    await asyncio.gather(*[timed(c, log, "POST", url, "/v1/auth/login", json={"username": username, "password": f"guess-{i}"})
                           for i in range(n)])
    return {"sent": n, "rejected_429": sum(1 for _, s, _ in log if s == 429),
            "refused_401": sum(1 for _, s, _ in log if s == 401), "errors": sum(1 for _, s, _ in log if s not in (401, 429))}


async def run(url: str, archive: bytes, conversations: int, submitters: int, per_submitter: int,
              login_flood: int) -> dict:
    log: list = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200),
                                     timeout=aiohttp.ClientTimeout(total=120)) as c:
        admin = await login(c, url, ADMIN["VISIONTRAIN_ADMIN_USER"], ADMIN["VISIONTRAIN_ADMIN_PASSWORD"])
        talkers = await users(c, url, admin, "talker", conversations)
        owners = await users(c, url, admin, "owner", submitters)
        for owner in owners:
            async with c.post(f"{url}/v1/datasets", params={"name": "shapes"}, data=archive, raise_for_status=True,
                              headers={**owner, "content-type": "application/zip"}):
                pass
        submissions = [(owner, job_config(k * per_submitter + j))
                       for k, owner in enumerate(owners) for j in range(per_submitter)]
        t0 = time.time()
        answers = await asyncio.gather(
            *[conversation(c, log, url, user, i) for i, user in enumerate(talkers)],
            *[timed(c, log, "POST", url, "/v1/jobs", headers=owner, json={"config": cfg}) for owner, cfg in submissions],
            flood(c, url, "talker-0", login_flood))
        wall = time.time() - t0
        flooded = answers[-1]
        accepted = [(owner, a[1]["job_id"]) for (owner, cfg), a in zip(submissions, answers[conversations:-1])
                    if a is not None and a[0] == 201]
        waiting, deadline = set(job_id for _, job_id in accepted), time.time() + 120
        while waiting and time.time() < deadline:  # queued until the API submits them to Ray
            for owner in owners:
                async with c.get(f"{url}/v1/jobs", headers=owner) as r:
                    for j in await r.json():
                        if j["ray_job_id"] or j["state"] not in ("pending",):
                            waiting.discard(j["job_id"])
            await asyncio.sleep(1)
        submitted_s = time.time() - t0
        lost = len(waiting)  # accepted, then neither submitted to Ray nor ended within 2 minutes
        for owner, job_id in accepted:
            async with c.post(f"{url}/v1/jobs/{job_id}/stop", headers=owner):
                pass
    times = sorted(ms for _, _, ms in log)
    by_path = {p: sorted(ms for q, _, ms in log if q == p) for p in sorted({q for q, _, _ in log})}
    errors = [(path, status) for path, status, _ in log if not (status in (200, 201) or status == 429)]
    return {"requests": len(log), "errors": len(errors), "error_kinds": sorted({f"{p} {s}" for p, s in errors}),
            "p50_ms": round(times[len(times) // 2], 1), "p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 1),
            "rejected_429": sum(1 for _, s, _ in log if s == 429), "lost": lost, "accepted": len(accepted),
            "submissions": len(submissions), "conversations": conversations, "wall_s": round(wall, 2),
            "all_submitted_to_ray_s": round(submitted_s, 1), "login_flood": flooded,
            "by_path": {p: {"n": len(t), "p50_ms": round(t[len(t) // 2], 1), "max_ms": round(t[-1], 1)}
                        for p, t in by_path.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conversations", type=int, default=50)
    ap.add_argument("--submitters", type=int, default=5)
    ap.add_argument("--per-submitter", type=int, default=4)
    ap.add_argument("--login-flood", type=int, default=200, help="wrong-password logins sent during the burst")
    args = ap.parse_args()
    with local_platform("load", ADMIN) as (d, _, url):
        make_classification(os.path.join(d, "shapes"), 3, 20, 32, seed=0)
        with open(shutil.make_archive(os.path.join(d, "shapes"), "zip", os.path.join(d, "shapes")), "rb") as f:
            archive = f.read()
        out = asyncio.run(run(url, archive, args.conversations, args.submitters, args.per_submitter, args.login_flood))
    emit({"bench": "load", **out, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}})


if __name__ == "__main__":
    main()
