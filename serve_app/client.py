"""A small client of the HTTP API (what the CLI uses; scripts can too).

``ApiClient.login(url, user, password)`` keeps the tokens in ``$VISIONTRAIN_HOME/credentials.json``
(mode 600); later clients load them and refresh the access token when it has expired.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Iterator, Optional

import httpx

from serve_app.local import home_dir
from visiontrain.errors import VisiontrainError
from visiontrain.settings import settings as env_settings

__all__ = ["ApiClient", "ApiError", "NotLoggedIn"]

DEFAULT_URL = "http://127.0.0.1:8000"
RETRYABLE = (502, 503, 504)  # a replica being replaced: reconnect
READ_RETRY_S = (0.5, 1.0, 2.0, 4.0)  # waits before a GET is sent again while Serve replaces a replica


def _replica_lost(r: httpx.Response) -> bool:
    """A replica being replaced: 502-504, or Serve's bare-text 500 for a request whose ingress replica
    died while answering (the API's own errors are JSON)."""
    return r.status_code in RETRYABLE or (r.status_code == 500 and "json" not in r.headers.get("content-type", ""))


class ApiError(VisiontrainError, RuntimeError):
    def __init__(self, status: int, detail: Any):
        self.status, self.detail = status, detail
        text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)
        super().__init__(f"{status}: {text}")


class NotLoggedIn(ApiError):
    pass


def _credentials_path() -> str:
    return os.path.join(home_dir(), "credentials.json")


class ApiClient:
    def __init__(self, url: Optional[str] = None, tokens: Optional[dict] = None):
        saved = tokens or self._load()
        self.url = (url or env_settings().api_url or saved.get("url") or DEFAULT_URL).rstrip("/")
        self.tokens = saved if saved.get("url", self.url).rstrip("/") == self.url else {}
        self.http = httpx.Client(base_url=self.url, timeout=60)

    @staticmethod
    def _load() -> dict:
        try:
            with open(_credentials_path()) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _save(self) -> None:
        path = _credentials_path()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({**self.tokens, "url": self.url}, f)

    @classmethod
    def login(cls, url: Optional[str], username: str, password: str) -> "ApiClient":
        client = cls(url, tokens={"url": url} if url else {})
        r = client._send("POST", "/v1/auth/login", json={"username": username, "password": password}, auth=False)
        client.tokens = {**r.json(), "username": username}
        client._save()
        return client

    def _send(self, method: str, path: str, auth: bool = True, headers: Optional[dict] = None,
              **kwargs) -> httpx.Response:
        waits = iter(READ_RETRY_S if method == "GET" else ())
        while True:
            try:
                r = self.http.request(method, path, headers={**self._headers(auth), **(headers or {})}, **kwargs)
                if r.status_code == 401 and auth and self._refresh():
                    r = self.http.request(method, path, headers={**self._headers(auth), **(headers or {})}, **kwargs)
            except httpx.TransportError as exc:
                raise ApiError(0, f"cannot reach the API at {self.url} ({exc}); start the local platform with "
                                  "`make up`, or give --api URL") from None
            wait = next(waits, None) if _replica_lost(r) else None
            if wait is None:
                break
            time.sleep(wait)
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise (NotLoggedIn if r.status_code == 401 else ApiError)(r.status_code, detail)
        return r

    def _headers(self, auth: bool) -> dict:
        if not auth:
            return {}
        if not self.tokens.get("access_token"):
            raise NotLoggedIn(401, f"not logged in to {self.url}: run `visiontrain login`")
        return {"authorization": f"Bearer {self.tokens['access_token']}"}

    def _refresh(self) -> bool:
        token = self.tokens.get("refresh_token")
        if not token:
            return False
        r = self.http.post("/v1/auth/refresh", json={"refresh_token": token})
        if r.status_code != 200:
            return False
        self.tokens.update(r.json())
        self._save()
        return True

    def get(self, path: str, **params) -> Any:
        return self._send("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def post(self, path: str, body: Optional[dict] = None) -> Any:
        return self._send("POST", path, json=body).json()

    def text(self, path: str) -> str:
        return self._send("GET", path).text

    def chat(self, message: str, session_id: Optional[str] = None) -> dict:
        return self.post("/v1/chat", {"message": message, **({"session_id": session_id} if session_id else {})})

    def upload_dataset(self, archive: str, name: str, fmt: Optional[str] = None) -> dict:
        kind = "application/zip" if archive.endswith(".zip") else (
            "application/gzip" if archive.endswith((".tar.gz", ".tgz")) else "application/x-tar")
        with open(archive, "rb") as f:
            return self._send("POST", "/v1/datasets", content=f.read(), headers={"content-type": kind}, timeout=600,
                              params={"name": name, **({"format": fmt} if fmt else {})}).json()

    def events(self, job_id: str, retries: int = 6) -> Iterator[tuple[str, dict]]:
        """The job's server-sent events as (kind, event) until it ends. A stream that breaks off is
        reconnected with the last event id, so no event is lost or repeated."""
        kind, last_id, failures = None, None, 0
        while True:
            headers = {**self._headers(True), **({"last-event-id": last_id} if last_id else {})}
            try:
                with self.http.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=None) as r:
                    if r.status_code >= 400 and not _replica_lost(r):
                        r.read()
                        raise ApiError(r.status_code, r.json().get("detail", r.text))
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
