"""A Serve replica killed under steady request load: Serve replaces it, at most the requests in
flight at the kill fail, and every request after the replacement succeeds."""
import os
import signal
import threading
import time

import httpx
import pytest

pytestmark = pytest.mark.ray

CLIENTS = 4


def _replica_pids(cluster, deployment: str) -> set[int]:
    r = httpx.get(f"{cluster.dashboard_url}/api/v0/actors", headers=cluster.dashboard_headers(), timeout=10,
                  params={"detail": "true", "limit": 1000, "filter_keys": "class_name", "filter_predicates": "=",
                          "filter_values": f"ServeReplica:visiontrain:{deployment}"})
    r.raise_for_status()
    return {a["pid"] for a in r.json()["data"]["result"]["result"] if a["state"] == "ALIVE"}


class Load:
    """Clients sending requests one after another; each outcome kept with its start and end."""

    def __init__(self, api_url: str, tokens: list[str]):
        self.api_url, self.tokens, self.done, self.stop = api_url, tokens, [], threading.Event()
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
                time.sleep(0.1)

    def failed(self, since: float, until: float = float("inf")) -> list:
        return [d for d in self.done if since <= d[1] <= until and d[2] != 200]


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
    before = _replica_pids(ray_cluster, deployment)
    assert len(before) == 1
    load = Load(api_url, users)
    for t in load.threads:
        t.start()
    try:
        time.sleep(3)
        killed_at = time.time()
        os.kill(before.pop(), signal.SIGKILL)
        in_flight = sum(1 for t in load.threads if t.is_alive())  # at most one request per client
        deadline = time.time() + 120
        while not (_replica_pids(ray_cluster, deployment) - before):
            assert time.time() < deadline, "no new replica within 120 s"
            time.sleep(0.5)
        replaced_at = time.time()
        time.sleep(5)
    finally:
        load.stop.set()
        for t in load.threads:
            t.join(timeout=60)
    assert len(load.failed(0, killed_at)) == 0
    failed = load.failed(killed_at)
    assert len(failed) <= in_flight, failed
    assert all(s <= killed_at for s, _, _ in failed), failed  # only requests already sent when it died
    later = [d for d in load.done if d[0] >= replaced_at]
    assert later and all(d[2] == 200 for d in later), later
