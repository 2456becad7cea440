"""The one client of the HTTP API: the CLI, the chat UI and scripts all use it. It imports nothing of
the platform but the root of its errors, so the UI stays a client of the API like any other.

``Client.login(url, user, password)`` signs in; the access token is refreshed when it runs out, and
``on_tokens`` (if given) is told each time, to keep them (the CLI writes them to a file). GETs are
sent again while Serve replaces a replica; uploads stream from disk; a job's event stream reconnects
where it broke off. Every failure is an :class:`ApiError` whose message is a sentence for a person.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Iterator, Optional

import httpx

from visiontrain.errors import VisiontrainError

__all__ = ["ARCHIVE_TYPES", "ApiError", "Client", "NotLoggedIn", "metrics_line", "prediction_line"]

RETRYABLE = (502, 503, 504)  # a replica being replaced: reconnect
READ_RETRY_S = (0.5, 1.0, 2.0, 4.0)  # waits before a GET is sent again while Serve replaces a replica
ARCHIVE_TYPES = {".zip": "application/zip", ".tar.gz": "application/gzip", ".tgz": "application/gzip",
                 ".tar": "application/x-tar"}


class ApiError(VisiontrainError, RuntimeError):
    """What went wrong, as a sentence (never a traceback); ``status`` is the HTTP status, 0 when the
    API could not be reached."""

    def __init__(self, status: int, detail: Any):
        self.status, self.detail = status, detail
        if isinstance(detail, list):  # FastAPI's validation errors
            detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
        elif not isinstance(detail, str):
            detail = json.dumps(detail, ensure_ascii=False)
        super().__init__(detail or f"HTTP {status}")


class NotLoggedIn(ApiError):
    pass


def _replica_lost(r: httpx.Response) -> bool:
    """A replica being replaced: 502-504, or Serve's bare-text 500 for a request whose ingress replica
    died while answering (the API's own errors are JSON)."""
    return r.status_code in RETRYABLE or (r.status_code == 500 and "json" not in r.headers.get("content-type", ""))


def _error(r: httpx.Response) -> ApiError:
    try:
        detail = r.json().get("detail", r.text)
    except (ValueError, AttributeError):
        detail = r.text
    return (NotLoggedIn if r.status_code == 401 else ApiError)(r.status_code, detail)


def prediction_line(p: dict) -> str:
    """One image's answer from ``predict`` in a few words, whatever the task."""
    if "top" in p:
        return ", ".join(f"{t['class']} {t['score']:.3f}" for t in p["top"])
    if "objects" in p:
        return f"{len(p['objects'])} objects" + "".join(f", {o['class']} {o['score']:.2f}" for o in p["objects"])
    if "coverage" in p:
        return ", ".join(f"{c} {share:.1%}" for c, share in p["coverage"].items())
    return f"{p['class']} (score {p['score']:.4g}, threshold {p['threshold']:.4g})"


def metrics_line(metrics: dict) -> str:
    """A batch prediction's scores (its state's ``metrics``) in a few words."""
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())


class Client:
    """One signed-in person at one API ``url``: their ``tokens`` (a dict, updated in place)."""

    def __init__(self, url: str, tokens: Optional[dict] = None,
                 on_tokens: Optional[Callable[[dict], None]] = None):
        self.url = url.rstrip("/")
        self.tokens = tokens if tokens is not None else {}
        self.on_tokens = on_tokens
        self.http = httpx.Client(base_url=self.url, timeout=60)

    @classmethod
    def login(cls, url: str, username: str, password: str,
              on_tokens: Optional[Callable[[dict], None]] = None) -> "Client":
        client = cls(url, on_tokens=on_tokens)
        r = client._send("POST", "/v1/auth/login", json={"username": username, "password": password}, auth=False)
        client._keep({**r.json(), "username": username})
        return client

    def _keep(self, tokens: dict) -> None:
        self.tokens.update(tokens)
        if self.on_tokens:
            self.on_tokens(self.tokens)

    def _headers(self, auth: bool) -> dict:
        if not auth:
            return {}
        if not self.tokens.get("access_token"):
            raise NotLoggedIn(401, f"not logged in to {self.url}: log in first (`visiontrain login`, or the "
                                   "UI's sign-in)")
        return {"authorization": f"Bearer {self.tokens['access_token']}"}

    def _send(self, method: str, path: str, auth: bool = True, headers: Optional[dict] = None,
              **kwargs) -> httpx.Response:
        refreshed, waits = False, iter(READ_RETRY_S if method == "GET" else ())
        while True:
            sent = {**kwargs, "content": kwargs["content"]()} if callable(kwargs.get("content")) else kwargs
            try:
                r = self.http.request(method, path, headers={**self._headers(auth), **(headers or {})}, **sent)
            except httpx.TransportError as exc:
                raise ApiError(0, f"cannot reach the API at {self.url} ({exc.__class__.__name__}: {exc}); is the "
                                  "platform running? Start it with `make up`, or point --api (or "
                                  "VISIONTRAIN_API_URL) at it") from None
            if r.status_code == 401 and auth and not refreshed and self._refresh():
                refreshed = True
                continue
            wait = next(waits, None) if _replica_lost(r) else None
            if wait is None:
                break
            time.sleep(wait)
        if r.status_code >= 400:
            raise _error(r)
        return r

    def _refresh(self) -> bool:
        token = self.tokens.get("refresh_token")
        if not token:
            return False
        r = self.http.post("/v1/auth/refresh", json={"refresh_token": token})
        if r.status_code != 200:
            return False
        self._keep(r.json())
        return True

    def get(self, path: str, **params) -> Any:
        return self._send("GET", path, params={k: v for k, v in params.items() if v not in (None, "")}).json()

    def post(self, path: str, body: Optional[dict] = None, **params) -> Any:
        return self._send("POST", path, json=body or {}, params={k: v for k, v in params.items() if v is not None}).json()

    def patch(self, path: str, body: dict) -> Any:
        return self._send("PATCH", path, json=body).json()

    def delete(self, path: str) -> Any:
        return self._send("DELETE", path).json()

    def text(self, path: str) -> str:
        return self._send("GET", path).text

    def content(self, path: str) -> bytes:
        return self._send("GET", path).content

    def save_artifact(self, job_id: str, name: str, path: str) -> str:
        """The job's artifact ``name`` written to the local file ``path`` (returned)."""
        with open(path, "wb") as f:
            f.write(self.content(f"/v1/jobs/{job_id}/artifacts/{name}"))
        return path

    def vocabulary(self) -> dict:
        """Tasks, dataset formats and model sources as the platform names them (no sign-in needed)."""
        return self._send("GET", "/v1/vocabulary", auth=False).json()

    def chat(self, message: str, session_id: Optional[str] = None) -> dict:
        return self.post("/v1/chat", {"message": message, **({"session_id": session_id} if session_id else {})})

    def upload_dataset(self, archive: str, name: Optional[str] = None, fmt: Optional[str] = None,
                       language: Optional[str] = None) -> dict:
        """Upload a .zip/.tar/.tar.gz/.tgz, streamed from disk (never read whole into memory)."""
        base = os.path.basename(archive)
        suffix = next((s for s in ARCHIVE_TYPES if base.lower().endswith(s)), None)
        if suffix is None:
            raise ApiError(415, f"{base} is not an archive: upload a .zip, .tar, .tar.gz or .tgz of the dataset folder")
        params = {"name": (name or base[: -len(suffix)])[:128] or "dataset", "format": fmt, "language": language}

        def chunks() -> Iterator[bytes]:  # opened again if the request is sent again (a refreshed token)
            with open(archive, "rb") as f:
                yield from iter(lambda: f.read(1 << 20), b"")

        headers = {"content-type": ARCHIVE_TYPES[suffix], "content-length": str(os.path.getsize(archive))}
        return self._send("POST", "/v1/datasets", content=chunks, headers=headers, timeout=600,
                          params={k: v for k, v in params.items() if v}).json()

    def predict(self, job_id: str, images: list[str], draw: bool = False) -> dict:
        """A succeeded job's model on image files (sent as multipart ``images``)."""
        files = []
        for path in images:
            with open(path, "rb") as f:
                files.append(("images", (os.path.basename(path), f.read())))
        return self._send("POST", f"/v1/jobs/{job_id}/predict", files=files, timeout=300,
                          params={"draw": "true"} if draw else {}).json()

    def predict_batch(self, job_id: str, dataset: str, follow: bool = True, every_s: float = 1.0) -> Iterator[dict]:
        """Start a batch prediction over ``dataset``; its state, then (``follow``) each change of it
        until it has ended."""
        batch = self.post(f"/v1/jobs/{job_id}/predict-batch", {"dataset": dataset})
        yield batch
        while follow and not batch["ended"]:
            time.sleep(every_s)
            now = self.get(f"/v1/jobs/{job_id}/predict-batch/{batch['batch_id']}")
            if now != batch:
                yield now
            batch = now

    def events(self, job_id: str, retries: int = 6, language: str = "en") -> Iterator[tuple[str, dict]]:
        """The job's server-sent events as (kind, event) until it ends, state messages in ``language``.
        A stream that breaks off is reconnected with the last event id, so no event is lost or repeated."""
        kind, last_id, failures = None, None, 0
        while True:
            headers = {**self._headers(True), **({"last-event-id": last_id} if last_id else {})}
            try:
                with self.http.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=None,
                                      params={"language": language}) as r:
                    if r.status_code >= 400 and not _replica_lost(r):
                        r.read()
                        raise _error(r)
                    for line in r.iter_lines() if r.status_code < 400 else ():
                        if line.startswith("id: "):
                            last_id = line[4:]
                        elif line.startswith("event: "):
                            kind = line[7:]
                        elif line.startswith("data: "):
                            failures = 0
                            yield kind, json.loads(line[6:])
                            if kind == "end":
                                return
            except httpx.HTTPError:
                pass
            failures += 1
            if failures > retries:
                raise ApiError(0, f"the event stream of job {job_id} broke off and did not come back")
            time.sleep(min(8.0, 0.25 * 2 ** failures))
