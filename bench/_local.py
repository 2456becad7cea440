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
