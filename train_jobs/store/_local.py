"""The local back end: a folder (the default store)."""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Iterator, Optional

from train_jobs.store._base import ArtifactStore, StoreNotFound, clean_key

__all__ = ["LocalStore"]


class LocalStore(ArtifactStore):
    def __init__(self, root: str):
        self.root = os.path.abspath(os.path.expanduser(root))
        self.uri = self.root

    def _path(self, key: str) -> str:
        return os.path.join(self.root, *clean_key(key).split("/"))

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def read_bytes(self, key: str) -> bytes:
        try:
            with open(self._path(key), "rb") as f:
                return f.read()
        except (FileNotFoundError, IsADirectoryError):
            raise StoreNotFound(f"no artifact {key!r} in {self.uri}") from None

    def exists(self, key: str) -> bool:
        return os.path.isfile(self._path(key))

    def list(self, prefix: str = "") -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if os.path.isfile(base):
            return [clean_key(prefix)]
        out = []
        for dirpath, _, files in os.walk(base):
            for name in files:
                if not name.startswith(".tmp-"):
                    out.append(os.path.relpath(os.path.join(dirpath, name), self.root).replace(os.sep, "/"))
        return sorted(out)

    def delete(self, prefix: str) -> None:
        path = self._path(prefix)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.unlink(path)

    def append_line(self, key: str, line: str) -> None:
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:  # one write of a few lines: appends do not interleave
            f.write(line.rstrip("\n") + "\n")

    def read_lines(self, key: str, cursor: Optional[dict] = None) -> list[str]:
        cursor = {} if cursor is None else cursor
        try:
            with open(self._path(key), "rb") as f:
                f.seek(cursor.get("offset", 0))
                data = f.read()
        except FileNotFoundError:
            return []
        whole = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next call
        cursor["offset"] = cursor.get("offset", 0) + len(whole)
        return whole.decode("utf-8").splitlines()

    def logs(self, prefix: str) -> list[str]:
        return [k for k in self.list(prefix) if k.endswith(".jsonl")]

    def open_read(self, key: str) -> tuple[int, Iterator[bytes]]:
        path = self._path(key)
        if not os.path.isfile(path):
            raise StoreNotFound(f"no artifact {key!r} in {self.uri}")

        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk

        return os.path.getsize(path), chunks()

    def upload_file(self, key: str, path: str) -> None:
        with open(path, "rb") as f:
            self.write_bytes(key, f.read())

    def download_file(self, key: str, path: str) -> None:
        if not self.exists(key):
            raise StoreNotFound(f"no artifact {key!r} in {self.uri}")
        shutil.copyfile(self._path(key), path)

    def child_uri(self, key: str) -> str:
        return self._path(key)
