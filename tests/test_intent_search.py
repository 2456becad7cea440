"""Search requests in Korean and English become the search section of the plan; numbers are checked
like any stated value, and a searched value is not also taken as a fixed one."""
import pytest

from serve_app.intent import parse_offline
from serve_app.services.plan import _search

LR_RANGE = {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}}
MODELS = {"model": {"values": ["resnet18", "efficientnet_b0"], "log": False}}


def _search_of(message: str, history=None) -> dict:
    result = parse_offline(message, history)
    return result.intent.search.model_dump(exclude_none=True) if result.intent.search else None


@pytest.mark.parametrize("message, parameters, trials", [
    ("학습률 1e-4에서 1e-2 사이로 8번 탐색해줘, resnet18로 도형 분류", LR_RANGE, 8),
    ("find the best lr between 1e-4 and 1e-2 with 8 trials for a resnet18 classifier", LR_RANGE, 8),
    ("resnet18 classifier, search the learning rate from 0.0001 to 0.01, 8 runs", LR_RANGE, 8),
    ("resnet18과 efficientnet_b0 중 더 좋은 걸로 분류 모델 만들어줘", MODELS, None),
    ("train resnet18 or efficientnet_b0 on my shapes, whichever is better", MODELS, None),
    ("compare resnet18 and efficientnet_b0 for classifying defects", MODELS, None),
    ("resnet18로 분류, 학습률 1e-3, 1e-2, 1e-1 중 최적을 찾아줘",
     {"learning_rate": {"values": [0.001, 0.01, 0.1], "log": False}}, None),
    ("efficientnet_b0 분류, 배치 16에서 64 사이, weight decay 1e-5 to 1e-3 튜닝 6회 시도",
     {"batch_size": {"low": 16, "high": 64, "log": True}, "weight_decay": {"low": 1e-5, "high": 1e-3, "log": True}}, 6),
])
def test_search_requests_in_both_languages(message, parameters, trials):
    search = _search_of(message)
    assert search["parameters"] == parameters
    assert search.get("num_trials") == trials


def test_a_searched_value_is_not_also_a_fixed_value():
    result = parse_offline("resnet18 분류, 에폭 5, 학습률 1e-4에서 1e-2 사이로 8번 탐색")
    assert result.intent.hyperparameters.learning_rate is None
    assert result.intent.hyperparameters.epochs == 5


def test_plain_requests_have_no_search():
    for message in ("train resnet18 with lr 0.001 and batch 32, 10 epochs", "ResNet18로 도형 3종류 분류해줘, 에폭 3",
                    "resnet18 classifier with lr 0.001 and 20 epochs"):
        assert _search_of(message) is None, message


def test_search_builds_over_the_conversation():
    first = parse_offline("resnet18로 도형 분류, 학습률 1e-4에서 1e-2 사이로 탐색")
    second = parse_offline("배치 16에서 64 사이도, 시도는 12번", history=[first.model_dump()])
    search = second.intent.search.model_dump(exclude_none=True)
    assert set(search["parameters"]) == {"learning_rate", "batch_size"} and search["num_trials"] == 12


@pytest.mark.parametrize("message, problem", [
    ("resnet18 lr between 1e-4 and 20 with 4 trials", "learning_rate=20 is outside the allowed range"),
    ("resnet18 classifier, lr 1e-3 to 1e-1, 300 trials", "num_trials=300 is outside the allowed range"),
])
def test_out_of_range_search_values_are_asked_about(message, problem):
    result = parse_offline(message)
    assert result.status == "needs_clarification"
    assert any(problem in q for q in result.questions), result.questions


def test_trial_counts_round_up_to_try_each_listed_value_equally():
    stated = {"parameters": {"model": {"values": ["resnet18", "efficientnet_b0"]}}, "num_trials": 3}
    search, warning = _search(stated)
    assert search["num_trials"] == 4 and "the plan runs 4" in warning
    assert _search({**stated, "num_trials": 4}) == ({**stated, "num_trials": 4}, None)
