"""``make demo``: the main job as a user lives it, on the local platform.

Starts (or reuses) the local platform (Ray + the API), logs in as its admin, generates a 3-class
shapes dataset and uploads it, says "ResNet18로 도형 3종류 분류해줘, 처음부터, 에폭 3", answers the
platform's question, confirms the plan, follows the job, and prints the result.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from typing import Callable, Optional

import httpx

from serve_app.local import home_dir

__all__ = ["run_demo"]

REQUEST = "ResNet18로 도형 3종류 분류해줘, 처음부터, 에폭 3"
ANSWERS = {"dataset": "내가 올린 데이터셋으로 해줘"}
API = "http://127.0.0.1:8000"


def _api_up() -> bool:
    try:
        return httpx.get(f"{API}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def run_demo(args, cmd_up: Callable[[argparse.Namespace], int],
             login_local_admin: Callable[[str, str], Optional[str]]) -> int:
    """``cmd_up`` starts the local platform, ``login_local_admin`` logs its first admin in (the CLI's own)."""
    from serve_app.cli.remote import follow, print_plan, print_result
    from serve_app.cli.credentials import api_client
    from serve_app.client import NotLoggedIn
    from train_jobs.data.synth import make_classification

    home = home_dir()
    if _api_up():
        print(f"[1/5] reusing the local platform at {API}")
    else:
        print("[1/5] starting the local platform (Ray head, API, UI) ...", flush=True)
        cmd_up(argparse.Namespace(port=6380, dashboard_port=8265, num_cpus=None, metrics_port=8080,
                                  serve_port=8000, host="127.0.0.1", autoscaling_config=None, ui_port=7860,
                                  mlflow_port=5000))
    client = api_client(API)
    try:
        client.get("/v1/me")
    except NotLoggedIn:
        if not login_local_admin(API, home):
            print("log in first: visiontrain login")
            return 1
        client = api_client(API)

    dataset = os.path.join(home, "datasets", f"shapes-3x{args.per_class}-32px")
    if not os.path.exists(os.path.join(dataset, ".complete")):
        print(f"[2/5] generating a 3-class shapes dataset ({args.per_class} images per class, 32 px) ...", flush=True)
        make_classification(dataset, num_classes=3, per_class=args.per_class, image_size=32, seed=0)
        open(os.path.join(dataset, ".complete"), "w").close()
    with tempfile.TemporaryDirectory(prefix="vt-demo-") as tmp:
        archive = shutil.make_archive(os.path.join(tmp, "shapes"), "zip", dataset)
        uploaded = client.upload_dataset(archive, "shapes")
    print(f"[2/5] uploaded it as {uploaded['dataset_id']}: {uploaded['report']['summary'].splitlines()[0]}")

    print(f"[3/5] > {REQUEST}")
    answer = client.chat(REQUEST)
    print_plan(answer)
    for _ in range(3):
        missing = answer["result"]["missing"]
        if answer.get("plan") or not missing or missing[0] not in ANSWERS:
            break
        print(f"      > {ANSWERS[missing[0]]}")
        answer = client.chat(ANSWERS[missing[0]], answer["session_id"])
        print_plan(answer)
    if not answer.get("plan"):
        print("the platform did not arrive at a plan; see its questions above")
        return 1
    record = client.post("/v1/jobs", {"session_id": answer["session_id"]})
    print(f"[4/5] confirmed; job {record['job_id']} submitted as Ray job {record['ray_job_id']}. Following it ...",
          flush=True)
    record = follow(client, record["job_id"])
    print("[5/5] done")
    print_result(client, record)
    print(f"\nThe platform stays up for the next run ({API}/docs); `make down` stops it.")
    return 0 if record["state"] == "succeeded" else 1
