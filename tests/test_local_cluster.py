"""A local cluster (`make up` / `make down`) stops with everything it ran: a job still running when
it stops leaves no driver behind. The cluster is this test's own; only it is stopped."""
from __future__ import annotations

import time

import pytest

from serve_app.local import LocalRay, free_port, job_drivers

pytestmark = pytest.mark.ray


def test_stopping_the_cluster_stops_a_running_jobs_driver(tmp_path):
    cluster = LocalRay(str(tmp_path / "home"), gcs_port=free_port(), dashboard_port=free_port(), num_cpus=1).start()
    try:
        job = cluster.submit_job("python -c 'import time; time.sleep(300)'")
        deadline = time.time() + 60
        while not (job_drivers(cluster.gcs_port) and cluster.job_info(job)["status"] == "RUNNING"):
            assert time.time() < deadline, f"the job's driver did not start: {cluster.job_info(job)}"
            time.sleep(0.5)
    finally:
        cluster.stop()
    deadline = time.time() + 5
    while (left := job_drivers(cluster.gcs_port)) and time.time() < deadline:
        time.sleep(0.2)
    assert not left, f"the job's driver outlived its cluster: {[' '.join(p.cmdline()) for p in left]}"
