import numpy as np
import pytest

from train_jobs.config import config_from_dict
from train_jobs.worker import EarlyStopper
from train_jobs.tasks import get_task, list_tasks
from train_jobs.tasks.classification import classification_report


def test_report_from_known_predictions():
    true = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 1, 0])
    r = classification_report(pred, true, ["a", "b", "c"])
    assert r["confusion_matrix"] == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert r["accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    assert r["per_class"]["a"] == {"precision": pytest.approx(2 / 3, abs=1e-4), "recall": pytest.approx(2 / 3, abs=1e-4),
                                   "f1": pytest.approx(2 / 3, abs=1e-4), "support": 3}
    assert r["per_class"]["b"]["precision"] == pytest.approx(2 / 3, abs=1e-4) and r["per_class"]["b"]["recall"] == 1.0
    assert r["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def _cfg(**es):
    return config_from_dict({"task": "classification", "model": {"name": "resnet18"},
                             "dataset": {"uri": "/d"}, "early_stopping": es})


def test_early_stopping_counts_epochs_without_improvement():
    stop = EarlyStopper(_cfg(patience=2, metric="val_loss", mode="min", min_delta=0.01))
    assert stop.improved({"val_loss": 1.0})
    assert stop.improved({"val_loss": 0.9})
    assert not stop.improved({"val_loss": 0.895})  # within min_delta
    assert not stop.should_stop
    assert not stop.improved({"val_loss": 0.95})
    assert stop.should_stop and stop.best == 0.9


def test_early_stopping_off_by_default_and_unknown_metric_is_named():
    stop = EarlyStopper(_cfg())
    for v in (0.5, 0.4, 0.3, 0.2):
        stop.improved({"val_accuracy": v})
    assert not stop.should_stop
    with pytest.raises(KeyError, match="'val_accuracy' is not among the metrics"):
        stop.improved({"val_loss": 1.0})


def test_every_task_has_a_registered_trainer():
    from train_jobs.tasks import TASKS

    assert set(list_tasks()) == set(TASKS.names())
    assert all(get_task(t).task == t for t in TASKS.names())
    with pytest.raises(ValueError, match="unknown task trainer 'juggling'. Known: ") as err:
        get_task("juggling")
    known = str(err.value).split("Known: ")[1]
    assert sorted(known.split(", ")) == sorted(repr(n) for n in ("classification", "segmentation", "anomaly_detection",
                                                                 "detection/ultralytics", "segmentation/ultralytics"))
