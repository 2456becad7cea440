"""The offline parser: what one message says, read with patterns in Korean and English."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from serve_app.intent import _lexicon as lex
from serve_app.intent._classes import class_names, one_kind
from serve_app.intent._models import ModelMatch, find_models, model_tasks
from train_jobs.config import DATASET_ID

__all__ = ["Reading", "read_message"]

MAX_CHARS = 4000
NUM = rf"(\d+(?:\.\d+)?(?:e[-+]?\d+)?(?!\d|\.\d)|(?<![a-z가-힣])(?:{lex.NUMBER_WORD})(?![a-z]))"
_SET = r"\s*(?:수|횟수)?\s*(?:은|는|을|를|이|가|=|:|to|of|at|as)?\s*"
_KEYS = {
    "epochs": r"epochs?|에폭|에포크|에퍽|\bep\b|(?<=\d)eps?\b",
    "batch_size": r"batch[\s_-]*size|batch|\bbs\b|미니\s*배치|배치\s*(?:사이즈|크기)?",
    "learning_rate": r"learning[\s_-]*rate|\blr\b|학습\s*률|러닝\s*레이트|러닝레이트",
    "image_size": r"image[\s_-]*size|img[\s_-]*size|imgsz|input[\s_-]*size|resolution|이미지\s*(?:크기|사이즈|해상도)|"
                  r"입력\s*(?:크기|사이즈|해상도)|해상도|\bimg\b|이미지(?=\s*\d+\s*(?:px|픽셀)?\s*(?:[,.;)]|$))",
}
_NOT_A_SIZE = r"(?!\s*(?:[x×*]\s*\d|px\b|pixels?\b|픽셀))"  # "epochs at 224x224": 224 is the image's size
_ANY_KEY = "|".join(_KEYS.values()) + r"|gpus?|workers?|워커|classes|클래스"
_NEXT_IS_KEY = rf"(?!\s*(?:{_ANY_KEY}))"
HANGUL = re.compile(r"[가-힣]")


@dataclass
class Reading:
    """What one message states. Unset fields are None; ``problems`` are (code, detail) for questions."""
    language: str
    task: Optional[str] = None
    task_explicit: bool = False
    model: Optional[ModelMatch] = None
    instead_of: Optional[str] = None
    pretrained: Optional[bool] = None
    from_job: Optional[str] = None
    continue_training: bool = False
    try_on_images: Optional[str] = None
    command: Optional[str] = None
    about: Optional[str] = None
    models: Optional[list[str]] = None
    job: Optional[str] = None
    num_classes: Optional[int] = None
    class_names: Optional[list[str]] = None
    dataset_uri: Optional[str] = None
    dataset_format: Optional[str] = None
    hyper: dict = field(default_factory=dict)
    num_workers: Optional[int] = None
    use_gpu: Optional[bool] = None
    search: dict = field(default_factory=dict)
    num_trials: Optional[float] = None
    problems: list[tuple[str, str]] = field(default_factory=list)
    injection: bool = False
    off_topic: bool = False
    vision_signal: bool = False


def language_of(text: str) -> Optional[str]:
    ko = len(HANGUL.findall(text))
    en = len(re.findall(r"[A-Za-z]", text))
    if ko == 0 and en == 0:
        return None
    return "ko" if ko * 2.5 >= en * 0.5 else "en"


def _number(s: str) -> float:
    s = s.strip().lower()
    return float(lex.NUMBER_WORDS[s]) if s in lex.NUMBER_WORDS else float(s)


def _first(patterns: list[str], text: str) -> Optional[str]:
    for p in patterns:
        if m := re.search(p, text):
            return m.group(1)
    return None


def _drop_injection(text: str, reading: Reading) -> str:
    kept = []
    for clause in re.split(r"(?<=[.;!?\n])|(?=\b(?:and then|then|그리고 나서|그 다음)\b)", text):
        if lex.INJECTION.search(clause.lower()):
            reading.injection = True
        else:
            kept.append(clause)
    return "".join(kept)


def _take_dataset(text: str, reading: Reading) -> str:
    """Dataset references out of the text (so their digits and words are not read as anything else)."""
    refs = [
        (r"(?<![A-Za-z0-9])s3://[A-Za-z0-9][A-Za-z0-9.\-_]{1,62}(?:/[^\s'\"<>`|;,가-힣]*)?", "uri"),
        (r"(?<![A-Za-z0-9])" + DATASET_ID.pattern.strip("^$") + r"(?![0-9a-f])", "uri"),
        (r"(?<![A-Za-z0-9])(?:https?|gs|hdfs|ftp)://[^\s'\"<>가-힣]+", "url"),
        (r"(?<![\w:/.\-])(?:~|\.{1,2})?/[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)*/?", "path"),
    ]
    for pattern, kind in refs:
        for m in re.finditer(pattern, text):
            value = m.group().rstrip(".,)!?")
            if kind == "url":
                reading.problems.append(("url_unsupported", value))
            elif kind == "path" and ".." in value.split("/"):
                reading.problems.append(("path_unsafe", value))
            elif reading.dataset_uri is None:
                reading.dataset_uri = value
        text = re.sub(pattern, " ", text)
    if reading.dataset_uri is None and lex.UPLOADED.search(text.lower()):
        reading.dataset_uri = "uploaded:latest"
    for m in lex.DATASET_NAME.finditer(text):
        name = next(g for g in m.groups() if g).strip()
        if name.casefold() not in lex.NOT_DATASET_NAMES and not name.isdigit():
            reading.dataset_uri = reading.dataset_uri or f"name:{name}"
            text = text.replace(name, " ", 1)
    return text


_NICKNAME = re.compile(rf"\b(?:{'|'.join(sorted(lex.FAMILY_NICKNAMES, key=len, reverse=True))})(?=[\s_-]*[a-z]?\d|\b)")


def _normalise(text: str) -> str:
    low = text.lower()
    for ko, en in lex.HANGUL_NAMES.items():
        low = low.replace(ko, en)
    low = _NICKNAME.sub(lambda m: lex.FAMILY_NICKNAMES[m.group()], low)
    low = re.sub(r"([가-힣])([a-z0-9])", r"\1 \2", low)
    return re.sub(r"([a-z0-9%])([가-힣])", r"\1 \2", low)


NORMAL_OR_NOT = {"정상", "불량", "양품", "불량품", "ok", "ng", "good", "bad", "normal", "abnormal", "defective", "defect",
                 "anomaly", "anomalous", "pass", "fail"}


def _read_task(low: str, reading: Reading, model: Optional[ModelMatch], names: Optional[list[str]] = None) -> None:
    text = re.sub(r"(?:데이터|train|val|검증|학습)\s*(?:셋)?\s*분할|분할\s*비율", " ", low)
    strong: list[tuple[int, str]] = []
    for task, pattern in lex.TASK_STRONG.items():
        for m in re.finditer(pattern, text):
            strong.append((m.start(), task))
        text = re.sub(pattern, " ", text)
    weak = [task for task, pattern in lex.TASK_WEAK.items() if re.search(pattern, low)]
    boxes = re.search(r"bounding|bbox|box|박스|위치|locat|yolo|object\s+detect|객체\s*(?:검출|탐지)", low) is not None
    # kinds of defect named one by one ("cracks and potholes") are objects to find, not an inspection
    named = bool(names and len(names) >= 2 and not NORMAL_OR_NOT & {n.lower() for n in names})
    boxes = boxes or named
    if strong:
        tasks = [t for _, t in sorted(strong)]
        fits = [t for t in tasks if model and model.name and t in model_tasks(model.source, model.name)]
        task = fits[0] if fits and len(set(tasks)) > 1 else tasks[0]  # "분류 라인에서 ... 검출, yolov8s": the model's
        if task == "classification" and "segmentation" in tasks and re.search(r"pixel|픽셀", low):
            task = "segmentation"  # "every pixel assigned to one of these four categories"
        if set(tasks) == {"detection"} and "anomaly_detection" in weak and not boxes:
            task = "anomaly_detection"  # "불량 검출", "detect defects": inspection, not boxes
        reading.task, reading.task_explicit = task, True
    elif lex.ONE_CLASS.search(low):
        reading.task = "anomaly_detection"  # "we have photos of good cookies; alarm when one doesn't look like a normal one"
    elif model is None and weak:
        if named and "classification" in weak:
            reading.task = "classification"  # "sort fresh from cracked"
        elif boxes and "detection" in weak:
            reading.task = "detection"  # "dents, holes and rust patches ..., with boxes around each"
        else:
            reading.task = weak[0]


# "convnext_small, 224", "yolo11s-seg, 640, on my data": a number alone among the options, of the sizes
# images are trained at (not 128 or 256, as often a batch)
BARE_SIZE = r"(?:^|[,;:(]\s*)(224|299|320|384|416|448|512|640|768|800|960|1024|1280)\s*(?=[,;.)]|$)"


RANGE_OF_CLASSES = (r"(?:letters?|alphabet|알파벳|digits?|숫자)\s*(?:from\s+)?\b([a-z0-9])\s*(?:to|through|-|–|~|부터)\s*"
                    r"([a-z0-9])\b")


def _read_numbers(low: str, reading: Reading) -> None:
    for name, key in _KEYS.items():
        value = _first([rf"(?:{key}){_SET}{NUM}{_NOT_A_SIZE}", rf"{NUM}\s*(?:회|번|개|짜리)?\s*(?:{key})"], low)
        if value is not None:
            reading.hyper[name] = _number(value)
    if "epochs" not in reading.hyper and (v := _first([rf"{NUM}\s*(?:번|회)\s*(?:반복|학습|훈련|돌려)"], low)):
        reading.hyper["epochs"] = _number(v)
    if "image_size" not in reading.hyper:
        if m := re.search(r"\b(\d{2,4})\s*[x×*]\s*(\d{2,4})\b", low):
            reading.hyper["image_size"] = float(max(int(m[1]), int(m[2])))
        elif v := _first([r"(\d{2,4})\s*(?:px|pixels?|픽셀)", BARE_SIZE], low):
            reading.hyper["image_size"] = float(v)
    gpus = _first([rf"{NUM}\s*(?:개의|장의|개|장|대|x)?\s*(?:gpus?|그래픽\s*카드)",
                   rf"gpus?\s*(?:는|은|를|을|=|:|x)?\s*{NUM}\s*(?:개|장|대)?{_NEXT_IS_KEY}(?!\s*(?:epoch|에폭|배치))"], low)
    workers = _first([rf"{NUM}\s*(?:개의|개|대의|대)?\s*(?:workers?|워커|노드|nodes?)",
                      rf"(?:workers?|워커|노드|nodes?)\s*(?:는|은|를|을|=|:)?\s*{NUM}"], low)
    if re.search(r"cpu\s*(?:only|만|로만)|only\s+(?:on\s+)?cpu|cpu\s+(?:is|will\s+be)\s+(?:fine|ok(?:ay)?|enough)|"
                 r"cpu\s+(?:works|will\s+do)|just\s+(?:a\s+|the\s+)?cpu|(?:^|[,;:]\s*)cpu\s*(?=[,;.]|$)|without\s+(?:a\s+)?gpu|no\s+gpu|gpu\s*(?:는|를|가)?\s*(?:없이|없어|없습|없음|없는)|"
                 r"gpu\s*(?:는|를)?\s*(?:안|쓰지|사용하지)|cpu\s*(?:로|에서)|(?:on|using|with|use)\s+(?:the\s+|a\s+|my\s+)?"
                 r"(?:\d+\s+)?cpus?\b|cpus?\s*(?:워커|workers?|노드|nodes?)", low):
        reading.use_gpu = False
    elif gpus is not None:
        reading.use_gpu = True
        reading.num_workers = int(_number(gpus))
    elif re.search(r"gpu", low):
        reading.use_gpu = True
    if workers is not None:
        reading.num_workers = int(_number(workers))
    count = _first([
        rf"{NUM}\s*(?:개의|가지의?|종류의|개)?\s*(?:classes|class|클래스|카테고리|categories|labels|레이블|라벨)",
        rf"(?:classes|class|클래스|카테고리|categories)\s*(?:는|은|수|개수|count)?\s*(?:=|:|of)?\s*{NUM}\s*(?:개|가지)?",
        rf"{NUM}\s*(?:가지|종류|종|단계|등급)(?![a-z가-힣]*(?:gpu|워커))",
        rf"{NUM}[\s-]+(?:different\s+)?(?:[a-z]+\s+){{0,2}}(?:kinds|types|sorts|breeds|species|categories|varieties|classes|stages|grades|levels)\b",
        rf"{NUM}-class",
        rf"\b(?:classify|recogni[sz]e|distinguish|identify)\s+(?:between\s+|among\s+)?{NUM}\s+(?:[a-z]+\s+)?"
        rf"(?!(?:images|photos|pictures|pics|samples|files|frames|scans|slides|crops|tiles|epochs)\b)[a-z]{{2,}}s\b",
        rf"{NUM}\s*개\s*(?:를|을|로)?\s*(?:분류|구분|판별|인식)",
        rf"(?:품종|종류|범주|카테고리)\s*{NUM}\s*(?:개|가지|종)",  # "강아지 품종 12개를"
    ], low)
    if count is None and (m := re.search(RANGE_OF_CLASSES, low)):  # "letters a to z", "숫자 0부터 9까지"
        count = str(abs(ord(m[2]) - ord(m[1])) + 1)
    if count is not None:
        reading.num_classes = int(_number(count))
        if re.search(rf"(?:{NUM}\s*(?:가지|종류|종)\S*\s*(?:과|와|하고|이랑|랑|및)|\b(?:kinds|types|sorts|classes)\b[^,.;]*?"
                     rf"\s(?:and|plus|or)(?:\s+(?:a|the))?)\s*(?:정상|양품|배경|normal|healthy|background|good|none)", low):
            reading.num_classes += 1  # "병해 4종과 정상", "4 kinds of disease and healthy": one more


_SEARCHED = {"learning_rate": _KEYS["learning_rate"], "weight_decay": r"weight[\s_-]*decay|\bwd\b|가중치\s*감쇠",
             "batch_size": _KEYS["batch_size"]}
_LOG_SCALE = ("learning_rate", "weight_decay")


def _read_search(low: str, reading: Reading, models: list[ModelMatch]) -> str:
    """A search: ranges ("lr between 1e-4 and 1e-2", "학습률 1e-4에서 1e-2 사이"), value lists when a
    search is asked for ("lr 1e-3, 1e-2 or 1e-1"), two or more models to pick from, a trial count.
    What it reads is blanked out, so that it is not also read as a fixed value."""
    asked = bool(lex.SEARCH_WORDS.search(low))
    for name, key in _SEARCHED.items():
        between = rf"(?:{key})\s*(?:을|를|은|는|:|=)?\s*(?:between|from|in the range(?: of)?|범위)?\s*{NUM}\s*" \
                  rf"(?:에서|부터|~|to|and|–)\s*{NUM}"
        listed = rf"(?:{key})\s*(?:을|를|은|는|:|=|in|of|among)?\s*{NUM}(?:\s*(?:,|or|and|/|또는|이나)\s*{NUM}(?![\d.]))+"
        if m := re.search(between, low):
            a, b = sorted((_number(m[1]), _number(m[2])))
            log = name in _LOG_SCALE or b / max(a, 1e-12) >= 4
            reading.search[name] = {"low": a, "high": b, "log": log} if a < b else {"values": [a]}
        elif asked and (m := re.search(listed, low)):
            reading.search[name] = {"values": sorted({_number(v) for v in re.findall(NUM, m[0])})}
        else:
            continue
        low = low[:m.start()] + " " * (m.end() - m.start()) + low[m.end():]
    named = list(dict.fromkeys((m.source, m.name) for m in models if m.name))
    if len(named) >= 2 and len({s for s, _ in named}) == 1 and (asked or lex.CHOICE_WORDS.search(low)):
        reading.search["model"] = {"values": [n for _, n in named]}
    words = r"trials?|runs?|탐색|시도|실험|조합|configurations?"
    count = rf"{NUM}\s*(?:번|회|개|가지)?\s*(?:의\s*)?(?:{words})|(?:trials?|시도|탐색)\s*(?:수|횟수)?\s*(?:은|는|=|:)?\s*{NUM}"
    if (asked or reading.search) and (m := re.search(count, low)):
        reading.num_trials = _number(m[1] or m[2])
        low = low[:m.start()] + " " * (m.end() - m.start()) + low[m.end():]
    return low


def _take_job(text: str, reading: Reading) -> str:
    """An earlier job to start from, taken out of the text (an id is not a model or a class); "N more
    epochs" carries on the training of that job (the newest unless one is named)."""
    more = lex.MORE_EPOCHS.search(text.lower())
    if more:
        reading.continue_training, reading.from_job = True, "latest"
        reading.hyper["epochs"] = float(next(g for g in more.groups() if g))
        text = text[:more.start()] + " " + text[more.end():]
    found = lex.JOB_ID.search(text)
    if found:
        reading.from_job = found.group(1) or found.group(2)
        return text[:found.start()] + " " + text[found.end():]
    found = lex.LAST_JOB.search(text.lower())
    if found:
        reading.from_job = "latest"
        rest = text[found.end():]
        return text[:found.start()] + " " + rest[lex.JOB_PHRASE_END.match(rest).end():]
    return text


def _read_architecture(low: str, reading: Reading) -> tuple[str, Optional[ModelMatch]]:
    """An architecture the platform does not have ("DeepLabV3+", "Mask R-CNN"): the closest model it
    has, taken out of the text; the plan says which was named."""
    for pattern, (source, name) in lex.ARCHITECTURES.items():
        if m := re.search(pattern, low):
            reading.instead_of = m.group().strip()
            return low[:m.start()] + " " * (m.end() - m.start()) + low[m.end():], \
                ModelMatch(m.group(), source, name, start=m.start(), end=m.end())
    return low, None


def _read_question(low: str, reading: Reading, models: list) -> None:
    """A question about the models named ("yolov8n이랑 yolov8s 차이가 뭐야?") or which model to use ("어떤
    모델이 좋을까?"), unless the message names data to train on (then the plan answers it)."""
    if reading.dataset_uri or reading.continue_training or reading.try_on_images or reading.from_job:
        return
    named = list(dict.fromkeys(f"{m.source}/{m.name}" for m in models if m.name))
    asked = "?" in low or not reading.task_explicit  # "compare X and Y for classifying defects": a search to run
    cues = [m.group() for m in lex.MODEL_QUESTION.finditer(low)]
    if len(named) < 2:  # "lane lines versus background, segformer", "fake vs real notes? efficientnet_b0": classes
        cues = [c for c in cues if not c.startswith(("vs", "versus"))]
    if named and asked and cues:
        reading.command, reading.models = "models", named[:4]
    elif not named and lex.RECOMMEND.search(low):
        reading.command = "recommend"
    if reading.command:
        reading.model, reading.search, reading.hyper = None, {}, {}
        reading.class_names = reading.num_classes = None


def _read_command(low: str, reading: Reading) -> None:
    """A command on a job ("멈춰줘", "how is my model doing?", "왜 배치 32야?"; the job named, if one is), unless
    the message asks for a training of its own (a task said outright, a model, a dataset) or carries one on."""
    if reading.command or reading.task_explicit or reading.model or reading.dataset_uri or reading.continue_training \
            or reading.try_on_images or (reading.task and len(low.split()) > 25):  # a description, not a command
        return
    if lex.WHY.search(low):
        reading.command = "explain"
        reading.about = next((f for f, pattern in lex.PLAN_FIELDS.items() if re.search(pattern, low)), None)
    else:
        reading.command = next((name for name, pattern in lex.COMMANDS.items() if re.search(pattern, low)), None)
    if reading.command:
        reading.hyper.clear()  # "왜 배치 32야?" asks about 32, it does not set it
        reading.job, reading.from_job = reading.from_job, None
        reading.class_names = reading.num_classes = None


def _read_format(low: str, reading: Reading) -> str:
    for fmt, pattern in lex.FORMAT_WORDS.items():
        if re.search(pattern, low):
            reading.dataset_format = reading.dataset_format or fmt
            low = re.sub(pattern, " ", low)
    return low


def read_message(message: str) -> Reading:
    reading = Reading(language="en")
    text = _drop_injection(message[:MAX_CHARS], reading)
    text = _take_dataset(text, reading)
    text = _take_job(text, reading)
    text = re.sub(r"[A-Za-z]{3,}", lambda m: lex.TYPOS.get(m.group().lower(), m.group()), text)  # "clasify"
    if lex.TRY_ON_IMAGES.search(text.lower()):  # the model of the job named (or the newest) on attached images
        reading.try_on_images = reading.from_job or "latest"
        reading.from_job, reading.continue_training = None, False
    reading.language = language_of(text) or language_of(message) or "en"
    low = _read_format(_normalise(text), reading)
    low, closest = _read_architecture(low, reading)
    models = ([closest] if closest else []) + find_models(low)
    for m in models:
        low = low[:m.start] + " " * (m.end - m.start) + low[m.end:]
    reading.model = next((m for m in models if m.name), models[0] if models else None)
    names = class_names(lex.WEIGHTS_PHRASE.sub(" ", text), [m.text for m in models])
    _read_task(low, reading, reading.model if reading.model and reading.model.name else None, names)
    low = _read_search(low, reading, models)
    _read_numbers(low, reading)
    reading.pretrained = False if lex.SCRATCH.search(low) else True if lex.PRETRAINED.search(low) else None
    boxes_model = reading.task is None and reading.model is not None and reading.model.source == "ultralytics" \
        and not (reading.model.name or "").endswith("-cls")  # the model says the task
    if not names and (reading.task in ("detection", "segmentation") or boxes_model) and (reading.num_classes or 1) == 1:
        kind = one_kind(lex.WEIGHTS_PHRASE.sub(" ", text))
        names = [kind] if kind else None
    if reading.task == "anomaly_detection":
        names = None  # it learns "normal" from normal images: the words around it name no classes
    if names and reading.num_classes and len(names) < reading.num_classes:
        names = None  # "4 kinds of leaf disease and healthy ones": the words name groups, not the classes
    if names:
        reading.class_names = names
        reading.num_classes = reading.num_classes or len(names)
    _read_question(low, reading, models)
    _read_command(low, reading)
    reading.off_topic = bool(lex.OFF_TOPIC.search(low)) and not lex.VISION_WORDS.search(low)
    reading.vision_signal = bool(
        reading.task_explicit or reading.model or reading.dataset_uri or reading.hyper or reading.num_workers
        or reading.search or reading.pretrained is not None or reading.from_job or reading.continue_training
        or reading.try_on_images or reading.command
        or reading.use_gpu is not None or reading.num_classes or reading.dataset_format
        or lex.VISION_WORDS.search(low) or re.search(lex.TASK_WEAK["anomaly_detection"], low)
        or (reading.task and lex.TRAIN_WORDS.search(low))
    )
    return reading
