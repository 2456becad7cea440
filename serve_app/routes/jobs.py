"""``/v1/jobs``: submit (a confirmed plan or a TrainingConfig), list, follow, stop, and fetch what
a job left. Users see and act on their own jobs; viewers read everyone's; admins do anything.
A job that is not yours answers 404, as if it did not exist."""
import asyncio
import heapq
import json
import mimetypes
import re
import time
from typing import Any, Optional

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, model_validator

from serve_app.services.compare import MAX_COMPARED, compare_jobs
from serve_app.services.jobs import JobNotFound
from serve_app.services.limits import QuotaExceeded
from serve_app.services.plan import AdminOnly, PlanError, platform_config, visible
from serve_app.routes.deps import current_user, language, platform, writer_user
from train_jobs.config import ConfigError
from train_jobs.search import search_results
from train_jobs.state import TERMINAL
from train_jobs.store import StoreError
from visiontrain.messages import in_language
from visiontrain.settings import settings as env_settings

LINK_S = 900
router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


class SubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: Optional[str] = None
    config: Optional[dict[str, Any]] = None

    @model_validator(mode="after")
    def _one_of(self) -> "SubmitRequest":
        if (self.session_id is None) == (self.config is None):
            raise ValueError("give either session_id (to confirm a conversation's plan) or config (a TrainingConfig)")
        return self


def visible_job(p, job_id: str, user: dict) -> dict:
    try:
        record = p.jobs.get(job_id)
    except JobNotFound:
        record = None
    if not visible(record, user):
        raise HTTPException(404, f"no job {job_id} of yours; GET /v1/jobs lists them")
    return record


def _submit(p, body: SubmitRequest, user: dict) -> dict:
    if body.session_id is not None:
        chat = p.records.get_chat(body.session_id)
        if chat is None or chat["owner"] != user["username"]:
            raise HTTPException(404, f"no conversation {body.session_id} of yours")
        if not chat["plan"]:
            raise HTTPException(409, "this conversation has no plan yet: answer its questions first (POST /v1/chat)")
        data, own_id = chat["plan"]["config"], True
    else:
        data, own_id = body.config, user["role"] == "admin"
    cfg = _answered(lambda: platform_config(data, user, p.records, p.storage_uri, keep_job_id=own_id))
    existing = p.records.get_job(cfg.job_id)
    if existing is not None and existing["owner"] != user["username"]:
        raise HTTPException(409, f"job id {cfg.job_id} is taken; leave job_id out to get a new one")
    record = _answered(lambda: p.queue(cfg, user))
    if body.session_id is not None:  # the conversation's job from now on ("how is it doing?")
        p.records.save_chat(body.session_id, user["username"], chat["history"], chat["plan"], job_id=record["job_id"])
    return record


def _answered(call):
    """``call()``'s answer, its refusals as the API answers them."""
    try:
        return call()
    except AdminOnly as exc:
        raise HTTPException(403, str(exc)) from None
    except (PlanError, ConfigError) as exc:
        raise HTTPException(422, str(exc)) from None
    except QuotaExceeded as exc:
        raise HTTPException(429, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("", status_code=201)
async def submit(body: SubmitRequest, user: dict = Depends(writer_user), p=Depends(platform)) -> dict:
    """Quota check and job record; 201 once the job is queued (429 when over quota). It is then
    submitted as a Ray Job with the fixed entrypoint, in the background: follow its state."""
    return await asyncio.get_running_loop().run_in_executor(p.submitting, _submit, p, body, user)


@router.get("")
def list_jobs(owner: Optional[str] = Query(None, max_length=64), user: dict = Depends(current_user),
              p=Depends(platform)) -> list[dict]:
    if user["role"] == "user":
        owner = user["username"]
    return [{k: v for k, v in j.items() if k != "history"} for j in p.jobs.list(owner)]


@router.get("/compare")
def compare(ids: str = Query(..., max_length=2000, description=f"job ids, comma-separated (2 to {MAX_COMPARED})"),
            user: dict = Depends(current_user), p=Depends(platform)) -> dict:
    """Jobs side by side (each one's owner rules apply: one you may not see answers 404)."""
    wanted = list(dict.fromkeys(i.strip() for i in ids.split(",") if i.strip()))
    if not 2 <= len(wanted) <= MAX_COMPARED:
        raise HTTPException(422, f"ids: give 2 to {MAX_COMPARED} different job ids, comma-separated (got {len(wanted)}); "
                                 "GET /v1/jobs lists yours")
    return compare_jobs(p, [visible_job(p, job_id, user) for job_id in wanted])


@router.get("/{job_id}")
async def get_job(job_id: str, user: dict = Depends(current_user), lang: str = Depends(language),
                  p=Depends(platform)) -> dict:
    # An ended job's record comes from memory, on the event loop; any other is brought up to date
    # from its folder and Ray's job table, in a thread (those may be remote).
    record = p.jobs.ended(job_id)
    if record is None or not visible(record, user):
        record = await asyncio.to_thread(visible_job, p, job_id, user)
    history = [in_language(h, lang) for h in record.get("history", [])]
    last = history[-1] if history else {}
    said = last["message"] if last.get("state") == record["state"] and "text" in last else record["message"]
    return {**record, "message": said, "ended": record["state"] in TERMINAL, "history": history}


@router.post("/{job_id}/stop")
def stop_job(job_id: str, user: dict = Depends(writer_user), p=Depends(platform)) -> dict:
    record = visible_job(p, job_id, user)
    if record["owner"] != user["username"] and user["role"] != "admin":
        raise HTTPException(403, "only the job's owner or an admin can stop it")
    return p.jobs.stop(job_id)


@router.post("/{job_id}/restart", status_code=202)
async def restart_job(job_id: str, user: dict = Depends(writer_user), p=Depends(platform)) -> dict:
    """Run a failed or stopped job again, under its id and config: it resumes from its last complete
    checkpoint (409 while it runs, or once it succeeded; 429 over quota)."""
    def restart() -> dict:
        return _answered(lambda: p.restart(visible_job(p, job_id, user), user))

    return await asyncio.get_running_loop().run_in_executor(p.submitting, restart)


@router.get("/{job_id}/logs", response_class=PlainTextResponse)
def job_logs(job_id: str, user: dict = Depends(current_user), p=Depends(platform)) -> str:
    visible_job(p, job_id, user)
    return p.jobs.logs(job_id)


@router.get("/{job_id}/artifacts")
def artifacts(job_id: str, user: dict = Depends(current_user), p=Depends(platform)) -> dict:
    folder = p.jobs.folder(visible_job(p, job_id, user))
    logs = folder.store.logs(folder.prefix + "/")
    names = {k.removeprefix(folder.prefix + "/") for k in folder.store.list(folder.prefix + "/")
             if not any(k.startswith(log + ".d/") for log in logs)}  # an S3 log's parts are listed as the log
    return {"job_id": job_id, "uri": folder.uri(), "artifacts": sorted(names | {k.removeprefix(folder.prefix + "/")
                                                                            for k in logs})}


@router.get("/{job_id}/artifacts/{name:path}")
def artifact(job_id: str, name: str, link: bool = Query(False, description="answer a URL that reads it for 15 "
                                                                             "minutes instead (S3 storage only)"),
             user: dict = Depends(current_user), p=Depends(platform)) -> Response:
    """The file, streamed from the store as it is read (never whole in the API's memory)."""
    folder = p.jobs.folder(visible_job(p, job_id, user))
    missing = HTTPException(404, f"job {job_id} has no artifact {name!r}; GET /v1/jobs/{job_id}/artifacts lists them")
    try:
        key = folder.key(name)
        if key in folder.store.logs(key.rsplit("/", 1)[0]) and not folder.store.exists(key):  # an S3 log
            text = "".join(line + "\n" for line in folder.store.read_lines(key))
            return Response(text, media_type="application/x-ndjson")
        if link:
            if not hasattr(folder.store, "presigned_url"):
                raise HTTPException(409, "links are given for S3 storage only; download the file itself (without ?link)")
            return JSONResponse({"url": folder.store.presigned_url(key, LINK_S), "expires_in": LINK_S})
        size, chunks = folder.store.open_read(key)
    except (StoreError, ValueError):
        raise missing from None
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    # chunks of 1 MiB: one Serve message (proxy to replica) holds at most 4 MiB, and weights are larger
    return StreamingResponse(chunks, media_type=kind, headers={
        "content-disposition": f'attachment; filename="{name.rsplit("/", 1)[-1]}"', "content-length": str(size)})


@router.get("/{job_id}/trials")
def trials(job_id: str, user: dict = Depends(current_user), p=Depends(platform)) -> dict:
    """A search job's trials (values, state, epochs run, best metric) and the best one so far."""
    try:
        results = search_results(p.jobs.folder(visible_job(p, job_id, user)))
    except (StoreError, ConfigError):
        results = None
    if results is None:
        raise HTTPException(404, f"job {job_id} is not a hyperparameter search (its config has no search section)")
    return {"job_id": job_id, **results}


_CURSOR = re.compile(r"^(?:[a-z0-9-]{1,40}:\d{1,9})(?:\.[a-z0-9-]{1,40}:\d{1,9}){0,255}$")


def _cursor(last_event_id: Optional[str]) -> dict[str, int]:
    """Where a reconnecting client left off: each event's id is the count of lines sent from each
    file (``events:12.rank-0:30``), so a stream resumes exactly after the last event it got."""
    if not last_event_id:
        return {}
    if not _CURSOR.match(last_event_id):
        raise HTTPException(400, "Last-Event-ID is not an id this stream sent; reconnect without it to start over")
    return {name: int(n) for name, n in (part.split(":") for part in last_event_id.split("."))}


STREAMS_PER_USER = 4  # event streams one user may hold open at once, across replicas
# a comment line this often keeps proxies from closing a quiet stream; after STREAM_MAX_S the stream
# closes and clients reconnect with Last-Event-ID
KEEP_ALIVE_S = env_settings().stream_keepalive_s
STREAM_MAX_S = env_settings().stream_max_s


@router.get("/{job_id}/events")
async def job_events(job_id: str, poll_s: float = Query(1.0, ge=0.2, le=30), user: dict = Depends(current_user),
                     last_event_id: Optional[str] = Header(None, max_length=12000), lang: str = Depends(language),
                     p=Depends(platform)) -> StreamingResponse:
    """Server-sent events until the job ends: ``event: job`` for state changes, epoch metrics and
    checkpoints (``events.jsonl``), ``event: telemetry`` for what the workers' monitors sent.
    Reconnect with ``Last-Event-ID`` to go on after the last event received, losing none. A quiet
    stream sends a comment every 15 s; a stream closes after an hour (reconnect to go on); one user
    holds at most 4 streams at once (429 past that). ``language``: state messages in that language."""  # the times: VISIONTRAIN_STREAM_KEEPALIVE_S, _MAX_S
    record = await asyncio.to_thread(visible_job, p, job_id, user)
    folder = p.jobs.folder(record)
    skip = _cursor(last_event_id)
    lease = await asyncio.to_thread(p.records.take_lease, "events", user["username"], STREAMS_PER_USER, 3 * KEEP_ALIVE_S)
    if lease is None:
        raise HTTPException(429, f"you have {STREAMS_PER_USER} event streams open; close one (each ends with its job)",
                            headers={"Retry-After": str(int(KEEP_ALIVE_S))})
    cursors: dict[str, dict] = {}

    def new_lines(sent: dict) -> list[tuple[str, str, dict]]:
        """Lines written since the last call, every file read from where it was left, in time order
        (each file's own order kept: the ids count lines). A reconnecting client's lines are skipped once."""
        out = []
        for key in [folder.key("events.jsonl")] + folder.store.logs(folder.key("telemetry/")):
            name = "events" if key.endswith("events.jsonl") else key.rsplit("/", 1)[-1].removesuffix(".jsonl")
            lines = folder.store.read_jsonl(key, cursors.setdefault(name, {}))
            if name not in sent:
                sent[name] = min(skip.get(name, 0), len(lines))
                lines = lines[sent[name]:]
            out.append([(name, "job" if name == "events" else "telemetry", e) for e in lines])
        return list(heapq.merge(*out, key=lambda item: item[2]["time"]))

    async def stream():
        sent: dict[str, int] = {}
        started = quiet_since = renewed = time.monotonic()
        try:
            while True:
                state = (await asyncio.to_thread(p.jobs.get, job_id))["state"]
                for name, kind, event in await asyncio.to_thread(new_lines, sent):
                    sent[name] += 1
                    cursor = ".".join(f"{k}:{v}" for k, v in sorted(sent.items()))
                    quiet_since = time.monotonic()
                    yield f"id: {cursor}\nevent: {kind}\ndata: {json.dumps(in_language(event, lang), default=str)}\n\n"
                if state in TERMINAL:
                    yield f"event: end\ndata: {json.dumps({'job_id': job_id, 'state': state})}\n\n"
                    return
                now = time.monotonic()
                if now - started > STREAM_MAX_S:
                    return
                if now - quiet_since >= KEEP_ALIVE_S:
                    quiet_since = now
                    yield ": keep-alive\n\n"
                if now - renewed >= KEEP_ALIVE_S:
                    renewed = now
                    await asyncio.to_thread(p.records.renew_lease, lease, 3 * KEEP_ALIVE_S)
                await asyncio.sleep(poll_s)
        finally:  # (a closed stream may be cancelled at any await: the slot is given back without one)
            p.records.drop_lease(lease)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-cache"})
