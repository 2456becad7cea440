"""The UI's HTTP client of the platform API (the UI imports nothing from the platform itself).
Every failure becomes :class:`ApiError` with a sentence fit to show a person."""
from __future__ import annotations

import json
import os
import time
from typing import Any, Iterator, Optional

import httpx

__all__ = ["ApiError", "UiClient"]

RETRYABLE = (502, 503, 504)  # a replica being replaced: reconnect
READ_RETRY_S = (0.5, 1.0, 2.0, 4.0)  # waits before a GET is sent again while Serve replaces a replica
ARCHIVE_TYPES = {".zip": "application/zip", ".tar.gz": "application/gzip", ".tgz": "application/gzip",
                 ".tar": "application/x-tar"}


class ApiError(Exception):
    """What went wrong, as a sentence (never a traceback); ``status`` is the HTTP status or 0."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _replica_lost(r: httpx.Response) -> bool:
    """502-504, or Serve's bare-text 500 for a request whose ingress replica died while answering."""
    return r.status_code in RETRYABLE or (r.status_code == 500 and "json" not in r.headers.get("content-type", ""))


def _sentence(r: httpx.Response) -> str:
    try:
        detail = r.json().get("detail", r.text)
    except ValueError:
        detail = r.text
    if isinstance(detail, list):  # FastAPI's validation errors
        detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
    return str(detail) or f"HTTP {r.status_code}"


class UiClient:
    """One signed-in person: their tokens, refreshed when the access token runs out."""

    def __init__(self, url: str, tokens: Optional[dict] = None):
        self.url = url.rstrip("/")
        self.tokens = tokens or {}

    @classmethod
    def login(cls, url: str, username: str, password: str) -> "UiClient":
        client = cls(url)
        client.tokens = client._call("POST", "/v1/auth/login", auth=False,
                                     json={"username": username, "password": password}).json()
        return client

    def _call(self, method: str, path: str, auth: bool = True, headers: Optional[dict] = None, timeout: float = 60,
              **kwargs) -> httpx.Response:
        refreshed, waits = False, iter(READ_RETRY_S if method == "GET" else ())
        while True:
            sent = {**(headers or {}), **({"authorization": f"Bearer {self.tokens.get('access_token')}"} if auth else {})}
            try:
                r = httpx.request(method, self.url + path, headers=sent, timeout=timeout, **kwargs)
            except httpx.HTTPError as exc:
                raise ApiError(0, f"the platform at {self.url} does not answer ({exc.__class__.__name__}); "
                                  "is it running?") from None
            if r.status_code == 401 and auth and not refreshed and self._refresh():
                refreshed = True
                continue
            wait = next(waits, None) if _replica_lost(r) else None
            if wait is not None:
                time.sleep(wait)
                continue
            if r.status_code >= 400:
                raise ApiError(r.status_code, _sentence(r))
            return r

    def _refresh(self) -> bool:
        if not self.tokens.get("refresh_token"):
            return False
        r = httpx.post(f"{self.url}/v1/auth/refresh", json={"refresh_token": self.tokens["refresh_token"]}, timeout=30)
        if r.status_code != 200:
            return False
        self.tokens = r.json()
        return True

    def get(self, path: str, **params) -> Any:
        return self._call("GET", path, params={k: v for k, v in params.items() if v not in (None, "")}).json()

    def vocabulary(self) -> dict:
        """Tasks, dataset formats and model sources as the platform names them (no sign-in needed)."""
        return self._call("GET", "/v1/vocabulary", auth=False).json()

    def post(self, path: str, body: Optional[dict] = None) -> Any:
        return self._call("POST", path, json=body or {}).json()

    def content(self, path: str) -> bytes:
        return self._call("GET", path).content

    def chat(self, message: str, session_id: Optional[str]) -> dict:
        return self.post("/v1/chat", {"message": message, **({"session_id": session_id} if session_id else {})})

    def upload_dataset(self, path: str, language: str) -> dict:
        name = os.path.basename(path)
        suffix = next((s for s in ARCHIVE_TYPES if name.lower().endswith(s)), None)
        if suffix is None:
            raise ApiError(415, f"{name} is not an archive: upload a .zip, .tar, .tar.gz or .tgz of the dataset folder")
        with open(path, "rb") as f:
            return self._call("POST", "/v1/datasets", content=f.read(), timeout=600,
                              headers={"content-type": ARCHIVE_TYPES[suffix]},
                              params={"name": name[: -len(suffix)][:128] or "dataset", "language": language}).json()

    def events(self, job_id: str, retries: int = 6) -> Iterator[tuple[str, dict]]:
        """The job's server-sent events as (kind, event) until it ends. A stream that breaks off is
        reconnected with the last event id, so no event is lost or repeated."""
        kind, last_id, failures = None, None, 0
        while True:
            headers = {"authorization": f"Bearer {self.tokens.get('access_token')}",
                       **({"last-event-id": last_id} if last_id else {})}
            try:
                with httpx.stream("GET", f"{self.url}/v1/jobs/{job_id}/events", headers=headers, timeout=None) as r:
                    if r.status_code >= 400 and not _replica_lost(r):
                        r.read()
                        raise ApiError(r.status_code, _sentence(r))
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
