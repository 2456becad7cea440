"""The store's interface and its errors; helpers written once on top of the few methods a back end has."""
from __future__ import annotations

import hashlib
import json
import posixpath
from abc import ABC, abstractmethod
from typing import Any, Iterator, Optional
from visiontrain.errors import VisiontrainError

__all__ = ["ArtifactStore", "StoreError", "StoreNotFound", "StoreUnreachable", "clean_key", "file_sha256"]


class StoreError(VisiontrainError, RuntimeError):
    """The artifact store could not do what was asked."""


class StoreNotFound(StoreError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class StoreUnreachable(StoreError):
    """The store's server did not answer (after retries)."""


def file_sha256(path: str) -> str:
    """The hex SHA-256 of a file, read in chunks (checkpoint manifests record it)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def clean_key(key: str) -> str:
    key = key.replace("\\", "/")
    if key.startswith("/") or ".." in key.split("/"):
        raise StoreError(f"artifact key {key!r} points outside the store")
    norm = posixpath.normpath(key)
    if norm in ("", "."):
        raise StoreError(f"artifact key {key!r} is empty")
    return norm


class ArtifactStore(ABC):
    uri: str

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Write a whole object; readers see the old object or the new one, never a part."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` (recursively), sorted."""

    @abstractmethod
    def delete(self, prefix: str) -> None:
        """Delete one key or everything under a prefix."""

    @abstractmethod
    def append_line(self, key: str, line: str) -> None:
        """Add ``line`` (one or more lines) to the log at ``key``. Many processes may append to one log;
        nothing appended is ever lost or rewritten."""

    @abstractmethod
    def read_lines(self, key: str, cursor: Optional[dict] = None) -> list[str]:
        """The lines of the log at ``key`` ([] when there is none). With a ``cursor`` (a dict the store
        keeps its place in), only the lines appended since the last call with the same dict."""

    @abstractmethod
    def logs(self, prefix: str) -> list[str]:
        """The keys of the logs (``*.jsonl``) under ``prefix``."""

    @abstractmethod
    def open_read(self, key: str) -> tuple[int, Iterator[bytes]]:
        """``(size, chunks)`` of an object, read as it is sent (never whole in memory)."""

    @abstractmethod
    def upload_file(self, key: str, path: str) -> None: ...

    @abstractmethod
    def download_file(self, key: str, path: str) -> None: ...

    @abstractmethod
    def child_uri(self, key: str) -> str:
        """The full URI of a key (a local path, or s3://bucket/prefix/key)."""

    def pyarrow_filesystem(self) -> Any:
        """A pyarrow filesystem for Ray Train's ``storage_filesystem``; None means 'from the URI'."""
        return None

    def write_text(self, key: str, text: str) -> None:
        self.write_bytes(key, text.encode("utf-8"))

    def read_text(self, key: str) -> str:
        return self.read_bytes(key).decode("utf-8")

    def write_json(self, key: str, obj: Any) -> None:
        self.write_text(key, json.dumps(obj, indent=2, ensure_ascii=False, default=str))

    def read_json(self, key: str) -> Any:
        return json.loads(self.read_text(key))

    def read_jsonl(self, key: str, cursor: Optional[dict] = None) -> list[dict]:
        return [json.loads(line) for line in self.read_lines(key, cursor) if line.strip()]
