"""The API's own request metrics (prometheus-client), served at ``GET /metrics``.

Requests are counted by route template (``/v1/models/{source}/{name:path}``, not the filled-in
path), method and status, with a latency histogram per route. Training and system metrics are
not here: the monitors export those through Ray's metrics endpoint (see train_jobs/monitor.py).
"""
from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE_LATEST", "RequestMetrics", "render", "unanswered"]

REGISTRY = CollectorRegistry()
REQUESTS = Counter("visiontrain_api_requests", "API requests answered", ("route", "method", "status"),
                   registry=REGISTRY)
LATENCY = Histogram("visiontrain_api_request_seconds", "API request latency", ("route", "method"), registry=REGISTRY,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
_unanswered = 0  # changed on the replica's event loop only
Gauge("visiontrain_api_requests_unanswered", "API requests received and not answered yet (a stream counts until "
      "it starts)", registry=REGISTRY).set_function(lambda: _unanswered)


def unanswered() -> int:
    """Requests this replica has received and not yet begun to answer."""
    return _unanswered


class RequestMetrics:
    """ASGI middleware: count every request and time it to its response's start (a stream of
    events counts once it begins), before that start is sent, so a client that has its answer
    finds it counted. A plain ASGI class: Starlette's ``BaseHTTPMiddleware`` runs each request in
    extra tasks and streams, a measurable cost on a small machine."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        global _unanswered
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        counted = False
        _unanswered += 1

        def count(status: int) -> None:
            global _unanswered
            nonlocal counted
            counted = True
            _unanswered -= 1
            route = getattr(scope.get("route"), "path", "(no route)")
            REQUESTS.labels(route, scope["method"], str(status)).inc()
            LATENCY.labels(route, scope["method"]).observe(time.perf_counter() - t0)

        async def send_counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                count(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            if not counted:  # it raised before answering: the server answers 500
                count(500)


def render() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
