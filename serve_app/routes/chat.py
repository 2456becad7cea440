"""``POST /v1/chat``: one turn of the conversation, kept server-side per session. The answer is
the parse result plus, once nothing is missing, the plan: the full TrainingConfig the job would
run with and which of its values are defaults. Nothing runs until the plan is confirmed with
``POST /v1/jobs {"session_id": ...}``. A turn that asks about a job (its progress, the user's jobs,
stop it, run it again, its results) or about the plan (why a value) gets ``reply``, done with the API's
rules. The conversation remembers the job it is about (its confirmed plan's, or the last one a reply
was about): "it" is that job."""
import asyncio
import secrets
from typing import Any, Optional

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from serve_app.intent import ParseResult
from serve_app.services.commands import run_command
from serve_app.services.plan import PlanError, make_plan, succeeded_job
from serve_app.routes.deps import current_user, platform, writer_user
from train_jobs.config import ConfigError

router = APIRouter(prefix="/v1/chat", tags=["chat"])
MAX_TURNS = 50


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=4000)
    session_id: Optional[str] = Field(None, pattern=r"^[0-9a-f]{32}$", description="omit to start a conversation")


class ChatAnswer(BaseModel):
    session_id: str
    result: ParseResult
    plan: Optional[dict[str, Any]] = Field(None, description="{config, defaults} once the request is complete")
    plan_problem: Optional[str] = Field(None, description="why a complete request cannot be planned yet")
    try_job: Optional[str] = Field(None, description="the succeeded job whose model the user asked to try on the "
                                                     "images they attach: send them to POST /v1/jobs/{try_job}/predict")
    reply: Optional[str] = Field(None, description="the answer to a command on a job or a question about the plan "
                                                   "(result.intent.command), in the conversation's language")
    job_id: Optional[str] = Field(None, description="the job that reply is about, now the conversation's job")


def _session(p, session_id: Optional[str], user: dict) -> dict:
    if session_id is None:
        return {"session_id": secrets.token_hex(16), "history": [], "plan": None, "job_id": None}
    found = p.records.get_chat(session_id)
    if found is None or found["owner"] != user["username"]:
        raise HTTPException(404, f"no conversation {session_id} of yours; omit session_id to start one")
    return found


@router.post("", response_model=ChatAnswer)
async def chat(body: ChatRequest, user: dict = Depends(writer_user), p=Depends(platform)) -> ChatAnswer:
    # Database work runs in threads: a commit that waits must not hold up every other request.
    session = await asyncio.to_thread(_session, p, body.session_id, user)
    if len(session["history"]) >= 2 * MAX_TURNS:
        raise HTTPException(422, f"this conversation has {MAX_TURNS} turns; start a new one (omit session_id)")
    result = ParseResult.model_validate_json(await p.parser.parse.remote(body.message, session["history"]))
    plan, problem, try_job, reply, job_id = None, None, None, None, None
    if result.intent.command:
        try:
            reply, job_id = await asyncio.to_thread(run_command, p, user, result.intent, result.language, session["plan"],
                                                    session["job_id"])
        except PlanError as exc:
            reply = str(exc)
    elif result.intent.try_on_images:
        try:
            try_job = (await asyncio.to_thread(succeeded_job, result.intent.try_on_images, user, p.records,
                                               None, "yet whose model could answer; train one first"))["job_id"]
        except PlanError as exc:
            problem = str(exc)
    elif result.status == "complete":
        try:
            plan = await asyncio.to_thread(lambda: make_plan(
                result, user, p.records, p.storage_uri, p.cluster_shape(),
                publishes=lambda source, name: p.registry.publishes_weights.remote(source, name).result()))
        except (PlanError, ConfigError) as exc:
            problem = str(exc)
    history = [*session["history"], body.message, result.model_dump(mode="json")]
    # trying a model or a command leaves the plan as it was
    kept = session["plan"] if result.intent.try_on_images or result.intent.command else plan
    await asyncio.to_thread(p.records.save_chat, session["session_id"], user["username"], history, kept, job_id)
    return ChatAnswer(session_id=session["session_id"], result=result, plan=plan, plan_problem=problem, try_job=try_job,
                      reply=reply, job_id=job_id)


@router.get("/{session_id}")
async def conversation(session_id: str, user: dict = Depends(current_user), p=Depends(platform)) -> dict:
    session = await asyncio.to_thread(_session, p, session_id, user)
    return {"session_id": session_id, "history": session["history"], "plan": session["plan"], "job_id": session["job_id"]}
