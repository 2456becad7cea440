"""The local platform's Ray head: started in its own process group, stopped by killing only that group.

(``ray stop`` would kill every Ray process on the machine, other people's included.)
State lives in ``$VISIONTRAIN_HOME/cluster.json``; token authentication is on, with the token
kept in ``$VISIONTRAIN_HOME/ray_auth_token``.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Optional

import httpx
import yaml

from train_jobs.config import home_dir

__all__ = ["LocalRay", "free_port", "home_dir", "job_drivers", "node_types_config", "ray_client_env", "start_mlflow",
           "start_ui", "stop_mlflow", "stop_node", "stop_ui", "use_client_env", "worker_types"]


# Serve's faster internal paths (gRPC between proxy and replicas, user code on the replica's own
# event loop): POST /v1/parse went from ~95 to ~137 requests/s on 2 cores (bench/parse.py).
# With gRPC the proxy takes at most RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH (4 MiB by default) from a
# replica in one message, and it batches a streamed body's chunks: model weights need more.
SERVE_TUNING = {"RAY_SERVE_USE_GRPC_BY_DEFAULT": "1", "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
                "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0", "RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH": str(1 << 30)}
# Ray Train's controller looks at its workers every 2 s by default; each step of starting a worker
# group, registering a checkpoint and noticing the end waits for that poll. Every 0.5 s, a warm
# two-epoch job on 2 cores took 33.5-36.6 s instead of 39.5 s, and a checkpoint counts sooner.
TRAIN_TUNING = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_client_env(home: str) -> dict[str, str]:
    """Environment every process that talks to this cluster needs (token auth on, same token)."""
    token_path = os.path.join(home, "ray_auth_token")
    os.makedirs(home, mode=0o700, exist_ok=True)
    if not os.path.exists(token_path):
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": token_path, "RAY_USAGE_STATS_ENABLED": "0"}


def use_client_env(home: str) -> None:
    """Set :func:`ray_client_env` in this process, keeping a token already in the environment
    (that one is the cluster's own)."""
    for key, value in ray_client_env(home).items():
        os.environ.setdefault(key, value)


@dataclass
class LocalRay:
    home: str
    gcs_port: int = 6380
    dashboard_port: int = 8265
    num_cpus: Optional[int] = None
    metrics_port: Optional[int] = None
    autoscaling_config: Optional[str] = None
    pgid: Optional[int] = None

    @property
    def state_file(self) -> str:
        return os.path.join(self.home, "cluster.json")

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def metrics_url(self) -> Optional[str]:
        """Ray's Prometheus endpoint on this node (training metrics included), when a port was set."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics" if self.metrics_port else None

    @property
    def autoscaling_copy(self) -> str:
        """What the autoscaler of this cluster reads: ``autoscaling_config`` fitted to this machine."""
        return os.path.join(self.home, f"autoscaling-{self.gcs_port}.yaml")

    @property
    def gcs_address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @classmethod
    def load(cls, home: str) -> Optional["LocalRay"]:
        path = os.path.join(home, "cluster.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return cls(**json.load(f))

    def dashboard_headers(self) -> dict[str, str]:
        with open(os.path.join(self.home, "ray_auth_token")) as f:
            return {"authorization": f"Bearer {f.read().strip()}"}

    def alive_nodes(self) -> list[dict]:
        """The cluster's alive nodes from the dashboard's state API (the head included)."""
        r = httpx.get(f"{self.dashboard_url}/api/v0/nodes", params={"limit": 1000, "detail": "true"},
                      headers=self.dashboard_headers(), timeout=10)
        r.raise_for_status()
        return [n for n in r.json()["data"]["result"]["result"] if n["state"] == "ALIVE"]

    def submit_job(self, entrypoint: str) -> str:
        """A Ray Job through the dashboard's REST API (what ``ray job submit`` does); its id."""
        r = httpx.post(f"{self.dashboard_url}/api/jobs/", headers=self.dashboard_headers(), timeout=30,
                       json={"entrypoint": entrypoint, "entrypoint_num_cpus": 0})
        r.raise_for_status()
        return r.json()["submission_id"]

    def job_info(self, job_id: str, logs: bool = False) -> dict:
        """Ray's record of a job (``status``, ``message``, ...), with ``logs`` when asked."""
        url, headers = f"{self.dashboard_url}/api/jobs/{job_id}", self.dashboard_headers()
        info = httpx.get(url, headers=headers, timeout=10).raise_for_status().json()
        if logs:
            info["logs"] = httpx.get(f"{url}/logs", headers=headers, timeout=10).raise_for_status().json()["logs"]
        return info

    def is_up(self) -> bool:
        """The dashboard answers, with this cluster's token, and its Jobs API is ready."""
        try:
            headers = self.dashboard_headers()
            for route in ("/api/version", "/api/jobs/"):
                r = httpx.get(f"{self.dashboard_url}{route}", headers=headers, timeout=2)
                r.raise_for_status()
                r.json()
            return True
        except (OSError, ValueError, httpx.HTTPError):
            return False

    def start(self, timeout_s: float = 120) -> "LocalRay":
        # Job entrypoints say `python`: make it this environment's interpreter.
        path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
        env = {**self._process_env(), "PATH": path}
        temp_dir = os.path.join("/tmp", f"vt-ray-{self.gcs_port}")
        cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
               f"--port={self.gcs_port}", f"--dashboard-port={self.dashboard_port}",
               "--dashboard-host=127.0.0.1", "--include-dashboard=true", f"--temp-dir={temp_dir}",
               "--disable-usage-stats",
               f"--dashboard-agent-listen-port={free_port()}"]  # its fixed default would clash with another cluster
        if self.autoscaling_config:
            env["RAY_FAKE_CLUSTER"] = "1"  # Ray's fake multi-node provider: worker "nodes" are raylets here
            cmd.append(f"--autoscaling-config={self._autoscaling_config_copy()}")
        if self.num_cpus is not None:
            cmd.append(f"--num-cpus={self.num_cpus}")
        if self.metrics_port is not None:
            cmd.append(f"--metrics-export-port={self.metrics_port}")
        with open(os.path.join(self.home, f"ray-head-{self.gcs_port}.log"), "ab") as log:  # the child keeps its copy
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pgid = proc.pid
        deadline = time.time() + timeout_s
        while not self.is_up():
            if proc.poll() is not None:
                raise RuntimeError(f"ray start exited with {proc.returncode}; see {log.name}")
            if time.time() > deadline:
                self.stop()
                raise RuntimeError(f"Ray's dashboard did not come up within {timeout_s:.0f}s; see {log.name}")
            time.sleep(0.5)
        with open(self.state_file, "w") as f:
            json.dump(asdict(self), f)
        return self

    def _process_env(self) -> dict[str, str]:
        """What this cluster's Ray processes run with. RAY_ADDRESS: Ray's own "auto" lookups (Ray
        Train's placement-group cleaner) find this cluster even while another runs on the machine;
        without it they fail and leak placement groups."""
        return {**SERVE_TUNING, **TRAIN_TUNING, **os.environ, **ray_client_env(self.home), "RAY_ADDRESS": self.gcs_address}

    def add_node(self, num_cpus: int, labels: Optional[dict[str, str]] = None, timeout_s: float = 60) -> int:
        """Join one more raylet (a worker node on this machine) to this cluster, in its own process
        group; returns that group's id, for :func:`stop_node` (killing it loses the node, as a crash would)."""
        before = {n["node_id"] for n in self.alive_nodes()}
        cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", f"--address={self.gcs_address}",
               f"--num-cpus={num_cpus}", "--disable-usage-stats", f"--dashboard-agent-listen-port={free_port()}"]
        if labels:
            cmd.append("--labels=" + ",".join(f"{k}={v}" for k, v in labels.items()))
        env = self._process_env()
        with open(os.path.join(self.home, f"ray-node-{self.gcs_port}.log"), "ab") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout_s
        while not {n["node_id"] for n in self.alive_nodes()} - before:
            if proc.poll() is not None or time.time() > deadline:
                _kill_group(proc.pid)
                with open(log.name, errors="replace") as f:
                    tail = f.read()[-2000:]
                raise RuntimeError(f"the node did not join within {timeout_s:.0f}s; the end of {log.name}:\n{tail}")
            time.sleep(0.5)
        return proc.pid

    def _autoscaling_config_copy(self) -> str:
        """``autoscaling_config`` with its provider pointed at this head's GCS port, GPU node types
        left out on a machine without one, and the head's CPU count from its node type (unless
        ``num_cpus`` says otherwise)."""
        config = node_types_config(self.autoscaling_config)
        config["provider"]["gcs_address"] = self.gcs_address
        if not os.path.exists("/dev/nvidiactl"):  # a "GPU" node here would be placed, then fail in CUDA
            types = config["available_node_types"]
            config["available_node_types"] = {n: t for n, t in types.items() if not t["resources"].get("GPU")}
        if self.num_cpus is None:
            self.num_cpus = int(config["available_node_types"][config["head_node_type"]]["resources"].get("CPU", 0))
        with open(self.autoscaling_copy, "w") as f:
            yaml.safe_dump(config, f)
        return self.autoscaling_copy

    def stop(self) -> None:
        import psutil

        if self.pgid is not None:
            _kill_group(self.pgid)
        for driver in job_drivers(self.gcs_port):
            with contextlib.suppress(psutil.Error):
                driver.kill()
        if os.path.exists(self.state_file):
            os.unlink(self.state_file)


def node_types_config(path: str) -> dict:
    """A cluster-launcher config (``cluster.yaml``), checked for what local autoscaling needs."""
    try:
        with open(path) as f:
            config = yaml.safe_load(f)
        types, head = config["available_node_types"], config["head_node_type"]
        if config["provider"]["type"] != "fake_multinode" or head not in types:
            raise ValueError("provider.type must be fake_multinode and head_node_type one of available_node_types")
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a local autoscaling config ({exc}); start from the repository's "
                         "cluster.yaml, or start without --autoscaling-config") from None
    return config


def worker_types(config: dict) -> dict[str, dict]:
    """The worker node types an autoscaler may add: ``{name: {"CPU", "GPU", "max_workers"}}``."""
    return {name: {"CPU": t.get("resources", {}).get("CPU", 0), "GPU": t.get("resources", {}).get("GPU", 0),
                   "max_workers": t.get("max_workers", 0)}
            for name, t in config["available_node_types"].items() if name != config["head_node_type"]}


def start_ui(home: str, api_url: str, port: int, host: str = "127.0.0.1", timeout_s: float = 120) -> str:
    """The chat UI (``python -m gradio_ui``) in its own process group, recorded in ``home/ui.json``."""
    url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
    _start(home, "ui", [sys.executable, "-m", "gradio_ui", "--api", api_url, "--host", host, "--port", str(port)],
           url, {"GRADIO_TEMP_DIR": os.path.join(home, "ui-files")}, timeout_s, api=api_url)
    return url


def stop_ui(home: str) -> bool:
    """Stop the UI that :func:`start_ui` started for ``home``; False when there was none."""
    return _stop(home, "ui")


def start_mlflow(home: str, port: int, host: str = "127.0.0.1", timeout_s: float = 120) -> str:
    """An MLflow tracking server and UI on the local store (``home/mlflow``: SQLite and artifacts), in its
    own process group, recorded in ``home/mlflow.json``; its URL is what MLFLOW_TRACKING_URI should say."""
    store = os.path.join(home, "mlflow")
    os.makedirs(store, mode=0o700, exist_ok=True)
    url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", host, "--port", str(port), "--workers", "1",
           "--backend-store-uri", f"sqlite:///{os.path.join(store, 'mlflow.db')}",
           "--artifacts-destination", os.path.join(store, "artifacts")]
    # its background job runner (prompt optimisation, ...) is not used here: two processes fewer
    _start(home, "mlflow", cmd, f"{url}/health", {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, timeout_s)
    return url


def stop_mlflow(home: str) -> bool:
    """Stop the server that :func:`start_mlflow` started for ``home``; False when there was none."""
    return _stop(home, "mlflow")


def _start(home: str, name: str, cmd: list[str], health_url: str, env: dict[str, str], timeout_s: float,
           **recorded: str) -> None:
    """Run ``cmd`` in its own process group until ``health_url`` answers 200; recorded in ``home/<name>.json``."""
    _stop(home, name)
    with open(os.path.join(home, f"{name}.log"), "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**env, **os.environ})
    deadline = time.time() + timeout_s
    while True:
        try:
            if httpx.get(health_url, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            _kill_group(proc.pid)
            raise RuntimeError(f"{name} did not come up on {health_url}; see {log.name}")
        time.sleep(0.5)
    with open(os.path.join(home, f"{name}.json"), "w") as f:
        json.dump({"pgid": proc.pid, "url": health_url, **recorded}, f)


def _stop(home: str, name: str) -> bool:
    path = os.path.join(home, f"{name}.json")
    if not os.path.exists(path):
        return False
    with open(path) as f:
        _kill_group(json.load(f)["pgid"])
    os.unlink(path)
    return True


def stop_node(pgid: int) -> None:
    """Kill a node that :meth:`LocalRay.add_node` started: its raylet and every process on it at
    once, as when a machine is lost (Ray's workers run in sessions of their own)."""
    import psutil

    try:
        procs = [psutil.Process(pgid), *psutil.Process(pgid).children(recursive=True)]
    except psutil.NoSuchProcess:
        procs = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    _kill_group(pgid, signal.SIGKILL)


def job_drivers(gcs_port: int) -> list:
    """The processes of Ray Job drivers (psutil) of the cluster on ``gcs_port``. Each runs in a
    session of its own: drivers of a cluster stopped mid-job were seen alive minutes later, one
    at a full core, so :meth:`LocalRay.stop` kills them."""
    import psutil

    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            env = proc.environ()
            if "RAY_JOB_CONFIG_JSON_ENV_VAR" in env and env.get("RAY_ADDRESS", "").endswith(f":{gcs_port}"):
                found.append(proc)
    return found


def _kill_group(pgid: int, *signals: signal.Signals) -> None:
    for sig in signals or (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.time() + 10
        while time.time() < deadline and _group_alive(pgid):
            time.sleep(0.2)


def _group_alive(pgid: int) -> bool:
    try:
        os.waitpid(pgid, os.WNOHANG)  # reap the group leader if it is our own child
    except ChildProcessError:
        pass
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
