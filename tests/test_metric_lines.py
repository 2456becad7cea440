"""Metrics read from training scripts' output: real samples from Ultralytics (captured from a run
of the installed version), Hugging Face Trainer (its ProgressCallback's format) and timm's
train.py (its log format), and the short forms people print by hand."""
import os

import pytest

from train_jobs.metric_lines import MetricLineParser

SAMPLES = os.path.join(os.path.dirname(__file__), "samples")


def parse_file(name: str, patterns=()) -> list[dict]:
    parser = MetricLineParser(patterns)
    with open(os.path.join(SAMPLES, name), encoding="utf-8") as f:
        return [m for line in f for part in line.split("\r") if (m := parser.parse(part))]


@pytest.mark.parametrize("line, expected", [
    ("Epoch 5, Loss: 0.234", {"epoch": 5, "loss": 0.234}),
    ("loss=0.21 acc=0.93", {"loss": 0.21, "acc": 0.93}),
    ("val_acc: 95.2%", {"val_acc": 0.952}),
    ("Epoch 1/3: 100%|██████████| 50/50 [00:02<00:00, 20.1it/s, loss=0.345, acc=0.87]",
     {"epoch": 1, "loss": 0.345, "acc": 0.87, "step": 50}),
    ("step 10 | lr: 3e-4 | val_loss = 1.5e-2", {"lr": 3e-4, "val_loss": 0.015}),
])
def test_hand_written_forms(line, expected):
    assert MetricLineParser().parse(line) == expected


@pytest.mark.parametrize("line", ["", "INFO: starting worker pool", "Downloading 100%|####| 3/3 [00:01<00:00]",
                                  "Saved to /tmp/run-3/weights/best.pt", "2026-11-26 18:20:22,035 INFO packaging.py:785"])
def test_lines_without_metrics(line):
    assert MetricLineParser().parse(line) == {}


def test_ultralytics_run_output():
    found = parse_file("ultralytics_detect.log")
    train = [m for m in found if "box_loss" in m]
    assert [m["epoch"] for m in train] == [1, 1, 2, 2]
    assert train[1] == {"epoch": 1, "gpu_mem": 0, "box_loss": 0.01022, "cls_loss": 0.4834, "dfl_loss": 0.005828,
                        "instances": 9, "step": 2}
    val = [m for m in found if "box_map50" in m]
    assert len(val) == 3  # after each epoch and the final validation; per-class rows are not the summary
    assert val[0] == {"images": 4, "instances": 6, "box_p": 0, "box_r": 0, "box_map50": 0, "box_map50_95": 0}


def test_hugging_face_trainer_output():
    found = parse_file("hf_trainer.log")
    assert found[0] == {"loss": 0.7184, "grad_norm": 1.62, "learning_rate": 3.75e-05, "epoch": 0.5}
    assert found[2]["eval_accuracy"] == 0.5625 and found[2]["epoch"] == 1
    assert found[3]["train_loss"] == 0.7003
    assert len(found) == 4


def test_timm_train_output():
    found = parse_file("timm_train.log")
    assert found[0] == {"epochs": 2}
    assert found[1] == {"epoch": 0, "loss": 6.946, "lr": 1e-05}
    assert found[2]["loss"] == 6.872
    assert found[4] == {"loss": 4.8408, "acc_1": 16.1321, "acc_5": 45.283}
    assert len(found) == 5


def test_configured_patterns_win_and_name_their_groups():
    parser = MetricLineParser([r"top-1 err (?P<top1_error>[\d.]+)", r"loss (?P<loss>[\d.]+)"])
    assert parser.parse("it 40: top-1 err 12.5, loss 0.3") == {"top1_error": 12.5, "loss": 0.3}


def test_bad_patterns_are_refused_with_the_reason():
    from train_jobs.config import ConfigError, config_from_dict

    base = {"task": "classification", "model": {"name": "resnet18"}, "dataset": {"uri": "/data"}}
    for pattern, words in [("loss ([0-9.]+)", "no named group"), ("(?P<loss>[0-9.]+", "not a regular expression")]:
        with pytest.raises(ConfigError, match=words):
            config_from_dict({**base, "monitor": {"patterns": [pattern]}})
