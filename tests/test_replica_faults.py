"""A Serve replica killed under steady request load: Serve replaces it, at most the requests in
flight at the kill fail (with a retryable status), and every request after the replacement succeeds."""
import os
import signal
import threading
import time

import httpx
import pytest

pytestmark = pytest.mark.ray

CLIENTS = 6
RETRYABLE = {502, 503, 504, "RemoteProtocolError", "ReadError", "ConnectError"}


def _replicas(cluster, deployment: str) -> dict[int, str]:
    """pid -> state of the deployment's replicas, as Serve's controller reports them."""
    r = httpx.get(f"{cluster.dashboard_url}/api/serve/applications/", headers=cluster.dashboard_headers(), timeout=10)
    r.raise_for_status()
    replicas = r.json()["applications"]["visiontrain"]["deployments"][deployment]["replicas"]
    return {rep.get("pid"): rep["state"] for rep in replicas}  # no pid yet while it starts


class Load:
    """Clients sending requests one after another; each outcome kept with its start and end."""

    def __init__(self, api_url: str, tokens: list[str]):
        self.api_url, self.done, self.stop = api_url, [], threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(t, i)) for i, t in enumerate(tokens)]

    def _client(self, token: str, i: int) -> None:
        with httpx.Client(base_url=self.api_url, headers={"authorization": f"Bearer {token}"}, timeout=60) as c:
            while not self.stop.is_set():
                start = time.time()
                try:
                    if i % 2:
                        r = c.post("/v1/parse", json={"message": "resnet18 classification, 3 epochs"})
                    else:
                        r = c.get("/v1/me")
                    status = r.status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.done.append((start, time.time(), status))
                time.sleep(0.2)  # 5 requests a second: under the per-user rate limit (600 a minute)


@pytest.mark.parametrize("deployment", ["Ingress", "IntentParser"])
def test_a_killed_replica_is_replaced_and_only_requests_in_flight_fail(api_url, admin_token, ray_cluster,
                                                                      deployment):
    users = []
    for n in range(CLIENTS):
        name = f"load-{deployment.lower()}-{n}"
        httpx.post(f"{api_url}/v1/users", headers={"authorization": f"Bearer {admin_token}"},
                   json={"username": name, "password": f"{name}-password"}).raise_for_status()
        users.append(httpx.post(f"{api_url}/v1/auth/login", json={"username": name, "password": f"{name}-password"})
                     .json()["access_token"])
    (killed, state), = _replicas(ray_cluster, deployment).items()  # one replica, running
    assert state == "RUNNING"
    load = Load(api_url, users)
    for t in load.threads:
        t.start()
    try:
        time.sleep(3)
        killed_at = time.time()
        os.kill(killed, signal.SIGKILL)
        deadline = time.time() + 120
        while not any(pid != killed and s == "RUNNING" for pid, s in _replicas(ray_cluster, deployment).items()):
            assert time.time() < deadline, "no new replica running within 120 s"
            time.sleep(0.5)
        replaced_at = time.time()
        time.sleep(5)
    finally:
        load.stop.set()
        for t in load.threads:
            t.join(timeout=60)
    before = [d for d in load.done if d[1] < killed_at]
    assert before and all(d[2] == 200 for d in before)
    in_flight = [d for d in load.done if d[0] <= killed_at <= d[1]]  # at most one per client
    failed = [d for d in load.done if d[1] >= killed_at and d[2] != 200]
    print(f"{deployment}: {len(in_flight)} in flight at the kill, {len(failed)} failed {[d[2] for d in failed]}, "
          f"replaced after {replaced_at - killed_at:.1f} s")
    assert all(d in in_flight and d[2] in RETRYABLE for d in failed), (in_flight, failed)
    later = [d for d in load.done if d[0] >= replaced_at]
    assert later and all(d[2] == 200 for d in later), later
