"""The API's own request metrics (prometheus-client), served at ``GET /metrics``.

Requests are counted by route template (``/v1/models/{source}/{name:path}``, not the filled-in
path), method and status, with a latency histogram per route. Training and system metrics are
not here: the monitors export those through Ray's metrics endpoint (see train_jobs/monitor.py).
"""
from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["CONTENT_TYPE_LATEST", "observe_requests", "render"]

REGISTRY = CollectorRegistry()
REQUESTS = Counter("visiontrain_api_requests", "API requests answered", ("route", "method", "status"),
                   registry=REGISTRY)
LATENCY = Histogram("visiontrain_api_request_seconds", "API request latency", ("route", "method"), registry=REGISTRY,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))


async def observe_requests(request: Request, call_next) -> Response:
    """FastAPI middleware: count and time every request."""
    t0 = time.perf_counter()
    code = 500
    try:
        response = await call_next(request)
        code = response.status_code
        return response
    finally:
        route = getattr(request.scope.get("route"), "path", "(no route)")
        REQUESTS.labels(route, request.method, str(code)).inc()
        LATENCY.labels(route, request.method).observe(time.perf_counter() - t0)


def render() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
