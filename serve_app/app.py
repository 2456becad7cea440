"""The Serve application: an HTTP ingress (FastAPI) composed over the IntentParser and ModelRegistry
deployments. Serve runs it by import path: ``serve_app.app:build_app``."""

import asyncio
import contextlib
import hmac
import logging
import math
import os
import threading
import time
import uuid
from typing import Any, Literal, Optional, Union

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.handle import DeploymentHandle

from serve_app.auth import AuthError, TooManyAttempts
from serve_app.intent import ParseResult, parse
from serve_app.metrics import RequestMetrics, render
from serve_app.routes import chat, datasets, jobs
from serve_app.routes.deps import admin_user, bearer, current_user, unauthorized
from adapters import list_adapters
from train_jobs.config import TASKS, TaskName
from train_jobs.data.formats import FORMATS
from visiontrain.settings import settings as env_settings

__all__ = ["IntentParser", "ModelRegistry", "build_app", "deploy"]

log = logging.getLogger(__name__)
# Replicas ask for no CPU by default, so the API keeps answering while training holds every core.
_LIGHT = {"num_cpus": 0}


class _Body(BaseModel):
    """A request body: unknown fields are an error (422), never ignored."""
    model_config = ConfigDict(extra="forbid")


class LoginRequest(_Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(_Body):
    refresh_token: str = Field(min_length=1, max_length=2048)


class NewUser(_Body):
    username: str = Field(min_length=2, max_length=63)
    password: str = Field(min_length=8, max_length=256)
    role: Literal["admin", "user", "viewer"] = "user"


class PasswordChange(_Body):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=8, max_length=256)


class UserChange(_Body):
    disabled: bool


@contextlib.contextmanager
def _auth_errors():
    """Refused credentials answer 401; too many attempts 429 with Retry-After."""
    try:
        yield
    except TooManyAttempts as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(math.ceil(exc.retry_after_s))}) from None
    except AuthError as exc:
        raise unauthorized(str(exc)) from None


def _address(request: Request) -> Optional[str]:
    return request.client.host if request.client else None


class ParseRequest(_Body):
    message: str = Field(min_length=1, max_length=4000)
    history: list[Union[str, dict[str, Any]]] = Field(default_factory=list, max_length=100)

    @field_validator("history")
    @classmethod
    def _earlier_results_are_results(cls, v: list) -> list:
        """Earlier answers (items with an ``intent``) must be ParseResults as this API returned them."""
        for n, item in enumerate(v):
            if isinstance(item, dict) and "intent" in item:
                try:
                    ParseResult.model_validate(item)
                except ValidationError as exc:
                    raise ValueError(f"history[{n}] has an 'intent' but is not a parse result this API returned "
                                     f"({exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}); send the "
                                     "results as they came back, or only the user's messages") from None
        return v


@serve.deployment(ray_actor_options=_LIGHT, max_ongoing_requests=64, logging_config={"enable_access_log": False})
class IntentParser:
    def __init__(self):
        parse("warm up: resnet50 classification")  # loads the model index before the first request

    async def parse(self, message: str, history: Optional[list] = None) -> bytes:
        """The ParseResult as JSON bytes, passed through the ingress untouched. The offline parser
        takes well under a millisecond, so it runs on the event loop; a Claude call gets a thread."""
        if os.environ.get("ANTHROPIC_API_KEY"):
            return (await asyncio.to_thread(parse, message, history)).model_dump_json().encode()
        return parse(message, history).model_dump_json().encode()

    def check_health(self) -> None:
        if parse("resnet50 classification on /data/x").status != "complete":
            raise RuntimeError("the parser no longer parses a known request")


@serve.deployment(ray_actor_options=_LIGHT, max_ongoing_requests=16)
class ModelRegistry:
    """Answers ``{"error": message}`` for an unknown source or model, so no traceback crosses the wire."""

    def search(self, task: Optional[str], q: Optional[str], source: Optional[str], limit: int, offset: int) -> dict:
        from adapters import AdapterError
        from serve_app.registry import search_models

        try:
            return search_models(task=task, q=q, source=source, limit=limit, offset=offset)
        except AdapterError as exc:
            return {"error": str(exc)}

    def describe(self, source: str, name: str) -> dict:
        from adapters import AdapterError
        from serve_app.registry import describe_model

        try:
            return describe_model(source, name)
        except AdapterError as exc:
            return {"error": str(exc)}


api = FastAPI(title="visiontrain", version="0.1.0",
              description="Describe a vision model in Korean or English; get it trained on Ray.")
api.add_middleware(RequestMetrics)
for _router in (chat.router, jobs.router, datasets.router):
    api.include_router(_router)


@api.exception_handler(RayActorError)
async def _replica_lost(request: Request, exc: RayActorError) -> JSONResponse:
    """A parser or registry replica died while answering: Serve is replacing it, so say retry."""
    return JSONResponse({"detail": "a service replica was lost while answering and is being replaced; retry in a "
                                   "moment (nothing was changed)"}, status_code=503, headers={"Retry-After": "1"})


@api.exception_handler(Exception)
async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """The API's own failures answer JSON, so a bare-text 500 can only be Serve's proxy saying that
    the ingress replica died while answering (what the clients retry)."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": f"internal error while answering {request.method} {request.url.path} "
                                   f"({type(exc).__name__}); it is logged on the server, please report it"},
                        status_code=500)


def _found(answer: dict) -> dict:
    if "error" in answer:
        raise HTTPException(status_code=404, detail=answer["error"])
    return answer


@serve.deployment(ray_actor_options=_LIGHT, max_ongoing_requests=128)
@serve.ingress(api)
class Ingress:
    def __init__(self, parser: DeploymentHandle, registry: DeploymentHandle, settings: Optional[dict] = None):
        from serve_app.platform import Platform

        self.platform = api.state.platform = Platform(settings, parser, registry)
        self.parser, self.registry = parser, registry
        self.records, self.auth = self.platform.records, self.platform.auth
        self.started = time.time()
        self.watcher = threading.Thread(target=self._watch_jobs, args=(float((settings or {}).get("reconcile_s", 5)),),
                                        name="job-watcher", daemon=True)
        self.watcher.start()

    def _watch_jobs(self, every_s: float) -> None:
        """Keep unfinished jobs' records current even when no one asks: a job whose driver died is
        resubmitted (or failed) within ``every_s`` seconds. Each round the replica also says it is
        alive, and learns how many replicas share the request rate."""
        me = f"replica:{uuid.uuid4().hex}"
        while True:
            try:
                self.records.renew_lease(me, 6 * every_s, kind="replica")
                self.platform.limiter.replicas = max(1, self.records.count_leases("replica"))
            except Exception:
                log.exception("counting the API replicas failed")
            time.sleep(every_s)
            try:
                self.platform.jobs.reconcile()
            except Exception:  # the next round tries again; the API keeps answering meanwhile
                log.exception("reconciling job records failed")

    def check_health(self) -> None:
        """Serve restarts a replica whose records database is unreachable or whose job watcher died."""
        if not self.watcher.is_alive():
            raise RuntimeError("the job watcher thread died")
        self.records.ping()

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok", "uptime_s": round(time.time() - self.started, 1)}

    @api.get("/v1/vocabulary")
    async def vocabulary(self) -> dict:
        """The names the platform knows, from their registries: tasks, dataset formats (with the tasks
        each can hold and what it looks like) and model sources. Public: menus are built from it."""
        return {"tasks": list(TASKS), "sources": list_adapters(),
                "formats": [{"name": f.name, "tasks": list(f.tasks), "layout": f.layout} for f in FORMATS.items()]}

    @api.post("/v1/auth/login")
    async def login(self, body: LoginRequest, request: Request) -> dict:
        with _auth_errors():  # a flood past its limit is answered here, on the event loop, without a thread
            self.auth.turned_away(body.username, _address(request))
            return await asyncio.get_running_loop().run_in_executor(
                self.platform.logging_in, self.auth.login, body.username, body.password, _address(request))

    @api.post("/v1/auth/refresh")
    def refresh(self, body: RefreshRequest, request: Request) -> dict:
        with _auth_errors():
            return self.auth.refresh(body.refresh_token, _address(request))

    @api.post("/v1/auth/logout", status_code=204)
    def logout(self, user: dict = Depends(current_user)) -> Response:
        """Sign out everywhere: every access and refresh token of yours stops working."""
        self.auth.logout(user["username"])
        return Response(status_code=204)

    @api.post("/v1/auth/password")
    def change_password(self, body: PasswordChange, user: dict = Depends(current_user)) -> dict:
        """A new password; every earlier token stops working. Answers new tokens for this client."""
        with _auth_errors():
            try:
                return self.auth.change_password(user["username"], body.current_password, body.new_password)
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from None

    @api.patch("/v1/users/{username}")
    def change_user(self, username: str, body: UserChange, user: dict = Depends(admin_user)) -> dict:
        """Disable (signs the user out everywhere and refuses their logins) or enable a user."""
        try:
            self.auth.set_disabled(username, body.disabled)
        except ValueError as exc:
            raise HTTPException(404, str(exc)) from None
        return {"username": username, "disabled": body.disabled}

    @api.get("/metrics", include_in_schema=False)
    async def metrics(self, request: Request, creds: Optional[HTTPAuthorizationCredentials] = Depends(bearer)):
        """Prometheus text format. Scrape with an admin's access token, or with the token set in
        VISIONTRAIN_METRICS_TOKEN on the Serve side (Prometheus: ``authorization: {credentials: ...}``)."""
        scrape_token = env_settings().metrics_token
        if not (scrape_token and creds and hmac.compare_digest(creds.credentials, scrape_token)):
            await admin_user(await current_user(request, creds))
        return render()

    @api.get("/v1/me")
    async def me(self, user: dict = Depends(current_user)) -> dict:
        return user

    @api.get("/v1/users")
    def users(self, user: dict = Depends(admin_user)) -> list[dict]:
        return self.records.list_users()

    @api.post("/v1/users", status_code=201)
    def add_user(self, body: NewUser, user: dict = Depends(admin_user)) -> dict:
        try:
            return self.auth.create_user(body.username, body.password, body.role)
        except ValueError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT if "exists" in str(exc) else 422, str(exc)) from None

    @api.post("/v1/parse", response_model=ParseResult)
    async def parse_message(self, body: ParseRequest, user: dict = Depends(current_user)) -> Response:
        return Response(await self.parser.parse.remote(body.message, body.history), media_type="application/json")

    @api.get("/v1/models")
    async def models(self, task: Optional[TaskName] = None, q: Optional[str] = Query(None, max_length=200),
                     source: Optional[str] = Query(None, max_length=50), limit: int = Query(20, ge=1, le=200),
                     offset: int = Query(0, ge=0), user: dict = Depends(current_user)) -> dict:
        return _found(await self.registry.search.remote(task, q, source, limit, offset))

    @api.get("/v1/models/{source}/{name:path}")
    async def model(self, source: str, name: str, user: dict = Depends(current_user)) -> dict:
        return _found(await self.registry.describe.remote(source, name))


def build_app(args: Optional[dict] = None):
    """The application graph: the ingress with the parser and the registry bound in. ``args``
    (``serve run serve_app.app:build_app home=... database_url=...``): where records and keys live."""
    return Ingress.bind(IntentParser.bind(), ModelRegistry.bind(), dict(args or {}))


def deploy(port: int = 8000, host: str = "127.0.0.1", name: str = "visiontrain", args: Optional[dict] = None) -> str:
    """Deploy on the Ray cluster this process is connected to; returns the base URL."""
    serve.start(http_options={"host": host, "port": port})
    serve.run(build_app(args), name=name, route_prefix="/", blocking=False)
    return f"http://{host}:{port}"
