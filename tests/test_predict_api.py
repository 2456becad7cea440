"""A succeeded job's model in use (issue #24): ``POST /v1/jobs/{id}/predict`` on the TrainedModels
deployment answers what the job's own evaluation computes for the same images (its size,
interpolation and normalisation); whoever may see the job may ask, others get 404; an image that
does not decode answers 422 naming it and the model keeps serving; the CLI prints the answers."""
import base64
import io
import json
import os
import shutil
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from serve_app.cli import main

pytestmark = pytest.mark.ray


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


def _user(api_url: str, admin_token: str, name: str, role: str = "user") -> dict:
    r = httpx.post(f"{api_url}/v1/users", headers=bearer(admin_token), timeout=60,
                   json={"username": name, "password": f"{name}-password", "role": role})
    assert r.status_code in (201, 409), r.text
    return bearer(httpx.post(f"{api_url}/v1/auth/login", timeout=60,
                             json={"username": name, "password": f"{name}-password"}).json()["access_token"])


def _trained_job(api_url: str, headers: dict, shapes: str, tmp_path) -> tuple[dict, dict]:
    archive = shutil.make_archive(str(tmp_path / "shapes"), "zip", shapes)
    with open(archive, "rb") as f:
        assert httpx.post(f"{api_url}/v1/datasets", params={"name": "shapes"}, content=f.read(), timeout=120,
                          headers={**headers, "content-type": "application/zip"}).status_code == 201
    turn = httpx.post(f"{api_url}/v1/chat", headers=headers, timeout=60, json={
        "message": "train test_resnet from scratch on the dataset I uploaded, 2 epochs, batch size 16"}).json()
    assert turn["plan"], turn
    r = httpx.post(f"{api_url}/v1/jobs", headers=headers, json={"session_id": turn["session_id"]}, timeout=60)
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]
    with httpx.stream("GET", f"{api_url}/v1/jobs/{job_id}/events", headers=headers, timeout=600) as events:
        for _ in events.iter_lines():
            pass
    record = httpx.get(f"{api_url}/v1/jobs/{job_id}", headers=headers).json()
    assert record["state"] == "succeeded", record
    return record, turn["plan"]["config"]


def _evaluated(record: dict, config: dict, images: list[str]) -> np.ndarray:
    """Class probabilities as the job's evaluation computes them: its weights, its dataset loader."""
    from train_jobs.config import TrainingConfig
    from train_jobs.tasks._torch import build_model, preprocessing
    from train_jobs.tasks.classification import ImageDataset

    cfg = TrainingConfig.model_validate(config)
    model = build_model(cfg, 3)
    model.load_state_dict(torch.load(os.path.join(record["folder_uri"], "weights", "model.pt"),
                                     weights_only=True)["model"])
    fed = preprocessing(cfg)
    x = torch.stack([ImageDataset([(p, 0)], fed["image_size"], resample=fed["interpolation"])[0][0] for p in images])
    with torch.no_grad():
        return model.eval()(x.float() / 255).softmax(1).numpy()


def test_a_succeeded_jobs_model_answers_as_its_evaluation_does(api_url, admin_token, shapes, tmp_path, monkeypatch,
                                                               capsys):
    owner = _user(api_url, admin_token, "pia")
    record, config = _trained_job(api_url, owner, shapes, tmp_path)
    job_id, classes = record["job_id"], sorted(os.listdir(shapes))
    images = [os.path.join(shapes, c, sorted(os.listdir(os.path.join(shapes, c)))[0]) for c in classes]

    def ask(headers: dict, files: list[tuple[str, bytes]], **params) -> httpx.Response:
        return httpx.post(f"{api_url}/v1/jobs/{job_id}/predict", headers=headers, timeout=300, params=params,
                          files=[("images", (name, data)) for name, data in files])

    sent = [(os.path.basename(p), open(p, "rb").read()) for p in images]
    r = ask(owner, sent)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["task"] == "classification" and [p["image"] for p in answer["predictions"]] == [n for n, _ in sent]
    want = _evaluated(record, config, images)
    for p, probs in zip(answer["predictions"], want):
        assert [t["class"] for t in p["top"]] == [classes[i] for i in np.argsort(-probs)]
        assert [t["score"] for t in p["top"]] == pytest.approx(sorted(probs, reverse=True), abs=1e-5)

    assert ask(_user(api_url, admin_token, "vic", "viewer"), sent[:1]).status_code == 200  # viewers may look
    other = ask(_user(api_url, admin_token, "oscar"), sent[:1])
    assert other.status_code == 404 and "no job" in other.json()["detail"]
    broken = ask(owner, [sent[0], ("notes.png", b"this is not an image")])
    assert broken.status_code == 422 and "image 2" in broken.json()["detail"]
    assert ask(owner, sent[:1]).json()["predictions"][0]["top"] == answer["predictions"][0]["top"]  # still serving
    drawn = ask(owner, sent[:1], draw="true").json()["predictions"][0]
    assert drawn["top"] == answer["predictions"][0]["top"] and "drawn" not in answer["predictions"][0]
    tried = httpx.post(f"{api_url}/v1/chat", headers=owner, json={"message": "이 사진으로 테스트해줘"}, timeout=60).json()
    assert tried["try_job"] == job_id and tried["plan"] is None  # the chat names the model to send the images to
    untrained = httpx.post(f"{api_url}/v1/chat", headers=_user(api_url, admin_token, "oscar"), timeout=60,
                           json={"message": "try it on these images"}).json()
    assert untrained["try_job"] is None and "no succeeded job" in untrained["plan_problem"]
    _named_images(api_url, admin_token, owner, job_id, config["dataset"]["uri"], shapes,
                  [os.path.relpath(p, shapes) for p in images], answer["predictions"])
    with Image.open(io.BytesIO(base64.b64decode(drawn["drawn"]))) as img, Image.open(images[0]) as original:
        assert img.format == "PNG" and img.width == original.width and img.height > original.height  # a caption

    for name in ("model.onnx", "predict.py"):  # the export, run with onnxruntime alone, answers the same
        with open(tmp_path / name, "wb") as f:
            f.write(httpx.get(f"{api_url}/v1/jobs/{job_id}/artifacts/export/{name}", headers=owner, timeout=60).content)
    ran = subprocess.run([sys.executable, str(tmp_path / "predict.py"), str(tmp_path / "model.onnx"), *images, "--json"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    for onnx_answer, p in zip(json.loads(ran.stdout), answer["predictions"]):
        assert [t["class"] for t in onnx_answer["top"]] == [t["class"] for t in p["top"]]
        assert [t["score"] for t in onnx_answer["top"]] == pytest.approx([t["score"] for t in p["top"]], abs=1e-4)

    monkeypatch.setenv("VISIONTRAIN_HOME", str(tmp_path / "cli-home"))
    monkeypatch.setenv("VISIONTRAIN_PASSWORD", "pia-password")
    assert main(["login", "--user", "pia", "--api", api_url]) == 0
    capsys.readouterr()
    assert main(["predict", job_id, images[0], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["predictions"][0]["top"] == answer["predictions"][0]["top"]
    assert main(["predict", job_id, images[0], "--draw", str(tmp_path / "drawn")]) == 0
    assert capsys.readouterr().out.startswith(f"{os.path.basename(images[0])}: {answer['predictions'][0]['top'][0]['class']}")
    stem = os.path.splitext(os.path.basename(images[0]))[0]
    assert os.listdir(tmp_path / "drawn") == [f"{stem}.predicted.png"]

    # the whole uploaded dataset, as a batch job (Ray Data), followed from the CLI
    assert main(["predict", job_id, "--dataset", "uploaded:latest", "--follow", "--json"]) == 0
    batch = json.loads(capsys.readouterr().out)
    every = sorted(os.path.relpath(os.path.join(d, f), shapes) for d, _, fs in os.walk(shapes) for f in fs)
    assert batch["state"] == "succeeded" and batch["done"] == batch["total"] == len(every), batch
    files = f"{api_url}/v1/jobs/{job_id}/artifacts/batches/{batch['batch_id']}"
    lines = [json.loads(line) for line in httpx.get(f"{files}/predictions.jsonl", headers=owner, timeout=60).text.splitlines()]
    assert sorted(line["image"] for line in lines) == every
    by_image = {line["image"]: line for line in lines}
    for image, p in zip(images, answer["predictions"]):
        got = by_image[os.path.relpath(image, shapes)]["top"]
        assert [t["class"] for t in got] == [t["class"] for t in p["top"]]
        assert [t["score"] for t in got] == pytest.approx([t["score"] for t in p["top"]], abs=1e-5)
    metrics = httpx.get(f"{files}/metrics.json", headers=owner, timeout=60).json()
    right = sum(line["top"][0]["class"] == line["image"].split("/")[0] for line in lines)
    assert metrics["num_images"] == len(every) and metrics["accuracy"] == pytest.approx(right / len(every), abs=1e-4)
    assert sum(map(sum, metrics["confusion_matrix"])) == len(every) and metrics["class_names"] == classes
    events = httpx.get(f"{api_url}/v1/jobs/{job_id}/events", headers=owner, timeout=60).text
    assert f'"batch_id": "{batch["batch_id"]}", "state": "succeeded"' in events  # in the job's event stream
    listed = httpx.get(f"{api_url}/v1/jobs/{job_id}/predict-batch", headers=owner, timeout=60).json()["batches"]
    assert [b["batch_id"] for b in listed] == [batch["batch_id"]]

    def start(headers: dict, dataset: str = "uploaded:latest") -> httpx.Response:
        return httpx.post(f"{api_url}/v1/jobs/{job_id}/predict-batch", headers=headers, json={"dataset": dataset},
                          timeout=60)

    viewer = start(_user(api_url, admin_token, "vic", "viewer"))
    assert viewer.status_code == 403 and "viewers" in viewer.json()["detail"]  # may predict, not start batches
    assert start(_user(api_url, admin_token, "oscar")).status_code == 404
    missing = start(owner, "ds-" + "0" * 64)
    assert missing.status_code == 422 and f"no dataset ds-{'0' * 64}" in missing.json()["detail"]
    assert start(owner, "/etc").status_code == 403  # server paths are for admins
    first, second = start(owner), start(owner)  # one batch of a job at a time
    assert first.status_code == 202 and second.status_code == 409 and first.json()["batch_id"] in second.json()["detail"]
    follow = f"{api_url}/v1/jobs/{job_id}/predict-batch/{first.json()['batch_id']}"
    for _ in range(240):  # it ends before the next test uses the cluster
        if (ended := httpx.get(follow, headers=owner, timeout=60).json())["state"] not in ("pending", "running"):
            break
        time.sleep(0.5)
    assert ended["state"] == "succeeded" and ended["metrics"]["accuracy"] == metrics["accuracy"], ended
    assert httpx.get(f"{api_url}/v1/jobs/{job_id}/predict-batch/batch-none", headers=owner, timeout=60).status_code == 404


def _named_images(api_url: str, admin_token: str, owner: dict, job_id: str, dataset: str, shapes: str,
                  inside: list[str], want: list[dict]) -> None:
    """Admins may name stored images instead of sending them: a dataset's id and a path inside it, or
    an s3:// object; the answers are those of the same images sent."""
    import boto3

    def ask(headers: dict, names: list[str]) -> httpx.Response:
        return httpx.post(f"{api_url}/v1/jobs/{job_id}/predict", headers=headers, json={"images": names}, timeout=300)

    assert dataset.startswith("ds-")
    admin = bearer(admin_token)
    named = ask(admin, [f"{dataset}/{p}" for p in inside])
    assert named.status_code == 200, named.text
    assert [p["image"] for p in named.json()["predictions"]] == [f"{dataset}/{p}" for p in inside]
    assert [p["top"] for p in named.json()["predictions"]] == [p["top"] for p in want]
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="vt-named-images")
    with open(os.path.join(shapes, inside[0]), "rb") as f:
        s3.put_object(Bucket="vt-named-images", Key="new/one.png", Body=f.read())
    from_s3 = ask(admin, ["s3://vt-named-images/new/one.png"])
    assert from_s3.status_code == 200 and from_s3.json()["predictions"][0]["top"] == want[0]["top"], from_s3.text
    refused = ask(owner, [f"{dataset}/{inside[0]}"])  # the job's owner, not an admin: send the files
    assert refused.status_code == 403 and "multipart" in refused.json()["detail"]
    for bad in (f"{dataset}/../{dataset}/{inside[0]}", f"{dataset}/no/such.png", "s3://vt-named-images/none.png",
                "/etc/passwd"):
        r = ask(admin, [bad])
        assert r.status_code == 422 and bad in r.json()["detail"], (bad, r.status_code, r.text)


MUX = """
import json, sys
import ray
from ray import serve
ray.init(address=sys.argv[1], logging_level="ERROR")
from serve_app.app import TrainedModels
store, jobs, image = sys.argv[2], sys.argv[3].split(","), open(sys.argv[4], "rb").read()
app = TrainedModels.options(name="MuxTest", autoscaling_config={"min_replicas": 1, "max_replicas": 1},
                            ray_actor_options={"num_cpus": 0, "runtime_env": {"env_vars": {
                                "VISIONTRAIN_MODELS_PER_REPLICA": "2"}}}).bind({"storage_uri": store})
handle = serve.run(app, name="mux-test", route_prefix=None)
out = []
try:
    for job in jobs * 2:
        answer = handle.options(multiplexed_model_id=job).predict.remote([image]).result()
        out.append({"job": job, "answer": answer, "held": handle.held.remote().result()})
finally:
    serve.delete("mux-test")
print(json.dumps(out))
"""


def test_more_models_than_a_replica_holds_answer_right_and_memory_stays_bounded(ray_cluster, shapes, tmp_path):
    """Three jobs' models, round robin twice, on a replica that holds two: each answer is its own model's."""
    import subprocess
    import sys

    from train_jobs.predict import load_predictor
    from train_jobs.config import TrainingConfig
    from train_jobs.state import JobFolder
    from train_jobs.store import open_store
    from train_jobs.tasks._torch import build_model
    from train_jobs.worker import save_tensors

    store, jobs = str(tmp_path / "store"), [f"classification-00000000000{i}" for i in range(3)]
    for seed, job_id in enumerate(jobs):
        cfg = TrainingConfig(task="classification", model={"name": "test_resnet"}, dataset={"uri": shapes},
                             hyperparameters={"image_size": 32}, job_id=job_id, storage={"uri": store})
        job = JobFolder(open_store(store), job_id)
        job.store.write_text(job.key("config.yaml"), cfg.to_yaml())
        job.store.write_json(job.key("metrics.json"), {"class_names": sorted(os.listdir(shapes))})
        torch.manual_seed(seed)
        save_tensors({"model": build_model(cfg, 3).state_dict()}, str(tmp_path / "model.pt"))
        job.store.upload_file(job.key("weights/model.pt"), str(tmp_path / "model.pt"))
    cls = sorted(os.listdir(shapes))[0]
    image = os.path.join(shapes, cls, sorted(os.listdir(os.path.join(shapes, cls)))[0])
    own = {j: load_predictor(store, j)([open(image, "rb").read()]) for j in jobs}
    assert len({json.dumps(a) for a in own.values()}) == 3  # three models, three answers: a mix-up would show

    run = subprocess.run([sys.executable, "-c", MUX, ray_cluster.gcs_address, store, ",".join(jobs), image],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "VISIONTRAIN_MODELS_PER_REPLICA": "2"})
    assert run.returncode == 0, run.stderr[-3000:]
    calls = json.loads(run.stdout.strip().splitlines()[-1])
    assert [c["job"] for c in calls] == jobs * 2
    for c in calls:
        assert c["answer"]["predictions"] == own[c["job"]]
        assert c["job"] in c["held"] and len(c["held"]) <= 2
    assert calls[-1]["held"] == sorted(jobs[1:])  # the least recently used went first
