"""A conversation's intent: each message's reading merged over what was said before, range-checked,
then the fields still missing and the questions that ask for them."""
from __future__ import annotations

from typing import Any, Iterable, Optional, get_args

from serve_app.intent._models import SUGGESTED, ModelMatch, find_models, model_tasks, task_variant
from serve_app.intent._offline import Reading, language_of, read_message
from serve_app.intent._schema import LIMITS, DatasetMention, Intent, ModelMention, ParseResult, SearchMention
from train_jobs.config import Hyperparameters
from visiontrain.messages import say

__all__ = ["apply_reading", "finish", "history_state", "parse_offline"]

_PROBLEM_FIELD = {"url_unsupported": "dataset", "path_unsafe": "dataset", "model_unknown": "model", "model_task": "model"}


def _in_range(name: str, value: float, problems: list) -> Optional[float]:
    low, high = LIMITS[name]
    integral = name not in ("learning_rate", "weight_decay")
    if integral and not float(value).is_integer():
        problems.append(("not_whole", f"{name}={value:g}", ""))
        return None
    if not low <= value <= high:
        problems.append(("out_of_range", f"{name}={value:g}", f"{low:g}–{high:g}"))
        return None
    return int(value) if integral else float(value)


def apply_reading(base: Intent, r: Reading) -> tuple[Intent, list[tuple]]:
    """``base`` updated with what ``r`` states; problems are (code, detail, suggestions[, task])."""
    intent = base.model_copy(deep=True)
    # this message's request alone: not carried on
    intent.try_on_images, intent.command, intent.job, intent.about = r.try_on_images, r.command, r.job, r.about
    intent.models = r.models
    problems: list[tuple] = [(code, detail, "") for code, detail in r.problems]
    if r.task:
        intent.task = r.task
    if r.model is not None:
        m: ModelMatch = r.model
        if m.name is None:
            problems.append(("model_unknown", m.text, m.suggestions))
            intent.model = None
        else:
            intent.model = ModelMention(source=m.source, name=m.name,
                                        instead_of=r.instead_of if r.instead_of == m.text.strip() else None)
    if intent.model is not None:
        source, name = intent.model.source, intent.model.name
        tasks = model_tasks(source, name)
        if intent.task is None:
            intent.task = tasks[0] if tasks else None  # an adapter lists a model's main task first
        elif (variant := task_variant(source, name, intent.task)) is not None:
            intent.model = ModelMention(source=source, name=variant, instead_of=intent.model.instead_of)
        elif r.model is not None and r.model.name and not r.task_explicit and tasks:
            intent.task = tasks[0]  # "use yolo11s instead": the new model brings its task along
        elif r.model is not None and r.model.name:
            offered = SUGGESTED.get(intent.task, ()) + (SUGGESTED["instance_segmentation"][:1] if intent.task == "segmentation"
                                                        else ())
            problems.append(("model_task", name, [m.split("/", 1)[1] for m in offered], intent.task))
            intent.model = None
        else:
            intent.model = None  # the task changed and the earlier model cannot do it: the plan picks one
    if r.pretrained is not None:
        intent.pretrained = r.pretrained
    if r.from_job is not None:
        intent.from_job, intent.continue_training = r.from_job, r.continue_training or None
    if r.class_names:
        intent.class_names = [n[:40] for n in r.class_names[:1000]]
        intent.num_classes = len(intent.class_names)
    if r.num_classes is not None:
        count = _in_range("num_classes", r.num_classes, problems)
        if count is not None:
            intent.num_classes = count
            if intent.class_names and len(intent.class_names) != count and not r.class_names:
                intent.class_names = None
    if r.dataset_uri or r.dataset_format:
        ds = intent.dataset or DatasetMention()
        intent.dataset = DatasetMention(uri=r.dataset_uri or ds.uri, format=r.dataset_format or ds.format)
    for name, value in r.hyper.items():
        if (v := _in_range(name, value, problems)) is not None:
            setattr(intent.hyperparameters, name, v)
    if r.num_workers is not None and (v := _in_range("num_workers", r.num_workers, problems)) is not None:
        intent.resources.num_workers = v
    if r.use_gpu is not None:
        intent.resources.use_gpu = r.use_gpu
    _apply_search(intent, r, problems)
    return intent, problems


def _model_name(text: str, problems: list) -> Optional[str]:
    found = find_models(text.lower()[:100])
    if not found or not found[0].name:
        problems.append(("model_unknown", text[:100], found[0].suggestions if found else []))
        return None
    return found[0].name


def _searched(name: str, value: object, problems: list) -> object:
    """One searched value checked like a stated one (None, with a problem, when it cannot be used)."""
    if name == "model":
        return _model_name(str(value), problems)
    if name == "optimizer":
        choices = get_args(Hyperparameters.model_fields["optimizer"].annotation)
        if value in choices:
            return value
        problems.append(("out_of_range", f"optimizer={value}", ", ".join(choices)))
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(("out_of_range", f"{name}={value}", "a number"))
        return None
    return _in_range(name, value, problems)


def _apply_search(intent: Intent, r: Reading, problems: list) -> None:
    """Searched values (each range-checked like a stated value) and the trial count, over what was said before."""
    if not r.search and r.num_trials is None:
        return
    search = (intent.search or SearchMention()).model_dump(exclude_none=True)
    for name, spec in r.search.items():
        bounds = [_searched(name, v, problems) for v in spec.get("values") or (spec["low"], spec["high"])]
        if None not in bounds:
            search["parameters"][name] = {**spec, "values": bounds} if "values" in spec else spec
    if r.num_trials is not None and (n := _in_range("num_trials", r.num_trials, problems)) is not None:
        search["num_trials"] = n
    if search["parameters"]:
        intent.search = SearchMention.model_validate(search)
        if "model" in search["parameters"] and intent.model is None and r.model is not None and r.model.name:
            intent.model = ModelMention(source=r.model.source, name=r.model.name)


def ask(key: str, language: str, detail: str = "", suggestions: list[str] | str = "", task: str = "") -> str:
    """The question (or refusal) ``key`` in the user's language."""
    if isinstance(suggestions, list):
        suggestions = ", ".join(suggestions) or "-"
    return say(f"ask.{key}", language, detail=detail, suggestions=suggestions, task=task)


def finish(intent: Intent, language: str, problems: list[tuple]) -> ParseResult:
    if intent.try_on_images or intent.command:  # nothing to train: the plan so far waits
        return ParseResult(status="complete", language=language, intent=intent)
    missing = []
    if intent.task is None and not intent.from_job:  # an earlier job brings its task
        missing.append("task")
    if (intent.dataset is None or not intent.dataset.uri) and not intent.continue_training:  # the job's data
        missing.append("dataset")
    asked = set()
    questions = []
    for code, detail, suggestions, *task in problems:
        questions.append(ask(code, language, detail, suggestions, *(task or [""])))
        asked.add(_PROBLEM_FIELD.get(code, detail.split("=")[0]))
        if _PROBLEM_FIELD.get(code) == "model" and "model" not in missing:
            missing.append("model")
    questions += [ask(f, language) for f in missing if f not in asked and f in ("task", "dataset")]
    status = "complete" if not missing and not problems else "needs_clarification"
    return ParseResult(status=status, language=language, intent=intent, missing=missing, questions=questions)


def _text_of(item: Any) -> Optional[str]:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and item.get("role", "user") == "user" and isinstance(item.get("content"), str):
        return item["content"]
    return None


def history_state(history: Optional[Iterable[Any]]) -> tuple[Intent, Optional[str]]:
    """The intent so far and the last language used. Items: user messages (str or
    ``{"role": "user", "content": ...}``; other roles are skipped) or earlier ParseResults (taken as they are)."""
    intent, language = Intent(), None
    for item in history or []:
        if isinstance(item, ParseResult) or (isinstance(item, dict) and "intent" in item):
            result = item if isinstance(item, ParseResult) else ParseResult.model_validate(item)
            if result.status != "rejected":  # a request to try a model was that message's alone
                intent, language = result.intent.model_copy(update={"try_on_images": None, "command": None, "job": None,
                                                                    "about": None, "models": None}), result.language
        elif (text := _text_of(item)) is not None:
            reading = read_message(text)
            if reading.vision_signal and not reading.off_topic:
                intent, _ = apply_reading(intent, reading)
            language = language_of(text) or language
    return intent, language


def rejection(reading: Reading, has_history: bool) -> Optional[str]:
    if reading.off_topic and not (reading.model or reading.dataset_uri):
        return "rejected"
    if not reading.vision_signal and (reading.injection or not has_history):
        return "rejected_injection" if reading.injection else "rejected"
    return None


def parse_offline(message: str, history: Optional[list] = None) -> ParseResult:
    base, history_language = history_state(history)
    reading = read_message(message)
    language = reading.language if language_of(message) else history_language or "en"
    has_history = base != Intent()
    if (reason := rejection(reading, has_history)) is not None:
        return ParseResult(status="rejected", language=language, intent=base, questions=[ask(reason, language)])
    intent, problems = apply_reading(base, reading)
    return finish(intent, language, problems)
