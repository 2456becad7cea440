"""The UI's pieces without a browser: what a plan card, a progress line and a result say (that the
UI stays a client of the HTTP API is tests/test_layers.py's)."""
from __future__ import annotations

from gradio_ui.app import QUEUE_IDLE_POLL_S, build, queued
from gradio_ui.render import Progress, plan_card, result_tables
from gradio_ui.text import LABELS, SENTENCES, language_of
from visiontrain.messages import words

KO_WORDS = words("ko")  # as GET /v1/vocabulary answers them

PLAN = {"config": {"task": "classification", "model": {"source": "timm", "name": "resnet18"},
                   "dataset": {"uri": "ds-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, "class_names": None,
                   "hyperparameters": {"epochs": 3, "batch_size": 16, "learning_rate": 0.001, "image_size": 32},
                   "resources": {"num_workers": 1, "use_gpu": False, "cpus_per_worker": 2.0}},
        "defaults": ["hyperparameters.learning_rate", "resources.num_workers", "resources.use_gpu"],
        "notes": {"resources.cpus_per_worker": "chosen for this cluster",
                  "hyperparameters.image_size": "from the dataset's images (about 32 px)"},
        "warnings": ["you said 4 classes; the dataset has 3: circle, square, triangle"]}


def test_plan_card_marks_defaults_and_says_what_it_will_cost():
    card = plan_card("en", PLAN, images=180, health="imagefolder dataset, 3 classes, 180 images")
    assert "| learning_rate | `0.001` *(default)* |" in card
    assert "| epochs | `3` |" in card  # stated, so not marked
    assert "*(default: chosen for this cluster)*" in card and "*(default: from the dataset's images" in card
    assert "about 36 training steps (3 epochs of 12)" in card
    assert "> imagefolder dataset, 3 classes, 180 images" in card and "⚠️ you said 4 classes" in card
    korean = plan_card("ko", PLAN, images=180, words=KO_WORDS)
    assert "학습 계획" in korean and "*(기본값)*" in korean and "학습 스텝 약 36회" in korean
    assert "**작업**: 분류" in korean and "**Task**: classification" in card  # the platform's name for the task
    assert "| | |" not in card and "| setting | value |" in card and "| 설정 | 값 |" in korean  # headed tables
    gpu = {**PLAN, "config": {**PLAN["config"], "resources": {**PLAN["config"]["resources"], "gpus_per_worker": 1.0}}}
    assert "gpus_per_worker" not in plan_card("en", gpu)  # no GPU in the plan: no GPU rows
    with_gpu = {**gpu, "config": {**gpu["config"], "resources": {**gpu["config"]["resources"], "use_gpu": True}}}
    assert "| gpus_per_worker | `1.0` |" in plan_card("en", with_gpu)


def test_progress_follows_the_event_stream():
    p = Progress("en", "job-1")
    p.add("job", {"time": 0.0, "kind": "state", "state": "training", "message": "1 worker(s), CPU, 3 epochs"})
    p.add("telemetry", {"time": 1.0, "kind": "progress", "rank": 0, "epoch": 1, "step": 2, "steps": 4.0, "loss": 1.2})
    p.add("telemetry", {"time": 1.5, "kind": "progress", "rank": 1, "epoch": 1, "step": 2, "steps": 4.0, "loss": 9.9})
    p.add("job", {"time": 10.0, "kind": "metrics", "epoch": 1, "epochs": 3, "train_loss": 1.1, "val_loss": 1.0,
                  "val_accuracy": 0.5})
    p.add("job", {"time": 20.0, "kind": "metrics", "epoch": 2, "epochs": 3, "train_loss": 0.8, "val_loss": 0.7,
                  "val_accuracy": 0.75})
    p.add("telemetry", {"time": 21.0, "kind": "system", "rank": 0, "cpu_percent": 150.0, "memory_bytes": 2**31,
                        "gpu_utilization_percent": 97.0, "gpu_memory_bytes": 2**33})
    status = p.status()
    assert "**training** — 1 worker(s), CPU, 3 epochs" in status
    assert "Epoch 2/3" in status and "about 10 s left" in status  # one more epoch of 10 s
    p.add("telemetry", {"time": 22.0, "kind": "progress", "rank": 0, "epoch": 3, "step": 1, "steps": 4.0, "loss": 0.7})
    assert "Epoch 3/3" in p.status() and "· 1/4" in p.status()  # the epoch under way, step by step
    assert "CPU 150% · memory 2.0 GiB · GPU 97% · GPU memory 8.0 GiB" in status
    loss, metric = p.curves()
    assert 9.9 not in set(loss["value"]["value"])  # rank 0 only
    assert list(metric["value"]["value"]) == [0.5, 0.75]
    assert set(loss["value"]["series"]) == {"step_loss", "train_loss", "val_loss"}
    assert loss["visible"] and metric["visible"] and (metric["x_title"], metric["y_title"]) == ("epoch", "validation metric")
    assert metric["color_title"] == "curve"
    korean = Progress("ko", "job-1", words=KO_WORDS)
    korean.add("job", {"time": 0.0, "kind": "state", "state": "training", "message": "워커 1개, CPU, 에폭 3회"})
    assert "**학습 중** — 워커 1개, CPU, 에폭 3회" in korean.status() and korean.curves()[0]["color_title"] == "곡선"


def test_charts_show_from_two_epochs_and_a_single_point_is_said():
    p = Progress("ko", "job-4", epochs=300)
    assert [c["visible"] for c in p.curves()] == [False, False]  # nothing yet: no empty frame
    p.add("telemetry", {"time": 1.0, "kind": "progress", "rank": 0, "epoch": 1, "step": 2, "steps": 4.0, "loss": 1.2})
    p.add("job", {"time": 10.0, "kind": "metrics", "epoch": 1, "epochs": 300, "val_loss": 1.0, "val_accuracy": 0.5})
    assert [c["visible"] for c in p.curves()] == [False, False]  # one epoch's points: said, not drawn
    assert "val_accuracy: 에폭 1 후 0.5" in p.status() and "val_loss: 에폭 1 후 1" in p.status()
    for epoch in range(2, 301):  # a long run
        p.add("job", {"time": 10.0 * epoch, "kind": "metrics", "epoch": epoch, "epochs": 300, "val_loss": 1 / epoch,
                      "val_accuracy": 0.5})
    loss, metric = p.curves()
    assert loss["visible"] and metric["visible"] and len(metric["value"]) == 300 and "에폭 1 후" not in p.status()
    assert (loss["x_title"], loss["y_title"]) == ("에폭", "손실")


def test_result_tables_label_the_confusion_matrix():
    metrics = {"class_names": ["a", "b"], "confusion_matrix": [[3, 1], [0, 4]],
               "per_class": {"a": {"precision": 1.0, "recall": 0.75}}}
    confusion, per_class = result_tables("en", metrics)
    assert list(confusion.columns) == ["true \\ predicted", "a", "b"] and list(confusion.iloc[1]) == ["b", 0, 4]
    assert per_class.to_dict("records") == [{"class": "a", "precision": 1.0, "recall": 0.75}]
    confusion, per_class = result_tables("ko", metrics)
    assert confusion.columns[0] == "정답 \\ 예측" and per_class.columns[0] == "클래스"


def test_both_languages_have_every_label_and_hangul_means_korean():
    assert LABELS["en"].keys() == LABELS["ko"].keys() and SENTENCES["en"].keys() == SENTENCES["ko"].keys()
    assert language_of("ResNet18로 분류해줘") == "ko" and language_of("train resnet18") == "en"
    assert language_of("123", fallback="ko") == "ko"


def test_a_search_shows_its_space_its_trials_one_curve_each_and_the_best():
    search = {"parameters": {"learning_rate": {"values": None, "low": 0.001, "high": 0.3, "log": True}},
              "num_trials": 4, "max_concurrent_trials": 2, "scheduler": "asha"}
    card = plan_card("en", {**PLAN, "config": {**PLAN["config"], "search": search}}, images=180)
    assert "**Search** (4 trials, 2 at a time" in card and "| learning_rate | `0.001` – `0.3` (log) |" in card
    assert "4 trials of up to 36 steps each" in card
    assert "시도 4회" in plan_card("ko", {**PLAN, "config": {**PLAN["config"], "search": search}}, images=180)

    p = Progress("en", "job-2", epochs=3)
    p.add("job", {"time": 0.0, "kind": "search_started", "metric": "val_accuracy", "mode": "max", "trials": 4,
                  "concurrent": 2, "scheduler": "asha", "parameters": {"learning_rate": {}}})
    for trial, lr in (("t00", 0.2), ("t01", 0.002)):
        p.add("job", {"time": 1.0, "kind": "trial", "trial": trial, "state": "running", "params": {"learning_rate": lr}})
    p.add("job", {"time": 2.0, "kind": "trial_metrics", "trial": "t00", "epoch": 1, "epochs": 3, "val_accuracy": 0.6,
                  "val_loss": 0.9})
    p.add("job", {"time": 3.0, "kind": "trial_metrics", "trial": "t01", "epoch": 1, "epochs": 3, "val_accuracy": 0.4,
                  "val_loss": 1.1})
    p.add("job", {"time": 3.1, "kind": "trial", "trial": "t01", "state": "stopped_early", "params": {"learning_rate": 0.002}})
    status = p.status()
    assert "Trials: 1/4 ended" in status and "best so far: **t00** (val_accuracy 0.6)" in status
    assert "| t01 | 0.002 | stopped_early | 1 | 0.4 |" in status
    loss, metric = p.curves()
    assert set(metric["value"]["series"]) == {"t00", "t01"} and set(loss["value"]["series"]) == {"t00", "t01"}
    p.add("job", {"time": 9.0, "kind": "search_done", "best": "t00", "params": {"learning_rate": 0.2},
                  "metric": "val_accuracy", "value": 0.9})
    assert "Best trial **t00**: learning_rate 0.2 (val_accuracy 0.9)" in p.status()


def test_progress_says_when_a_worker_or_the_driver_is_lost_and_where_it_resumed():
    for lang, words in (("en", ("worker was lost", "driver was lost", "resumed after epoch 2")),
                        ("ko", ("워커를 잃었습니다", "드라이버를 잃었습니다", "에폭 2의 체크포인트"))):
        p = Progress(lang, "job-3")
        p.add("job", {"time": 0.0, "kind": "state", "state": "training", "message": "1 worker(s), CPU, 6 epochs"})
        p.add("job", {"time": 1.0, "kind": "worker_failed", "errors": {"0": "ActorDiedError: node lost"},
                      "failure": 1, "restarting": True, "max_failures": 2})
        assert words[0] in p.status() and "ActorDiedError: node lost" in p.status()
        p.add("job", {"time": 2.0, "kind": "resumed", "from_epoch": 2, "checkpoint": "/x/checkpoint_2"})
        assert words[2] in p.status()
        p.add("job", {"time": 3.0, "kind": "driver_lost", "reason": "the job's driver died", "attempt": 1})
        assert words[1] in p.status()


def test_the_idle_ui_polls_its_queue_slowly():
    """Gradio's own idle polling (every 1 ms) cost 5 % of a core on the 2-core machine; a Gradio whose queue
    has other names for it fails here rather than silently polling fast again."""
    queue = queued(build("http://127.0.0.1:9"))._queue
    assert {name: getattr(queue, name, None) for name in QUEUE_IDLE_POLL_S} == QUEUE_IDLE_POLL_S
