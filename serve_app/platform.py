"""What the API's routes share inside an ingress replica: records, auth, the job service,
limits, where artifacts go, and the parser deployment."""
from __future__ import annotations

import os
from typing import Optional

from serve_app.auth import Auth, signing_key
from serve_app.jobs import JobService
from serve_app.limits import Quotas, RateLimiter
from serve_app.records import Records

__all__ = ["Platform"]


class Platform:
    """Built from the app's settings (``build_app`` args): ``home``, ``database_url``,
    ``storage_uri``, ``ray_dashboard_url``, ``max_active_jobs``, ``max_gpus``, ``requests_per_minute``."""

    def __init__(self, settings: Optional[dict] = None, parser=None, registry=None):
        from serve_app.local import home_dir

        settings = settings or {}
        self.home = settings.get("home") or home_dir()
        self.records = Records(settings.get("database_url") or f"sqlite:///{self.home}/records.db")
        self.auth = Auth(self.records, signing_key(self.home))
        self.auth.ensure_admin()
        self.storage_uri = settings.get("storage_uri") or os.path.join(self.home, "artifacts")
        self.jobs = JobService(self.records, settings.get("ray_dashboard_url") or "http://127.0.0.1:8265")
        self.quotas = Quotas.from_settings(settings)
        self.limiter = RateLimiter(per_minute=float(settings.get("requests_per_minute")
                                                    or os.environ.get("VISIONTRAIN_REQUESTS_PER_MINUTE") or 600))
        self.parser, self.registry = parser, registry
        self.reconciled = self.jobs.reconcile()

    def cluster_shape(self) -> dict:
        """The most CPUs on one alive node and the GPUs in the cluster: what a plan may ask for."""
        import ray

        nodes = [n for n in ray.nodes() if n.get("Alive")]
        return {"cpus_per_node": max((n["Resources"].get("CPU", 0) for n in nodes), default=1),
                "gpus": sum(n["Resources"].get("GPU", 0) for n in nodes)}
