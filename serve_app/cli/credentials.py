"""The CLI's sign-in, kept between commands in ``$VISIONTRAIN_HOME/credentials.json`` (mode 600) for
one API URL: the API given (``--api``), else ``$VISIONTRAIN_API_URL``, else the last login's."""
from __future__ import annotations

import json
import os
from typing import Optional

from serve_app.client import Client
from serve_app.local import home_dir
from visiontrain.settings import settings as env_settings

__all__ = ["DEFAULT_URL", "api_client", "login"]

DEFAULT_URL = "http://127.0.0.1:8000"


def _path() -> str:
    return os.path.join(home_dir(), "credentials.json")


def _load() -> dict:
    try:
        with open(_path()) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _saver(url: str):
    def save(tokens: dict) -> None:
        os.makedirs(os.path.dirname(_path()), exist_ok=True)
        fd = os.open(_path(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({**tokens, "url": url}, f)
    return save


def _url(url: Optional[str], saved: dict) -> str:
    return (url or env_settings().api_url or saved.get("url") or DEFAULT_URL).rstrip("/")


def api_client(url: Optional[str] = None) -> Client:
    """A client with the kept sign-in when it was for this API (none otherwise)."""
    saved = _load()
    url = _url(url, saved)
    tokens = {k: v for k, v in saved.items() if k != "url"} if saved.get("url", "").rstrip("/") == url else {}
    return Client(url, tokens, on_tokens=_saver(url))


def login(url: Optional[str], username: str, password: str) -> Client:
    url = (url or env_settings().api_url or DEFAULT_URL).rstrip("/")
    return Client.login(url, username, password, on_tokens=_saver(url))
