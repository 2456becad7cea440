"""Every sentence the platform writes for people, in each language it speaks: the chat's questions,
the plan's notes, a job's progress, and the names of tasks and job states. One catalogue, read by the
parser, the planner, the job driver and the API (which renders a job's messages in the language a
client asks for); the UI and the CLI get its words over HTTP (``GET /v1/vocabulary``).

Writers of a job's progress store the message's key and values beside its English text
(:func:`said`), so that any reader can say it again in another language."""
from __future__ import annotations

from typing import Any

__all__ = ["LANGUAGES", "MESSAGES", "in_language", "said", "say", "words"]

LANGUAGES = ("en", "ko")

MESSAGES: dict[str, dict[str, str]] = {
    # names, shown wherever a task or a job state is
    "task.classification": {"en": "classification", "ko": "분류"},
    "task.detection": {"en": "detection", "ko": "객체 검출"},
    "task.segmentation": {"en": "segmentation", "ko": "분할"},
    "task.anomaly_detection": {"en": "anomaly detection", "ko": "이상 탐지"},
    "state.pending": {"en": "pending", "ko": "대기 중"},
    "state.validating": {"en": "validating", "ko": "데이터 확인 중"},
    "state.preparing": {"en": "preparing", "ko": "준비 중"},
    "state.training": {"en": "training", "ko": "학습 중"},
    "state.evaluating": {"en": "evaluating", "ko": "평가 중"},
    "state.exporting": {"en": "exporting", "ko": "내보내는 중"},
    "state.succeeded": {"en": "succeeded", "ko": "완료"},
    "state.failed": {"en": "failed", "ko": "실패"},
    "state.stopped": {"en": "stopped", "ko": "중지됨"},
    # the chat's questions and refusals
    "ask.dataset": {
        "ko": "학습에 사용할 데이터셋을 업로드하거나 위치(s3:// 주소, 폴더 경로 또는 데이터셋 ID)를 알려주세요.",
        "en": "Which dataset should I train on? Upload one, or give its location (an s3:// URI, a folder path or a "
              "dataset id).",
    },
    "ask.task": {
        "ko": "어떤 작업을 원하시나요? 분류, 객체 검출, 분할(세그멘테이션), 이상 탐지 중에서 알려주세요.",
        "en": "What should the model do: classification, object detection, segmentation or anomaly detection?",
    },
    "ask.model_unknown": {
        "ko": "'{detail}' 모델은 등록되어 있지 않습니다. 가까운 이름: {suggestions}. 어떤 모델을 쓸까요?",
        "en": "There is no model called '{detail}'. Closest names: {suggestions}. Which one should I use?",
    },
    "ask.model_task": {
        "ko": "{detail} 모델은 {task} 작업을 지원하지 않습니다. {task}에 맞는 모델(예: {suggestions})을 고르거나 작업을 바꿔 주세요.",
        "en": "{detail} does not do {task}. Pick a model for {task} (for example {suggestions}), or change the task.",
    },
    "ask.out_of_range": {
        "ko": "{detail} 값이 허용 범위({suggestions}) 밖입니다. 범위 안의 값을 알려주세요.",
        "en": "{detail} is outside the allowed range ({suggestions}). Please give a value in that range.",
    },
    "ask.not_whole": {"ko": "{detail}: 정수로 알려주세요.", "en": "{detail}: this needs a whole number."},
    "ask.url_unsupported": {
        "ko": "웹 주소({detail})에서는 데이터를 내려받을 수 없습니다. 파일을 업로드하거나 s3:// 주소를 알려주세요.",
        "en": "I can't download datasets from web addresses ({detail}). Upload the files, or give an s3:// URI.",
    },
    "ask.path_unsafe": {
        "ko": "'..'이 들어간 경로({detail})는 사용할 수 없습니다. 절대 경로나 업로드한 데이터셋 ID를 알려주세요.",
        "en": "Paths with '..' ({detail}) are not allowed. Give an absolute path or the id of an uploaded dataset.",
    },
    "ask.rejected": {
        "ko": "저는 이미지 모델 학습(분류, 객체 검출, 분할, 이상 탐지)만 도와드릴 수 있어요. 이미지로 무엇을 학습시키고 싶은지 알려주세요.",
        "en": "I can only set up training of vision models (classification, detection, segmentation, anomaly "
              "detection). Tell me what you want a model to recognise in your images.",
    },
    "ask.rejected_injection": {
        "ko": "메시지 안의 지시나 명령은 실행하지 않습니다. 저는 이미지 모델 학습 계획만 만들 수 있어요.",
        "en": "I don't follow instructions or run commands from messages; I only turn vision-training requests into "
              "a plan.",
    },
    # the plan's notes: where a default came from, which weights a job starts from
    "plan.cluster": {"en": "chosen for this cluster", "ko": "이 클러스터에 맞춰 고른 값"},
    "plan.size_own": {"en": "{model}'s own input size", "ko": "{model} 모델의 입력 크기"},
    "plan.size_own_images": {"en": "{model}'s own input size (your images are about {side} px)",
                             "ko": "{model} 모델의 입력 크기 (이미지는 약 {side} px)"},
    "plan.size_images": {"en": "from the dataset's images (about {side} px)",
                         "ko": "데이터셋 이미지 크기에 맞춤 (약 {side} px)"},
    "plan.size_smaller": {
        "en": "your images are about {side} px, under the {made_for} px {model} was made for: larger adds compute, "
              "not detail",
        "ko": "이미지가 약 {side} px로, {model} 모델의 {made_for} px보다 작습니다: 키워도 계산만 늘고 정보는 늘지 않습니다",
    },
    "plan.classes_differ": {"en": "you said {said} classes; the dataset has {found}: {names}",
                            "ko": "클래스가 {said}개라고 하셨지만 데이터셋에는 {found}개가 있습니다: {names}"},
    "plan.trials_rounded": {
        "en": "{asked} trials do not split evenly over the {grid} combinations of the listed values; the plan runs "
              "{trials}",
        "ko": "시도 {asked}회는 나열한 값의 조합 {grid}개로 고르게 나뉘지 않아 {trials}회로 계획했습니다",
    },
    "weights.continued": {
        "en": "job {job}'s training carried on: its last weights and optimizer state, on its data and settings, for "
              "{epochs} more epochs (the learning rate starts again from hyperparameters.learning_rate)",
        "ko": "작업 {job}의 학습을 이어서 합니다: 마지막 가중치와 옵티마이저 상태, 같은 데이터와 설정으로 {epochs} 에폭 더 "
              "(학습률은 hyperparameters.learning_rate부터 다시 시작)",
    },
    "weights.from_job": {"en": "job {job}'s best weights (its head too when the classes are the same)",
                         "ko": "작업 {job}의 최고 가중치 (클래스가 같으면 분류 헤드까지)"},
    "weights.scratch_asked": {"en": "from scratch, as you asked", "ko": "요청하신 대로 처음부터 학습"},
    "weights.script": {"en": "your script loads its own weights", "ko": "스크립트가 직접 가중치를 불러옵니다"},
    "weights.cached": {"en": "pretrained weights, cached: {origin}", "ko": "사전 학습 가중치 (저장된 것): {origin}"},
    "weights.download": {
        "en": "pretrained weights from {source}'s hub, downloaded once when the job starts and then cached",
        "ko": "{source} 허브의 사전 학습 가중치: 작업이 시작될 때 한 번 내려받아 저장합니다",
    },
    "weights.none": {
        "en": "from scratch: no weights cached for {model} and this platform does not download; an admin can add "
              "them with `visiontrain weights add FILE --model {model}`, or fetch them on a machine that can "
              "download with `visiontrain weights pull {model}`",
        "ko": "처음부터 학습: {model}의 저장된 가중치가 없고 이 플랫폼은 내려받지 않습니다. 관리자가 "
              "`visiontrain weights add FILE --model {model}` 로 추가하거나, 내려받을 수 있는 컴퓨터에서 "
              "`visiontrain weights pull {model}` 로 가져올 수 있습니다",
    },
    "weights.unpublished": {
        "en": "from scratch: {source} publishes no pretrained weights for {model}; an admin can add them with "
              "`visiontrain weights add FILE --model {model}`",
        "ko": "처음부터 학습: {source}에 {model}의 사전 학습 가중치가 없습니다. 관리자가 "
              "`visiontrain weights add FILE --model {model}` 로 추가할 수 있습니다",
    },
    # a job's progress, as its state changes
    "job.queued": {"en": "queued: waiting to be submitted to Ray", "ko": "대기열: Ray에 제출되기를 기다리는 중"},
    "job.submitting": {"en": "submitting to Ray ({workers} workers)", "ko": "Ray에 제출하는 중 (워커 {workers}개)"},
    "job.validating": {"en": "checking the dataset at {uri}", "ko": "데이터셋 {uri} 확인 중"},
    "job.preparing": {"en": "building {model} for {task}", "ko": "{task}용 {model} 모델 준비 중"},
    "job.training": {"en": "{workers} worker(s), {device}, {epochs} epochs",
                     "ko": "워커 {workers}개, {device}, 에폭 {epochs}회"},
    "job.searching": {
        "en": "searching {parameters} over {trials} trials, {concurrent} at a time ({scheduler}); each trial: "
              "{workers} worker(s), {device}, {epochs} epochs",
        "ko": "{parameters} 탐색: 시도 {trials}회, 동시에 {concurrent}개 ({scheduler}); 시도마다 워커 {workers}개, "
              "{device}, 에폭 {epochs}회",
    },
    "job.evaluating": {"en": "evaluating the best weights on the validation split",
                       "ko": "최고 가중치를 검증 데이터로 평가하는 중"},
    "job.exporting": {"en": "exporting to ONNX and checking it in onnxruntime",
                      "ko": "ONNX로 내보내고 onnxruntime으로 확인하는 중"},
    "job.reading_script": {"en": "reading the metrics the script printed", "ko": "스크립트가 출력한 지표를 읽는 중"},
    "job.script_done": {"en": "the script finished: {lines} metric lines read, {outputs} output file(s)",
                        "ko": "스크립트가 끝났습니다: 지표 {lines}줄, 출력 파일 {outputs}개"},
    "job.stopped_early": {"en": "stopped before it started", "ko": "시작하기 전에 중지했습니다"},
}


def say(key: str, language: str = "en", **values: Any) -> str:
    """The message ``key`` in ``language`` (English where it has no such language). A ``task``
    value is said by its name in that language."""
    texts = MESSAGES[key]
    if "task" in values and f"task.{values['task']}" in MESSAGES:
        values["task"] = MESSAGES[f"task.{values['task']}"].get(language, values["task"])
    return texts.get(language, texts["en"]).format(**values)


def said(key: str, **values: Any) -> dict:
    """``{"message": <English>, "text": {"key", "values"}}``: what a job's state and event records
    keep, so that readers can say it in their language (``values`` must be JSON)."""
    return {"message": say(key, "en", **values), "text": {"key": key, "values": values}}


def words(language: str) -> dict[str, str]:
    """The names (``task.*``, ``state.*``) in ``language``, for menus and labels."""
    return {k: v.get(language, v["en"]) for k, v in MESSAGES.items() if k.startswith(("task.", "state."))}


def in_language(record: dict, language: str) -> dict:
    """``record`` (a state, an event, a history entry) with its ``message`` said in ``language``,
    where it keeps the message's ``text`` (records written before it did keep their English)."""
    text = record.get("text")
    if language == "en" or not isinstance(text, dict) or text.get("key") not in MESSAGES:
        return record
    try:
        return {**record, "message": say(text["key"], language, **text.get("values", {}))}
    except (KeyError, IndexError, ValueError):  # values that do not fit this version's sentence
        return record
