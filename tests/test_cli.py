import json
import os
import zipfile

import pytest
import yaml

from serve_app.cli import main


def test_synth_writes_a_dataset(tmp_path, capsys):
    out = tmp_path / "shapes"
    assert main(["datasets", "synth", "--out", str(out), "--classes", "3", "--per-class", "4", "--image-size", "32"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["class_names"] == ["circle", "square", "triangle"]
    assert sorted(os.listdir(out)) == ["circle", "square", "triangle"]


def test_submit_refuses_a_bad_config_with_the_reason(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"task": "classification", "model": {"name": "resnet18"},
                                    "dataset": {"uri": "relative/path"}}))
    assert main(["--api", "http://127.0.0.1:1", "submit", str(path)]) == 1
    err = capsys.readouterr().err
    assert "dataset.uri" in err and "absolute" in err


def test_commands_without_the_api_say_how_to_start_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VISIONTRAIN_HOME", str(tmp_path))
    monkeypatch.delenv("VISIONTRAIN_API_URL", raising=False)
    assert main(["jobs", "--api", "http://127.0.0.1:1"]) == 4  # global options also after the command
    assert "not logged in" in capsys.readouterr().err
    (tmp_path / "credentials.json").write_text('{"url": "http://127.0.0.1:1", "access_token": "x"}')
    assert main(["jobs"]) == 3
    err = capsys.readouterr().err
    assert "cannot reach the API at http://127.0.0.1:1" in err and "make up" in err


def test_datasets_add_and_validate(tmp_path, capsys):
    data = tmp_path / "d"
    assert main(["datasets", "synth", "--out", str(data), "--per-class", "6", "--image-size", "32"]) == 0
    capsys.readouterr()
    assert main(["datasets", "validate", str(data), "--language", "ko"]) == 0
    assert "학습할 수 있습니다" in capsys.readouterr().out
    assert main(["datasets", "add", str(data), "--storage", str(tmp_path / "store")]) == 0
    out = capsys.readouterr().out
    ds_id = out.strip().split("use it as dataset.uri: ")[1]
    assert ds_id.startswith("ds-") and (tmp_path / "store" / "datasets" / ds_id / ".complete").exists()
    (data / "square" / "bad.png").write_bytes(b"nope")
    assert main(["datasets", "validate", str(data)]) == 1
    assert "square/bad.png" in capsys.readouterr().out


class _FakeClient:
    """Answers what print_result asks the API for (a unit test of the printout alone)."""

    def __init__(self, metrics: dict, artifacts: list[str]):
        self.metrics, self.artifacts = metrics, artifacts

    def get(self, path: str):
        if path.endswith("/artifacts/metrics.json"):
            return self.metrics
        assert path.endswith("/artifacts")
        return {"uri": "/store/jobs/det-1", "artifacts": self.artifacts}


def test_result_printout_fits_every_task(capsys):
    from serve_app.cli.remote import print_result

    detection = {"task": "detection", "mAP50": 0.94, "mAP50_95": 0.66, "samples": ["samples/prediction_0.png"]}
    names = ["metrics.json", "export/model.onnx", "samples/prediction_0.png"]
    print_result(_FakeClient(detection, names), {"job_id": "det-1", "state": "succeeded", "message": "mAP50 0.94"})
    out = capsys.readouterr().out
    assert "validation metrics: mAP50 0.94, mAP50_95 0.66" in out and "samples/prediction_0.png" in out
    assert "weights/model.pt" not in out  # only what the job has
    print_result(_FakeClient({"task": "classification", "accuracy": 0.9933}, names),
                 {"job_id": "det-1", "state": "succeeded", "message": ""})
    assert "validation accuracy: 0.9933" in capsys.readouterr().out


def test_parse_a_conversation(capsys, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert main(["parse", "--compact", "ResNet50으로 고양이 3종류 분류해줘", "데이터는 s3://bucket/cats.zip, 에폭 20"]) == 0
    first, second = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert first["missing"] == ["dataset"] and second["status"] == "complete"
    assert second["intent"]["hyperparameters"]["epochs"] == 20 and second["intent"]["num_classes"] == 3
    assert main(["parse", "write me a poem"]) == 1


def test_models_search(capsys):
    assert main(["models", "ultralytics", "--task", "segmentation", "-q", "yolo11"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in out[:-1]] == [f"yolo11{s}-seg" for s in "nsmlx"] and out[-1] == "(5 of 5)"
    assert main(["models", "timm", "-q", "resnet-5O"]) == 0
    out = capsys.readouterr().out
    assert "(0 of 0)" in out and "closest names: resnet50" in out


def test_synth_covers_every_task_and_its_data_validates(tmp_path, capsys):

    from train_jobs.data.validate import validate_dataset

    expected = {"classification": ("imagefolder", 3), "detection": ("yolo", 3), "segmentation": ("mask", 4),
                "instance-segmentation": ("yolo", 3), "anomaly": ("mvtec", 2)}
    for task, (fmt, classes) in expected.items():
        out = tmp_path / task
        assert main(["datasets", "synth", "--task", task, "--out", str(out), "--per-class", "12", "--image-size", "48"]) == 0
        info = json.loads(capsys.readouterr().out)
        assert len(info["class_names"]) == classes
        report = validate_dataset(str(out), fmt)
        assert report["ok"], (task, report["summary"])
    from PIL import Image
    import numpy as np

    mask = np.asarray(Image.open(next((tmp_path / "segmentation" / "masks" / "train").iterdir())))
    assert set(np.unique(mask)) <= {0, 1, 2, 3} and mask.any()
    assert sorted(os.listdir(tmp_path / "anomaly" / "test")) == ["blot", "good", "scratch"]
    with pytest.raises(SystemExit):
        main(["datasets", "synth", "--task", "juggling", "--out", str(tmp_path / "x")])


def test_following_a_job_prints_its_faults_and_recoveries(capsys):
    from serve_app.cli.remote import print_event

    for ev in ({"time": 1.0, "kind": "worker_failed", "errors": {"0": "ActorDiedError: node lost"}, "restarting": True},
               {"time": 2.0, "kind": "resumed", "from_epoch": 2, "checkpoint": "/x/checkpoint_2"},
               {"time": 3.0, "kind": "driver_lost", "reason": "the job's driver died during training"},
               {"time": 4.0, "kind": "worker_failed", "errors": {"1": "OSError: disk"}, "restarting": False}):
        print_event("job", ev, 0.0, [0.0])
    out = capsys.readouterr().out.splitlines()
    assert "worker lost (rank 0: ActorDiedError: node lost); restarting from the last complete checkpoint" in out[0]
    assert "resumed: from_epoch 2" in out[1]
    assert "driver lost: the job's driver died during training; submitted again" in out[2]
    assert "no restarts left" in out[3]


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"visiontrain {version('visiontrain')}"


@pytest.mark.ray
def test_the_cli_logs_in_uploads_and_reads_through_the_api_as_lines_or_json(api_url, admin_token, tmp_path,
                                                                            monkeypatch, capsys):
    import httpx

    monkeypatch.setenv("VISIONTRAIN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VISIONTRAIN_API_URL", raising=False)
    r = httpx.post(f"{api_url}/v1/users", headers={"authorization": f"Bearer {admin_token}"},
                   json={"username": "cli-reader", "password": "cli-reader-password", "role": "user"})
    assert r.status_code in (201, 409), r.text
    monkeypatch.setenv("VISIONTRAIN_PASSWORD", "cli-reader-password")
    assert main(["login", "--user", "cli-reader", "--api", api_url]) == 0
    assert "logged in to" in capsys.readouterr().out
    assert main(["whoami", "--json"]) == 0  # the kept sign-in names the API: no --api needed
    assert json.loads(capsys.readouterr().out)["username"] == "cli-reader"

    data = tmp_path / "shapes"
    assert main(["datasets", "synth", "--out", str(data), "--per-class", "6", "--image-size", "32"]) == 0
    capsys.readouterr()
    assert main(["datasets", "upload", str(data), "--name", "shapes"]) == 0
    dataset_id = capsys.readouterr().out.split("stored as ")[1].split()[0]
    assert main(["datasets", "list", "--json"]) == 0
    assert [d["dataset_id"] for d in json.loads(capsys.readouterr().out)] == [dataset_id]
    assert main(["datasets", "show", dataset_id]) == 0
    lines = capsys.readouterr().out
    assert dataset_id in lines and "cli-reader" in lines and "imagefolder" in lines
    assert main(["datasets", "show", dataset_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["report"]["ok"] is True
    assert main(["jobs", "--json"]) == 0 and json.loads(capsys.readouterr().out) == []
    assert main(["status", "no-such-job", "--json"]) == 1
    assert "no-such-job" in capsys.readouterr().err

    # managing the dataset: rename, look over, download, a conversion refused with what it can be, delete
    assert main(["datasets", "rename", dataset_id, "shapes-v2"]) == 0
    assert f"{dataset_id} is now named shapes-v2" in capsys.readouterr().out
    assert main(["datasets", "samples", dataset_id, "--out", str(tmp_path / "drawn"), "--limit", "3"]) == 0
    assert "3 of 18 images drawn" in capsys.readouterr().out and len(os.listdir(tmp_path / "drawn")) == 3
    assert main(["datasets", "download", dataset_id, "--out", str(tmp_path / "copy.zip")]) == 0
    with zipfile.ZipFile(tmp_path / "copy.zip") as z:
        assert len([n for n in z.namelist() if n.endswith(".png")]) == 18
    assert main(["datasets", "convert", dataset_id, "--to", "yolo"]) == 1
    assert "cannot write classification data as yolo" in capsys.readouterr().err
    assert main(["datasets", "delete", dataset_id]) == 0 and f"deleted {dataset_id}" in capsys.readouterr().out
    assert main(["datasets", "list", "--json"]) == 0 and json.loads(capsys.readouterr().out) == []
