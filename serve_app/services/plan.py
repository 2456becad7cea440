"""From what a user said (a complete ParseResult) or wrote (a TrainingConfig) to what the
platform will run: the full config, with the platform's rules applied and defaults marked.

Rules for configs that come through the API: the job belongs to the caller, gets an id the
server makes, and writes to the platform's storage; a dataset is one the caller uploaded
(``ds-...``, or ``uploaded:latest``) or an ``s3://`` folder under a prefix the admins allow
(``VISIONTRAIN_USER_S3_PREFIXES``; admins may name any but the platform's own storage);
server paths (datasets, weights, scripts) are for admins only.
"""
from __future__ import annotations

import math
import re
import secrets
from typing import Callable, Optional

import yaml

from adapters import get_adapter
from serve_app.intent import ParseResult, singular
from serve_app.services.advice import recommend
from serve_app.services.records import Records
from train_jobs.config import DATASET_ID, ConfigError, TrainingConfig, config_from_dict
from train_jobs.state import JobFolder
from train_jobs.store import StoreError, open_store, split_s3_uri
from train_jobs.weights import WeightsCache, how_to_add, may_download
from visiontrain.errors import VisiontrainError
from visiontrain.messages import say
from visiontrain.settings import settings as env_settings

__all__ = ["AdminOnly", "PlanError", "dataset_report", "make_plan", "platform_config", "resolve_dataset", "succeeded_job", "visible"]

DEFAULTED = ("hyperparameters", "augmentation", "resources", "early_stopping")


class PlanError(VisiontrainError, ValueError):
    """What the platform will not run for this user, and what to do instead."""


class AdminOnly(PlanError):
    """A feature only admins may use (server paths, own scripts)."""


def user_s3_prefixes() -> list[str]:
    """The s3:// folders non-admins may train from (``VISIONTRAIN_USER_S3_PREFIXES``, comma-separated)."""
    return [p.strip() for p in env_settings().user_s3_prefixes.split(",") if p.strip()]


def _s3_folder(uri: str) -> tuple[str, str]:
    try:
        bucket, prefix = split_s3_uri(uri)
    except StoreError as exc:
        raise PlanError(str(exc)) from None
    return bucket, prefix + "/" if prefix else ""


def _within(inner: tuple[str, str], outer: tuple[str, str]) -> bool:
    return inner[0] == outer[0] and inner[1].startswith(outer[1])


def _s3_dataset(uri: str, user: dict, storage_uri: str) -> str:
    """An s3:// dataset folder the user may read: never the platform's own storage (nor a folder
    holding it), and for non-admins only inside an allowed prefix."""
    folder = _s3_folder(uri)
    if storage_uri.startswith("s3://"):
        storage = _s3_folder(storage_uri)
        if _within(folder, storage) or _within(storage, folder):
            raise PlanError(f"{uri} is inside the platform's own storage (or holds it); a stored dataset is used by "
                            "its id: GET /v1/datasets lists yours")
    if user["role"] == "admin":
        return uri
    allowed = user_s3_prefixes()
    if not any(_within(folder, _s3_folder(p)) for p in allowed):
        raise AdminOnly(f"{uri} is not under an s3:// prefix you may read ("
                        + (", ".join(allowed) if allowed else "none are allowed on this platform")
                        + "); upload the dataset (POST /v1/datasets) and use its id, or ask an admin to add the "
                          "prefix to VISIONTRAIN_USER_S3_PREFIXES")
    return uri


def _named(name: str, mine: list[dict]) -> str:
    """The newest of the user's datasets called ``name`` (in any case)."""
    found = [d for d in mine if d["name"].casefold() == name.casefold()]
    if not found:
        names = ", ".join(dict.fromkeys(d["name"] for d in mine[:20])) or "none yet"
        raise PlanError(f"you have no dataset named {name!r} (yours: {names}); name one of yours, give its id "
                        "(GET /v1/datasets lists them), or upload it")
    return found[0]["dataset_id"]


def resolve_dataset(uri: str, user: dict, records: Records, storage_uri: str) -> str:
    """A dataset as the user named it: its id, ``uploaded:latest``, ``name:NAME`` (or a bare name), an
    s3:// folder, or (admins) a folder on the server."""
    if uri == "uploaded:latest":
        mine = records.list_datasets(user["username"])
        if not mine:
            raise PlanError("you have not uploaded a dataset yet: upload one (POST /v1/datasets, or "
                            "`visiontrain datasets upload`), or give an s3:// location")
        return mine[0]["dataset_id"]
    if uri.startswith("name:") or not (DATASET_ID.match(uri) or "/" in uri or "\\" in uri):
        return _named(uri.removeprefix("name:"), records.list_datasets(user["username"]))
    if DATASET_ID.match(uri):
        if user["role"] != "admin" and records.get_dataset(uri, user["username"]) is None:
            raise PlanError(f"no dataset {uri} among yours; GET /v1/datasets lists what you uploaded")
        return uri
    if uri.startswith("s3://"):
        return _s3_dataset(uri, user, storage_uri)
    if user["role"] == "admin":
        return uri
    raise AdminOnly(f"{uri!r} is a path on the server, which only admins may use; upload the dataset "
                    "(POST /v1/datasets) and use its id, or give an s3:// location")


def platform_config(data: dict, user: dict, records: Records, storage_uri: str,
                    keep_job_id: bool = False) -> TrainingConfig:
    """A TrainingConfig from the API, owned by ``user`` and stored where the platform stores. Its
    job id is a new one the server makes, unless ``keep_job_id`` (a plan the server made, or an admin's
    config): a user can never name, and so never reach, another job's folder."""
    if not isinstance(data, dict):
        raise ConfigError("config: expected a mapping of TrainingConfig fields")
    data = {**data, "owner": user["username"], "storage": {"uri": storage_uri}}
    if not (keep_job_id and data.get("job_id")):
        data["job_id"] = _new_job_id(str(data.get("task", "job")))
    if user["role"] != "admin":
        if data.get("script"):
            raise AdminOnly("script: running your own training script is for admins for now; use a built-in task")
        if (data.get("model") or {}).get("weights"):
            raise AdminOnly("model.weights: a weights file on the server is for admins; leave it out to train "
                            "from scratch")
    data = _from_job(data, user, records, storage_uri)
    dataset = data.get("dataset")
    if isinstance(dataset, dict) and isinstance(dataset.get("uri"), str):
        data["dataset"] = {**dataset, "uri": resolve_dataset(dataset["uri"], user, records, storage_uri)}
    return config_from_dict(data, source="config")


def succeeded_job(ref: str, user: dict, records: Records, task: Optional[str] = None,
                  what_for: str = "yet; train one first") -> dict:
    """One of the user's succeeded jobs: ``latest`` (their newest, of ``task`` when given), or one by id
    that they may see."""
    if ref == "latest":
        done = [j for j in records.list_jobs(user["username"]) if j["state"] == "succeeded"
                and (not task or j["task"] == task)]
        if not done:
            raise PlanError(f"you have no succeeded job {what_for}")
        return done[0]
    record = records.get_job(ref)
    if not visible(record, user):
        raise PlanError(f"no job {ref} of yours; GET /v1/jobs (or `visiontrain jobs`) lists them")
    if record["state"] != "succeeded":
        raise PlanError(f"job {record['job_id']} is {record['state']}: only a succeeded job's model can be used")
    return record


def _from_job(data: dict, user: dict, records: Records, storage_uri: str) -> dict:
    """A model that starts from one of the user's succeeded jobs (``latest``: their newest) is that
    job's model, for that job's task; continuing its training also takes its data and settings
    (what ``data`` states wins)."""
    model = data.get("model") if isinstance(data.get("model"), dict) else {}
    ref = model.get("from_job")
    if not ref:
        return data
    record = succeeded_job(str(ref), user, records, data.get("task"), "to continue from; train one first, or "
                                                                       "leave the earlier model out")
    if data.get("task") and data["task"] != record["task"]:
        raise PlanError(f"job {record['job_id']} trained {record['task']}, not {data['task']}: pick a "
                        f"{data['task']} job, or ask for {record['task']}")
    source, _, name = record["model"].partition("/")
    model = {**model, "source": source, "name": name, "from_job": record["job_id"], "pretrained": False}
    if not model.get("continue_training"):
        return {**data, "task": record["task"], "model": model}
    job = JobFolder(open_store(storage_uri), record["job_id"])
    earlier = yaml.safe_load(job.store.read_text(job.key("config.yaml")))
    carried = {k: v for k, v in earlier.items() if k not in ("job_id", "owner", "storage", "search", "model")}
    for section, stated in data.items():
        if isinstance(stated, dict) and isinstance(carried.get(section), dict):
            carried[section] = {**carried[section], **{k: v for k, v in stated.items() if v not in (None, {})}}
        elif stated not in (None, {}):
            carried[section] = stated
    return {**carried, "task": record["task"], "model": {**earlier["model"], **model, "weights": None,
                                                         "freeze_backbone_epochs": model.get("freeze_backbone_epochs", 0)}}


def make_plan(result: ParseResult, user: dict, records: Records, storage_uri: str,
              cluster: Optional[dict] = None, publishes: Callable[[str, str], bool] = lambda source, name: False) -> dict:
    """``{"config": <full TrainingConfig>, "defaults": [field paths the user did not state],
    "notes": {field path: where a default came from}, "warnings": [...]}``, notes and warnings in the
    user's language (``result.language``). ``publishes(source, name)``: whether the model's hub has
    pretrained weights (the model registry knows)."""
    it, lang = result.intent, result.language
    model = it.model.model_dump(exclude={"instead_of"}) if it.model else None
    chosen_model = None
    if it.from_job:  # the earlier job's model replaces this one (platform_config)
        model = {**(model or {"name": ""}), "from_job": it.from_job, "continue_training": bool(it.continue_training)}
    elif model is None and it.task:
        report = dataset_report(resolve_dataset(it.dataset.uri, user, records, storage_uri), storage_uri) \
            if it.dataset and it.dataset.uri else {}
        gpus = (cluster or {}).get("gpus", 0.0) if it.resources.use_gpu is not False else 0.0
        source, name, chosen_model = recommend(it.task, report, gpus, lang)
        model = {"source": source, "name": name}
    given: dict = {"task": it.task, "model": model,
                   "dataset": {k: v for k, v in (it.dataset.model_dump() if it.dataset else {}).items() if v}}
    if it.class_names:
        given["class_names"] = it.class_names
    for section in ("hyperparameters", "resources"):
        stated = {k: v for k, v in getattr(it, section).model_dump().items() if v is not None}
        if stated:
            given[section] = stated
    warnings: list[str] = []
    if it.search is not None:
        given["search"], warning = _search(it.search.model_dump(exclude_none=True), lang)
        warnings += [warning] if warning else []
    chosen = _resources(given.get("resources", {}), cluster)
    cfg = platform_config({**given, "resources": {**chosen, **given.get("resources", {})}}, user, records,
                          storage_uri)
    fitted, notes, fit_warnings, names = ({}, {}, [], cfg.class_names) if cfg.model.continue_training else \
        _fit_to_dataset(cfg, given, it.num_classes, storage_uri, lang)
    warnings += fit_warnings
    if it.model is not None and it.model.instead_of:
        warnings.append(say("plan.closest_model", lang, asked=it.model.instead_of, model=f"{cfg.model.source}/"
                            f"{cfg.model.name}", task=say(f"task.{cfg.task}", lang)))
    pretrained, notes["model.pretrained"] = _weights(cfg, it.pretrained, storage_uri, publishes, lang)
    full = cfg.model_copy(update={"hyperparameters": cfg.hyperparameters.model_copy(update=fitted), "class_names": names,
                                  "model": cfg.model.model_copy(update={"pretrained": pretrained})}).model_dump(mode="json")
    defaults = [f"{s}.{k}" for s in DEFAULTED for k in full[s] if k not in given.get(s, {})]
    defaults += ["model.pretrained"] if it.pretrained is None else []
    if chosen_model:
        defaults.append("model.name")
        notes["model.name"] = chosen_model
    notes.update({f"resources.{k}": say("plan.cluster", lang) for k in chosen})
    return {"config": full, "defaults": defaults, "notes": notes, "warnings": warnings}


def _weights(cfg: TrainingConfig, stated: Optional[bool], storage_uri: str,
             publishes: Callable[[str, str], bool], lang: str = "en") -> tuple[bool, str]:
    """Whether the job starts from pretrained weights (by default wherever they are cached or may be
    fetched), and the plan's line saying which and where from, or why not."""
    source, name = cfg.model.source, cfg.model.name
    if cfg.model.continue_training:
        return False, say("weights.continued", lang, job=cfg.model.from_job, epochs=cfg.hyperparameters.epochs)
    if cfg.model.from_job:
        return False, say("weights.from_job", lang, job=cfg.model.from_job)
    built_from_files = bool(get_adapter(source).cache_files(name))  # a Hub model outside the catalogue
    if stated is False:
        if built_from_files:
            raise PlanError(f"{source}/{name} is built from its files on the Hub (config and weights): it does not "
                            "train from scratch here; leave 'from scratch' out, or pick a catalogue model")
        return False, say("weights.scratch_asked", lang)
    if cfg.script is not None:
        return False, say("weights.script", lang)
    cached = WeightsCache(open_store(storage_uri)).find(source, name)
    if cached is not None:
        return True, say("weights.cached", lang, origin=cached["origin"])
    if may_download() and publishes(source, name):
        return True, say("weights.download", lang, source=source)
    why = "this platform does not download" if not may_download() else f"{source} publishes none for {name}"
    if stated or built_from_files:
        raise PlanError(f"no pretrained weights for {source}/{name}: none are cached and {why}; "
                        f"{how_to_add(source, name)}" + ("" if built_from_files else "; or say 'from scratch'"))
    return False, say("weights.none" if not may_download() else "weights.unpublished", lang, source=source,
                      model=f"{source}/{name}")


def _search(stated: dict, lang: str = "en") -> tuple[dict, Optional[str]]:
    """The search as stated, with a trial count that tries each listed value equally often."""
    values = [len(p["values"]) for p in stated["parameters"].values() if "values" in p]
    grid = math.prod(values)
    asked = stated.get("num_trials")
    if asked is None or asked % grid == 0:
        return stated, None
    trials = math.ceil(asked / grid) * grid
    return {**stated, "num_trials": trials}, say("plan.trials_rounded", lang, asked=asked, grid=grid, trials=trials)


def _resources(stated: dict, cluster: Optional[dict]) -> dict:
    """A GPU when the cluster has one, and one node's CPUs (up to 8) per worker."""
    if not cluster:
        return {}
    workers = stated.get("num_workers", 1)
    chosen = {"cpus_per_worker": float(max(1, min(8, int(cluster["cpus_per_node"]) // workers)))}
    if "use_gpu" not in stated and cluster["gpus"] >= 1:
        chosen["use_gpu"] = True
    return chosen


def dataset_report(uri: str, storage_uri: str) -> dict:
    """An uploaded dataset's health report (images, format, classes, findings); {} for any other."""
    if DATASET_ID.match(uri):
        try:
            return open_store(storage_uri).read_json(f"datasets/{uri}/report.json")
        except StoreError:
            pass
    return {}


def _fit_to_dataset(cfg: TrainingConfig, given: dict, num_classes: Optional[int], storage_uri: str, lang: str = "en"):
    """Defaults fitted to the model and the data: the image size (the model's own input size, or the
    images' own when they are smaller: upscaling adds compute, not detail), class weights where an
    uploaded classification dataset's classes are imbalanced, the class names as an uploaded dataset spells
    them, and a warning when the stated classes (or their count) differ from the dataset's."""
    report = dataset_report(cfg.dataset.uri, storage_uri)
    fitted, notes, warnings = {}, {}, []
    if "image_size" not in given.get("hyperparameters", {}):
        size, why = _image_size(cfg, report.get("image_size"), lang)
        if size:
            fitted["image_size"], notes["hyperparameters.image_size"] = size, why
    train = [n for n in (report.get("counts") or {}).get("train", {}).values() if n > 0]
    imbalanced = any(f["code"] == "class_imbalance" for f in report.get("findings", []))
    if imbalanced and cfg.task == "classification" and not cfg.script \
            and "class_weights" not in given.get("hyperparameters", {}):
        fitted["class_weights"] = "balanced"
        notes["hyperparameters.class_weights"] = say("plan.balanced", lang, high=max(train), low=min(train))
    found, said, names = report.get("class_names") or [], cfg.class_names, cfg.class_names
    if said and found:  # the dataset's names are the ones its labels use: "cat" said, "cats" the folder
        names = found
        if {_plain(n) for n in said} != {_plain(n) for n in found}:
            warnings.append(say("plan.names_differ", lang, said=", ".join(said), names=", ".join(found)))
    elif num_classes and found and num_classes != len(found):
        warnings.append(say("plan.classes_differ", lang, said=num_classes, found=len(found), names=", ".join(found)))
    return fitted, notes, warnings, names


def _plain(name: str) -> str:
    """A class name as people may write it either way: any case, singular or plural, - _ or space."""
    return singular(re.sub(r"[-_\s]+", " ", name).strip()).casefold()


def _image_size(cfg: TrainingConfig, images: Optional[dict], lang: str = "en") -> tuple[Optional[int], str]:
    name = cfg.model.name
    made_for = get_adapter(cfg.model.source).preprocessing(name)["input_size"]
    if not images:
        return made_for, say("plan.size_own", lang, model=name) if made_for else ""
    side = min(images["mean"])
    px = f"{side:.0f}"
    own = int(max(32, round(side / 32) * 32))
    if made_for is None:
        return min(own, 224), say("plan.size_images", lang, side=px)
    if own < made_for:
        return own, say("plan.size_smaller", lang, side=px, made_for=made_for, model=name)
    return made_for, say("plan.size_own_images", lang, model=name, side=px)


def _new_job_id(task: str) -> str:
    word = re.sub(r"[^a-z0-9]+", "-", task.lower()).strip("-")[:40] or "job"
    return f"{word}-{secrets.token_hex(6)}"


def visible(record: Optional[dict], user: dict) -> bool:
    """Users see their own; viewers and admins see everyone's."""
    return record is not None and (record["owner"] == user["username"] or user["role"] in ("admin", "viewer"))
