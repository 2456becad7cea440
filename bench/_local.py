"""What the platform benches share: a throwaway local Ray cluster in a temporary folder, with the
API deployed on it when asked (as ``make up`` does), stopped at the end."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from typing import Iterator, Optional

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from serve_app.local import LocalRay, free_port, ray_client_env  # noqa: E402


@contextlib.contextmanager
def local_platform(name: str, admin: Optional[dict] = None) -> Iterator[tuple[str, LocalRay, Optional[str]]]:
    """``(folder, cluster, api_url)``; ``api_url`` is None unless ``admin`` (the first admin's
    VISIONTRAIN_ADMIN_USER / _PASSWORD) asks for the API."""
    with tempfile.TemporaryDirectory(prefix=f"vt-bench-{name}-") as d:
        home = os.path.join(d, "home")
        os.environ.update(ray_client_env(home))
        cluster = LocalRay(home, gcs_port=free_port(), dashboard_port=free_port(), num_cpus=os.cpu_count()).start()
        try:
            url = None
            if admin:
                port = free_port()
                subprocess.run([sys.executable, "-m", "serve_app.cli", "serve", "--address", cluster.gcs_address,
                                "--serve-port", str(port)], check=True, stdout=subprocess.DEVNULL,
                               env={**os.environ, "VISIONTRAIN_HOME": home, **admin})
                url = f"http://127.0.0.1:{port}"
            yield d, cluster, url
        finally:
            cluster.stop()


def settle(busy_percent: float = 25, timeout_s: float = 60) -> float:
    """Wait until the machine is idle (the last job's processes have exited): CPU use under
    ``busy_percent`` over one second, or ``timeout_s``. Returns the seconds waited."""
    import psutil

    t0 = time.time()
    while psutil.cpu_percent(interval=1.0) >= busy_percent and time.time() - t0 < timeout_s:
        pass
    return round(time.time() - t0, 1)


def run_to_end(service, cfg, cap_s: float = 1800, poll_s: float = 2.0) -> dict:
    """Submit ``cfg`` through ``service`` (a JobService) and wait for the job to end: its record with
    ``wall_s`` (submit to end) and ``timed_out``. A job still running after ``cap_s`` is reported as it
    was (``state``, ``message``) with ``timed_out`` true, then stopped, so that the next one runs alone."""
    t0 = time.time()
    service.submit(cfg)
    try:
        record, timed_out = service.wait(cfg.job_id, timeout_s=cap_s, poll_s=poll_s), False
    except TimeoutError:
        record, timed_out = service.get(cfg.job_id), True
        service.stop(cfg.job_id)
        with contextlib.suppress(TimeoutError):
            service.wait(cfg.job_id, timeout_s=120, poll_s=poll_s)
    return {**record, "wall_s": round(time.time() - t0, 1), "timed_out": timed_out}
