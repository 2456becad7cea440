"""What a chat turn asks of a job, done with the API's own rules: its progress, the user's jobs,
stopping it, running it again, its results, and why the conversation's plan chose a value. Each answers a few
sentences in the conversation's language."""
from __future__ import annotations

from typing import Optional

from serve_app.intent import Intent
from serve_app.services.jobs import JobNotFound
from serve_app.services.limits import QuotaExceeded
from serve_app.services.advice import about_models, recommend
from serve_app.services.compare import HEADLINES, MAX_COMPARED, compare_jobs
from serve_app.services.plan import PlanError, dataset_report, visible
from train_jobs.state import TERMINAL
from train_jobs.store import StoreNotFound
from visiontrain.messages import in_language, say, words

__all__ = ["run_command"]



def run_command(p, user: dict, intent: Intent, lang: str, plan: Optional[dict],
                current: Optional[str] = None) -> tuple[str, Optional[str]]:
    """The reply to ``intent.command`` and the job it is about (None when none). ``current``: the job the
    conversation is about, which "it" means when the message names none."""
    if intent.command == "explain":
        return _explain(intent.about, plan, lang), None
    if intent.command == "models":
        return about_models(intent.models or [], lang), None
    if intent.command == "recommend":
        return _recommend(p, intent, plan, lang), None
    if intent.command == "jobs":
        return _jobs(p, user, lang), None
    if intent.command in ("compare", "best"):
        return _compare(p, user, intent.command == "best", lang)
    record = _job(p, user, intent.job or current, active=intent.command in ("stop", "status"), lang=lang)
    named = words(lang)
    state = named.get(f"state.{record['state']}", record["state"])
    if intent.command == "restart":
        return _restart(p, user, record, state, lang), record["job_id"]
    if intent.command == "stop":
        if record["state"] in TERMINAL:
            return say("chat.not_stoppable", lang, job=record["job_id"], state=state), record["job_id"]
        if record["owner"] != user["username"] and user["role"] != "admin":
            raise PlanError("only the job's owner or an admin can stop it")
        p.jobs.stop(record["job_id"])
        return say("chat.stopped", lang, job=record["job_id"], state=state), record["job_id"]
    if intent.command == "results" and record["state"] in TERMINAL:
        return _results(p, record, state, lang), record["job_id"]
    progress = _progress(p, record, lang)
    if intent.command == "results":
        return say("chat.not_ended", lang, job=record["job_id"], state=state, progress=progress).strip(), record["job_id"]
    history = record.get("history") or []
    message = in_language(history[-1], lang).get("message", "") if history else record.get("message", "")
    line = say("chat.status", lang, job=record["job_id"], model=record["model"], state=state, message=message)
    return (f"{line}. {progress}" if progress else line), record["job_id"]


def _compare(p, user: dict, best: bool, lang: str) -> tuple[str, Optional[str]]:
    """The newest two ended jobs side by side, or (``best``) the user's succeeded jobs ranked; the best one
    becomes the conversation's job."""
    mine = [j for j in p.records.list_jobs(user["username"]) if j["state"] in (("succeeded",) if best else TERMINAL)]
    chosen = mine[:MAX_COMPARED if best else 2]
    if len(chosen) < (1 if best else 2):
        return say("chat.compare_few", lang, n=len(chosen)), None
    table = compare_jobs(p, [p.jobs.get(j["job_id"]) for j in chosen])
    named = words(lang)
    lines = [say("chat.compared", lang, n=len(chosen), link="/v1/jobs/compare?ids=" + ",".join(j["job_id"] for j in chosen))]
    for row in table["jobs"]:
        score = f"{row['headline']} {row['score']:.4g}" if row["score"] is not None else "-"
        lines.append(f"- {row['job_id']} — {row['model']}, {named.get('state.' + row['state'], row['state'])}: {score}"
                     + (f", {row['duration_s']:.0f} s" if row["duration_s"] else "")
                     + (f", {row['images_per_s']:.0f} images/s" if row["images_per_s"] else ""))
    differ = [f"{k}: " + " / ".join(str(v) for v in by_job.values()) for k, by_job in table["differences"].items()]
    if differ and not best:
        lines.append(say("chat.differences", lang, settings="; ".join(differ[:8])))
    if table["best"]:
        top = next(r for r in table["jobs"] if r["job_id"] == table["best"])
        lines.append(say("chat.best", lang, job=top["job_id"], metric=top["headline"], value=f"{top['score']:.4g}"))
    return "\n".join(lines), table["best"]


def _recommend(p, intent: Intent, plan: Optional[dict], lang: str) -> str:
    """The model for the task asked about (else the plan's), fitted to the plan's data when there is one
    and to this cluster (or the plan's choice of CPU)."""
    cfg = (plan or {}).get("config") or {}
    task = intent.task or cfg.get("task")
    if task is None:
        return say("advice.which_task", lang)
    report = dataset_report(cfg["dataset"]["uri"], p.storage_uri) if cfg and cfg["task"] == task else {}
    gpus = p.cluster_shape()["gpus"] if (cfg.get("resources") or {}).get("use_gpu", True) else 0.0
    _, _, why = recommend(task, report, gpus, lang)
    return say("advice.recommended", lang, task=say(f"task.{task}", lang), why=why)


def _restart(p, user: dict, record: dict, state: str, lang: str) -> str:
    if record["state"] not in ("failed", "stopped"):
        return say("chat.not_restartable", lang, job=record["job_id"], state=state)
    try:
        p.restart(record, user)
    except (QuotaExceeded, ValueError) as exc:  # over quota; started again meanwhile
        return str(exc)
    return say("chat.restarted", lang, job=record["job_id"])


def _job(p, user: dict, ref: Optional[str], active: bool, lang: str) -> dict:
    """The job named (its id) or the conversation's, else the user's one running job (``active``) or newest."""
    if ref and ref != "latest":
        try:
            record = p.jobs.get(ref)
        except JobNotFound:
            record = None
        if not visible(record, user):
            raise PlanError(f"no job {ref} of yours; GET /v1/jobs (or 'show my jobs') lists them")
        return record
    mine = p.records.list_jobs(user["username"])
    if not mine:
        raise PlanError(say("chat.no_jobs", lang))
    running = [j for j in mine if j["state"] not in TERMINAL]
    if active and len(running) > 1:
        raise PlanError(say("chat.which_job", lang, n=len(running), jobs=", ".join(j["job_id"] for j in running[:5])))
    return p.jobs.get((running[0] if active and running else mine[0])["job_id"])


def _jobs(p, user: dict, lang: str) -> str:
    mine = p.records.list_jobs(user["username"])[:5]
    if not mine:
        return say("chat.no_jobs", lang)
    named = words(lang)
    return "\n".join([say("chat.jobs", lang), *[f"- {j['job_id']} — {named.get('state.' + j['state'], j['state'])} "
                                                 f"({j['model']})" for j in mine]])


def _progress(p, record: dict, lang: str) -> str:
    """The epoch reached and the headline metric so far, from the job's own events."""
    metrics = [e for e in p.jobs.folder(record).events() if e.get("kind") == "metrics"]
    if not metrics:
        return ""
    last = metrics[-1]
    parts = [say("chat.status_epoch", lang, epoch=last.get("epoch"), epochs=last.get("epochs", "?"))]
    shown = next((k for k in last if k.startswith("val_") and k != "val_loss"), None)
    if shown:
        parts.append(say("chat.status_metric", lang, metric=shown, value=last[shown]))
    return ", ".join(parts) + "."


def _results(p, record: dict, state: str, lang: str) -> str:
    folder = p.jobs.folder(record)
    try:
        metrics = folder.store.read_json(folder.key("metrics.json"))
    except StoreNotFound:  # a job that failed before its evaluation has no metrics: its message says why
        return say("chat.status", lang, job=record["job_id"], model=record["model"], state=state,
                   message=record.get("message", ""))
    shown = ", ".join(f"{k} {metrics[k]:.4g}" for k in HEADLINES if isinstance(metrics.get(k), (int, float)))
    lines = [say("chat.results", lang, job=record["job_id"], model=record["model"], state=state, metrics=shown or "-")]
    per_class = metrics.get("per_class") or metrics.get("per_class_iou") or {}
    scored = sorted((v.get("f1", v.get("AP50", 0.0)) if isinstance(v, dict) else v, k) for k, v in per_class.items())
    if len(scored) > 1:
        lines.append(say("chat.weakest", lang, classes=", ".join(f"{k} {v:.3g}" for v, k in scored[:2])))
    lines.append(say("chat.files", lang, onnx=f"/v1/jobs/{record['job_id']}/artifacts/export/model.onnx"))
    return "\n".join(lines)


def _explain(about: Optional[str], plan: Optional[dict], lang: str) -> str:
    if not plan:
        return say("chat.no_plan", lang)
    cfg = plan["config"]
    if about is None:
        return say("chat.which_field", lang, batch=cfg["hyperparameters"]["batch_size"])
    section, _, key = about.partition(".")
    value = cfg[section].get(key) if isinstance(cfg.get(section), dict) else cfg.get(about)
    why = plan.get("notes", {}).get(about) or say("chat.default" if about in plan.get("defaults", []) else "chat.you_said",
                                                   lang)
    return say("chat.explained", lang, field=about, value=value, why=why)
