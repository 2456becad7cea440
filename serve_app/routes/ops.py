"""For the operators: health (for load balancers and Serve) and Prometheus metrics."""
import hmac
import time
from typing import Optional

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials

from serve_app.metrics import render
from serve_app.routes.deps import admin_user, bearer, current_user, platform
from visiontrain.settings import settings as env_settings

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz(p=Depends(platform)) -> dict:
    return {"status": "ok", "uptime_s": round(time.time() - p.started, 1)}


@router.get("/metrics", include_in_schema=False)
async def metrics(creds: Optional[HTTPAuthorizationCredentials] = Depends(bearer), p=Depends(platform)):
    """Prometheus text format. Scrape with an admin's access token, or with the token set in
    VISIONTRAIN_METRICS_TOKEN on the Serve side (Prometheus: ``authorization: {credentials: ...}``)."""
    scrape_token = env_settings().metrics_token
    if not (scrape_token and creds and hmac.compare_digest(creds.credentials, scrape_token)):
        await admin_user(await current_user(creds, p))
    return render()
