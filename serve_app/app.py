"""The Serve application: an HTTP ingress (FastAPI) composed over the IntentParser, ModelRegistry and
TrainedModels deployments. Serve runs it by import path: ``serve_app.app:build_app``."""

import asyncio
import logging
import os
import threading
import time
import uuid
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.handle import DeploymentHandle

from serve_app.intent import parse
from serve_app.metrics import RequestMetrics
from serve_app.routes import ROUTERS
from serve_app.routes.deps import serve_platform
from visiontrain.settings import settings as env_settings

__all__ = ["IntentParser", "ModelRegistry", "TrainedModels", "build_app", "deploy"]

log = logging.getLogger(__name__)
# Replicas ask for no CPU by default, so the API keeps answering while training holds every core.
_LIGHT = {"num_cpus": 0}


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
        from serve_app.services.registry import search_models

        try:
            return search_models(task=task, q=q, source=source, limit=limit, offset=offset)
        except AdapterError as exc:
            return {"error": str(exc)}

    def publishes_weights(self, source: str, name: str) -> bool:
        from adapters import AdapterError, get_adapter

        try:
            return get_adapter(source).publishes_weights(name)
        except AdapterError:
            return False

    def describe(self, source: str, name: str) -> dict:
        from adapters import AdapterError
        from serve_app.services.registry import describe_model

        try:
            return describe_model(source, name)
        except AdapterError as exc:
            return {"error": str(exc)}


class _Loaded:
    """One job's predictor as a TrainedModels replica holds it; Serve calls ``__del__`` when it unloads it."""

    held: set = set()  # the job ids whose models this replica holds

    def __init__(self, job_id: str, predict):
        self.job_id, self.predict = job_id, predict
        _Loaded.held.add(job_id)

    def __del__(self):
        _Loaded.held.discard(self.job_id)


@serve.deployment(ray_actor_options=_LIGHT, max_ongoing_requests=8,
                  autoscaling_config={"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 2})
class TrainedModels:
    """Succeeded jobs' models answering predictions, by job id (Serve's model multiplexing: each replica
    keeps the ``VISIONTRAIN_MODELS_PER_REPLICA`` it used last)."""

    def __init__(self, settings: Optional[dict] = None):
        from serve_app.services.platform import storage_uri_of

        self.storage_uri = storage_uri_of(settings or {})

    @serve.multiplexed(max_num_models_per_replica=env_settings().models_per_replica)
    async def model(self, job_id: str) -> _Loaded:
        from train_jobs.predict import load_predictor

        return _Loaded(job_id, await asyncio.to_thread(load_predictor, self.storage_uri, job_id))

    def held(self) -> list[str]:
        """The job ids whose models this replica holds now."""
        return sorted(_Loaded.held)

    async def predict(self, images: list[bytes], draw: bool = False) -> dict:
        """``{"predictions": [...]}``, or ``{"error": message, "status": HTTP status}``."""
        from train_jobs.data import ImageRefused

        predict = await self.model(serve.get_multiplexed_model_id())
        try:
            return {"predictions": await asyncio.to_thread(predict.predict, images, draw)}
        except ImageRefused as exc:
            return {"error": str(exc), "status": 422}


api = FastAPI(title="visiontrain", version="0.1.0",
              description="Describe a vision model in Korean or English; get it trained on Ray.")
api.add_middleware(RequestMetrics)
for _router in ROUTERS:
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


@serve.deployment(ray_actor_options=_LIGHT, max_ongoing_requests=128)
@serve.ingress(api)
class Ingress:
    def __init__(self, parser: DeploymentHandle, registry: DeploymentHandle, settings: Optional[dict] = None,
                 models: Optional[DeploymentHandle] = None):
        from serve_app.services.platform import Platform

        self.platform = Platform(settings, parser, registry, models)
        serve_platform(self.platform)
        self.records = self.platform.records
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


def build_app(args: Optional[dict] = None):
    """The application graph: the ingress with the parser and the registry bound in. ``args``
    (``serve run serve_app.app:build_app home=... database_url=...``): where records and keys live;
    ``cluster_gpus``: the GPUs of the cluster it runs on (the TrainedModels replicas ask for one where
    there are some, see VISIONTRAIN_PREDICT_GPUS)."""
    from train_jobs.predict import predictor_gpus

    args = dict(args or {})
    gpus = predictor_gpus(float(args.get("cluster_gpus", 0)))
    models = TrainedModels.options(ray_actor_options={**_LIGHT, "num_gpus": gpus}).bind(args)
    return Ingress.bind(IntentParser.bind(), ModelRegistry.bind(), args, models)


def deploy(port: int = 8000, host: str = "127.0.0.1", name: str = "visiontrain", args: Optional[dict] = None) -> str:
    """Deploy on the Ray cluster this process is connected to; returns the base URL."""
    import ray

    args = {"cluster_gpus": ray.cluster_resources().get("GPU", 0), **(args or {})}
    serve.start(http_options={"host": host, "port": port})
    serve.run(build_app(args), name=name, route_prefix="/", blocking=False)
    return f"http://{host}:{port}"
