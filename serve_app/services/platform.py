"""What the API's routes share inside an ingress replica: records, auth, the job service,
limits, where artifacts go, and the parser deployment."""
from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from serve_app.services.auth import Auth, signing_key
from serve_app.services.jobs import JobService
from serve_app.services.limits import Quotas, RateLimiter
from serve_app.services.plan import AdminOnly, PlanError
from serve_app.metrics import unanswered
from serve_app.services.records import Records, default_database_url
from visiontrain.settings import settings as env_settings

__all__ = ["Platform", "storage_uri_of"]

log = logging.getLogger(__name__)
LAUNCHING_AT_ONCE = 2
STARTING_S = 30.0  # a job counts as starting until its driver runs, or this long
BUSY_REQUESTS = 4  # more requests than this unanswered in a replica: a job launch waits (BUSY_WAIT_S at most)
BUSY_WAIT_S = 5.0


class Platform:
    """Built from the app's settings (``build_app`` args): ``home``, ``database_url``,
    ``storage_uri``, ``ray_dashboard_url``, ``max_active_jobs``, ``max_gpus``, ``requests_per_minute``,
    ``worker_types`` (the node types an autoscaler may add: ``{name: {CPU, GPU, max_workers}}``;
    default: ``VISIONTRAIN_WORKER_TYPES``, the same as JSON, for a separate training cluster)."""

    def __init__(self, settings: Optional[dict] = None, parser=None, registry=None, models=None):
        from serve_app.local import home_dir

        settings = settings or {}
        self.home = settings.get("home") or home_dir()
        self.records = Records(settings.get("database_url") or default_database_url(self.home))
        self.auth = Auth(self.records, signing_key(self.home))
        self.auth.ensure_admin()
        self.storage_uri = storage_uri_of(settings)
        self.jobs = JobService(self.records, settings.get("ray_dashboard_url") or "http://127.0.0.1:8265")
        self.quotas = Quotas.from_settings(settings)
        self.limiter = RateLimiter(per_minute=float(settings.get("requests_per_minute")
                                                    or env_settings().requests_per_minute))
        self.worker_types = settings.get("worker_types") or _worker_types_from_env()
        self.parser, self.registry, self.models = parser, registry, models
        self.started = time.time()
        # Submissions take turns on one thread, so a burst cannot slip past the quota, and twenty
        # at once do not hold the GIL away from the event loop that answers every other request.
        self.submitting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job-submit")
        # uploads are unpacked and validated here, not on the threads that serve chat and the database
        self.validating = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dataset-validate")
        # password checks (argon2, ~40 ms of CPU and 19 MiB each) two at a time, apart from chat's threads
        self.logging_in = ThreadPoolExecutor(max_workers=2, thread_name_prefix="login")
        # Jobs start two at a time: each Ray job boots a supervisor and a driver process, and ten
        # at once held up the API for seconds on a small head node (bench/load.py).
        self.launcher = ThreadPoolExecutor(max_workers=LAUNCHING_AT_ONCE, thread_name_prefix="job-launch")
        self.reconciled = self.jobs.reconcile()
        self.launcher.submit(lambda: self.jobs.client)  # its import takes 0.1 s of the GIL: not in a request

    def launch_later(self, job_id: str) -> None:
        """Submit a queued job to Ray in the background, once fewer than LAUNCHING_AT_ONCE jobs are
        starting and the API is not busy (a job left queued by a failure here is submitted by the
        job watcher after jobs.QUEUE_GRACE_S)."""
        def launch() -> None:
            self.wait_while_busy()
            try:
                self.jobs.launch(job_id)
                self.jobs.wait_started(job_id, STARTING_S)
            except Exception:
                log.exception("submitting job %s to Ray failed", job_id)

        self.launcher.submit(launch)

    @staticmethod
    def wait_while_busy(poll_s: float = 0.05) -> None:
        """Launching a job is background work that takes the head's CPU for a second or two (the
        job's supervisor and driver processes start): it waits while this replica holds more than
        BUSY_REQUESTS unanswered requests, such as a burst of chat turns, for at most BUSY_WAIT_S.
        A few clients polling without pause do not hold it up."""
        deadline = time.monotonic() + BUSY_WAIT_S
        while unanswered() > BUSY_REQUESTS and time.monotonic() < deadline:
            time.sleep(poll_s)

    def queue(self, cfg, user: dict) -> dict:
        """Queue ``cfg`` as ``user`` asks it (a new job, or an ended one's id to run it again), with the
        API's checks: it can be placed, it keeps within the user's quota (one submit at a time per
        user, across replicas), and it is not running already; Ray gets it in the background.
        Raises PlanError (never placeable), QuotaExceeded, or ValueError (running, or succeeded: a
        PlanError is one too, so catch it first)."""
        if problem := self.why_unplaceable(cfg):
            raise PlanError(f"this job could never start: {problem}")
        with self.records.held(f"submit:{user['username']}"):
            self.quotas.check_current(user, cfg, self.jobs)
            record = self.jobs.submit(cfg, queue=True)
        self.launch_later(cfg.job_id)
        return record

    def restart(self, record: dict, user: dict) -> dict:
        """Run a failed or stopped job again under its id, from its stored config: Ray Train resumes it
        from its last complete checkpoint (Ultralytics jobs from their last epoch's)."""
        if record["owner"] != user["username"] and user["role"] != "admin":
            raise AdminOnly("only the job's owner or an admin can restart it")
        self.jobs.check_resumable(self.jobs.folder(record), record)  # before the quota, which counts it if it runs
        return self.queue(self.jobs.stored_config(record), user)

    def why_unplaceable(self, cfg) -> Optional[str]:
        """What keeps ``cfg``'s workers from ever being placed on this cluster (a job that waits
        forever), or None."""
        shape, r = self.cluster_shape(), cfg.resources
        if r.cpus_per_worker > shape["cpus_per_node"]:
            return (f"each worker asks for {r.cpus_per_worker:g} CPUs, but the largest node has "
                    f"{shape['cpus_per_node']:g}: set resources.cpus_per_worker to {shape['cpus_per_node']:g} "
                    "or less, or add larger nodes to the cluster")
        if r.use_gpu and r.num_workers * r.gpus_per_worker > shape["gpus"]:
            return (f"the job asks for {r.num_workers * r.gpus_per_worker:g} GPU(s) and the cluster has "
                    f"{shape['gpus']:g}: set resources.use_gpu to false, use fewer workers, or add GPU nodes")
        return None

    def cluster_shape(self) -> dict:
        """The most CPUs on one node and the GPUs in the cluster: what a plan may ask for. With
        ``worker_types`` (an autoscaling or separate training cluster), the nodes that may be added."""
        if self.worker_types:
            kinds = self.worker_types.values()
            return {"cpus_per_node": max(k["CPU"] for k in kinds), "gpus": sum(k["GPU"] * k["max_workers"] for k in kinds)}
        import ray

        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        return {"cpus_per_node": max((n.get("CPU", 0) for n in nodes), default=1),
                "gpus": sum(n.get("GPU", 0) for n in nodes)}


def storage_uri_of(settings: dict) -> str:
    """Where the platform keeps artifacts: ``storage_uri``, else ``artifacts`` in its home folder."""
    from serve_app.local import home_dir

    return settings.get("storage_uri") or os.path.join(settings.get("home") or home_dir(), "artifacts")


def _worker_types_from_env() -> dict:
    raw = env_settings().worker_types
    if not raw:
        return {}
    try:
        types = json.loads(raw)
        return {name: {"CPU": float(t["CPU"]), "GPU": float(t.get("GPU", 0)), "max_workers": int(t["max_workers"])}
                for name, t in types.items()}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"VISIONTRAIN_WORKER_TYPES is not valid ({exc!r}): give a JSON object like "
                         '{"gpu-workers": {"CPU": 8, "GPU": 1, "max_workers": 4}}, or unset it to use the '
                         "nodes of the cluster the API runs on") from None
