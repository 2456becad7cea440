"""What the parser asks or explains, in the user's language."""
from __future__ import annotations

__all__ = ["say"]

_TEXT = {
    "dataset": {
        "ko": "학습에 사용할 데이터셋을 업로드하거나 위치(s3:// 주소, 폴더 경로 또는 데이터셋 ID)를 알려주세요.",
        "en": "Which dataset should I train on? Upload one, or give its location (an s3:// URI, a folder path or a dataset id).",
    },
    "task": {
        "ko": "어떤 작업을 원하시나요? 분류, 객체 검출, 분할(세그멘테이션), 이상 탐지 중에서 알려주세요.",
        "en": "What should the model do: classification, object detection, segmentation or anomaly detection?",
    },
    "model_unknown": {
        "ko": "'{detail}' 모델은 등록되어 있지 않습니다. 가까운 이름: {suggestions}. 어떤 모델을 쓸까요?",
        "en": "There is no model called '{detail}'. Closest names: {suggestions}. Which one should I use?",
    },
    "model_task": {
        "ko": "{detail} 모델은 {task} 작업을 지원하지 않습니다. {task}에 맞는 모델(예: {suggestions})을 고르거나 작업을 바꿔 주세요.",
        "en": "{detail} does not do {task}. Pick a model for {task} (for example {suggestions}), or change the task.",
    },
    "out_of_range": {
        "ko": "{detail} 값이 허용 범위({suggestions}) 밖입니다. 범위 안의 값을 알려주세요.",
        "en": "{detail} is outside the allowed range ({suggestions}). Please give a value in that range.",
    },
    "not_whole": {
        "ko": "{detail}: 정수로 알려주세요.",
        "en": "{detail}: this needs a whole number.",
    },
    "url_unsupported": {
        "ko": "웹 주소({detail})에서는 데이터를 내려받을 수 없습니다. 파일을 업로드하거나 s3:// 주소를 알려주세요.",
        "en": "I can't download datasets from web addresses ({detail}). Upload the files, or give an s3:// URI.",
    },
    "path_unsafe": {
        "ko": "'..'이 들어간 경로({detail})는 사용할 수 없습니다. 절대 경로나 업로드한 데이터셋 ID를 알려주세요.",
        "en": "Paths with '..' ({detail}) are not allowed. Give an absolute path or the id of an uploaded dataset.",
    },
    "rejected": {
        "ko": "저는 이미지 모델 학습(분류, 객체 검출, 분할, 이상 탐지)만 도와드릴 수 있어요. 이미지로 무엇을 학습시키고 싶은지 알려주세요.",
        "en": "I can only set up training of vision models (classification, detection, segmentation, anomaly detection). "
              "Tell me what you want a model to recognise in your images.",
    },
    "rejected_injection": {
        "ko": "메시지 안의 지시나 명령은 실행하지 않습니다. 저는 이미지 모델 학습 계획만 만들 수 있어요.",
        "en": "I don't follow instructions or run commands from messages; I only turn vision-training requests into a plan.",
    },
}
TASK_NAMES = {
    "ko": {"classification": "분류", "detection": "객체 검출", "segmentation": "분할", "anomaly_detection": "이상 탐지"},
    "en": {"classification": "classification", "detection": "detection", "segmentation": "segmentation",
           "anomaly_detection": "anomaly detection"},
}


def say(key: str, language: str, detail: str = "", suggestions: list[str] | str = "", task: str = "") -> str:
    if isinstance(suggestions, list):
        suggestions = ", ".join(suggestions) or "-"
    task_name = TASK_NAMES[language].get(task, task)
    return _TEXT[key][language].format(detail=detail, suggestions=suggestions, task=task_name)
