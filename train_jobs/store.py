"""The artifact store: a job's folder is the source of truth for its run.

Two back ends behind one small interface: a local folder (the default) and S3 or any
S3-compatible server through boto3 (endpoint and keys from the usual AWS variables).
Keys are relative POSIX paths such as ``jobs/<id>/state.json``.
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import tempfile
from abc import ABC, abstractmethod
import itertools
import socket
import time
from typing import Any, Iterator, Optional

__all__ = [
    "ArtifactStore",
    "LocalStore",
    "S3Store",
    "StoreError",
    "StoreNotFound",
    "StoreUnreachable",
    "file_sha256",
    "open_store",
    "split_s3_uri",
]


class StoreError(RuntimeError):
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


def _clean_key(key: str) -> str:
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


class LocalStore(ArtifactStore):
    def __init__(self, root: str):
        self.root = os.path.abspath(os.path.expanduser(root))
        self.uri = self.root

    def _path(self, key: str) -> str:
        return os.path.join(self.root, *_clean_key(key).split("/"))

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
            return [_clean_key(prefix)]
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


def _s3_endpoint() -> Optional[str]:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://bucket/prefix`` as S3 will read it: empty and ``.`` parts dropped,
    ``..`` refused. Rules about which prefixes may be used compare these, never the raw text."""
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    if not bucket:
        raise StoreError(f"{uri!r} names no bucket; write s3://bucket/prefix")
    parts = [p for p in prefix.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise StoreError(f"{uri!r} has a '..' part; write the prefix without it")
    return bucket, "/".join(parts)


_LOG_PARTS = ".d"  # an S3 log is a folder of parts beside its key: <key>.d/
_CLOCK_SKEW_NS = 60 * 10**9
_WRITER = f"{socket.gethostname()[:40]}-{os.getpid()}"
_APPENDS = itertools.count()


class S3Store(ArtifactStore):
    """S3 or any S3-compatible server. Errors, throttling and an unreachable server are retried with
    exponential backoff (boto3's ``standard`` mode; the same number of attempts for the pyarrow
    filesystem Ray Train writes checkpoints through): ``VISIONTRAIN_S3_MAX_ATTEMPTS`` (default 8,
    about a minute of backoff) sets how long an outage is waited out."""

    def __init__(self, uri: str, max_attempts: Optional[int] = None, connect_timeout: float = 5.0):
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = split_s3_uri(uri)
        self.uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.endpoint = _s3_endpoint()
        self.max_attempts = max_attempts or _s3_max_attempts()
        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            config=Config(
                retries={"mode": "standard", "max_attempts": self.max_attempts},
                connect_timeout=connect_timeout,
                read_timeout=60,
            ),
        )

    def _key(self, key: str) -> str:
        key = _clean_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, fn, *args, **kwargs):
        from botocore.exceptions import ClientError, EndpointConnectionError, ConnectTimeoutError, NoCredentialsError

        try:
            return fn(*args, **kwargs)
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            raise StoreUnreachable(
                f"cannot reach the S3 endpoint {self.endpoint or 'of AWS'} for {self.uri} after {self.max_attempts} "
                f"attempts: {exc}. Check AWS_ENDPOINT_URL and that the server is up (VISIONTRAIN_S3_MAX_ATTEMPTS "
                "sets how many attempts), or use a local folder as storage."
            ) from None
        except NoCredentialsError:
            raise StoreError(
                f"no S3 credentials for {self.uri}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or a profile), or use a local folder as storage"
            ) from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise StoreNotFound(f"no artifact at {self.uri}: {exc}") from None
            if code == "NoSuchBucket":
                raise StoreError(f"bucket {self.bucket!r} does not exist; create it or fix the storage URI") from None
            raise StoreError(f"S3 refused the request for {self.uri}: {code} {exc}") from None

    def write_bytes(self, key: str, data: bytes) -> None:
        self._call(self.client.put_object, Bucket=self.bucket, Key=self._key(key), Body=data)

    def read_bytes(self, key: str) -> bytes:
        resp = self._call(self.client.get_object, Bucket=self.bucket, Key=self._key(key))
        return resp["Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self._call(self.client.head_object, Bucket=self.bucket, Key=self._key(key))
            return True
        except StoreNotFound:
            return False

    def _objects(self, prefix: str) -> list[dict]:
        """The objects under ``prefix`` (a folder: ``data/shapes`` is not ``data/shapes-v2``), keys relative
        to the store's own prefix."""
        full = self._key(prefix) if prefix else self.prefix
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call(lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=full)))
        strip = len(self.prefix) + 1 if self.prefix else 0
        rel = _clean_key(prefix) if prefix else ""
        out = []
        for page in pages:
            for obj in page.get("Contents", []):
                if self.prefix and not obj["Key"].startswith(self.prefix + "/"):
                    continue
                key = obj["Key"][strip:]
                if not rel or key == rel or key.startswith(rel + "/"):
                    out.append({"key": key, "size": obj.get("Size", 0), "etag": obj.get("ETag", "")})
        return sorted(out, key=lambda o: o["key"])

    def list(self, prefix: str = "") -> list[str]:
        return [o["key"] for o in self._objects(prefix)]

    def list_objects(self, prefix: str = "") -> list[dict]:
        """``{"key", "size", "etag"}`` for each object under ``prefix``: what changed content looks like."""
        return self._objects(prefix)

    def delete(self, prefix: str) -> None:
        keys = [self._key(k) for k in self.list(prefix)]
        for i in range(0, len(keys), 1000):
            objs = [{"Key": k} for k in keys[i : i + 1000]]
            self._call(self.client.delete_objects, Bucket=self.bucket, Delete={"Objects": objs})

    def append_line(self, key: str, line: str) -> None:
        """One new object per append (``<key>.d/<time>-<writer>-<n>``), one writer per object: S3 has no
        append, and rewriting a shared object would lose what another writer appended meanwhile."""
        name = f"{time.time_ns():020d}-{_WRITER}-{next(_APPENDS):08d}"
        self.write_bytes(f"{key}{_LOG_PARTS}/{name}", line.rstrip("\n").encode("utf-8") + b"\n")

    def read_lines(self, key: str, cursor: Optional[dict] = None) -> list[str]:
        """New parts are listed from a minute before the newest one read (writers' clocks differ a
        little), and parts already read are skipped."""
        cursor = {} if cursor is None else cursor
        folder = self._key(f"{key}{_LOG_PARTS}") + "/"
        early = []
        if not cursor.get("started") and self.exists(key):  # a log written whole by an earlier version
            early = self.read_text(key).splitlines()
        cursor["started"] = True
        seen: dict[str, int] = cursor.setdefault("seen", {})
        newest = max(seen.values(), default=0)
        after = f"{folder}{max(0, newest - _CLOCK_SKEW_NS):020d}" if newest else ""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call(lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=folder, StartAfter=after)))
        lines = []
        for obj in (o for page in pages for o in page.get("Contents", [])):
            if obj["Key"] in seen:
                continue
            body = self._call(self.client.get_object, Bucket=self.bucket, Key=obj["Key"])["Body"].read()
            lines += body.decode("utf-8").splitlines()
            seen[obj["Key"]] = int(obj["Key"][len(folder):].split("-", 1)[0])
        newest = max(seen.values(), default=0)
        for k in [k for k, t in seen.items() if t < newest - 2 * _CLOCK_SKEW_NS]:
            del seen[k]
        return early + lines

    def logs(self, prefix: str) -> list[str]:
        return sorted({k.split(_LOG_PARTS + "/", 1)[0] for k in self.list(prefix) if _LOG_PARTS + "/" in k})

    def open_read(self, key: str) -> tuple[int, Iterator[bytes]]:
        resp = self._call(self.client.get_object, Bucket=self.bucket, Key=self._key(key))
        return resp["ContentLength"], resp["Body"].iter_chunks(1 << 20)

    def presigned_url(self, key: str, expires_s: int = 900) -> str:
        """A URL that reads the object for ``expires_s`` seconds, without the store's keys."""
        return self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": self._key(key)},
                                                  ExpiresIn=expires_s)

    def upload_file(self, key: str, path: str) -> None:
        self._call(self.client.upload_file, path, self.bucket, self._key(key))

    def download_file(self, key: str, path: str) -> None:
        self._call(self.client.download_file, self.bucket, self._key(key), path)

    def child_uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def pyarrow_filesystem(self) -> Any:
        from pyarrow import fs

        kwargs = {"endpoint_override": self.endpoint} if self.endpoint else {}
        if self.endpoint and self.endpoint.startswith("http://"):
            kwargs["scheme"] = "http"
        region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
        if region:
            kwargs["region"] = region
        return fs.S3FileSystem(retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=self.max_attempts),
                               connect_timeout=5, **kwargs)


def _s3_max_attempts() -> int:
    raw = os.environ.get("VISIONTRAIN_S3_MAX_ATTEMPTS", "8")
    try:
        value = int(raw)
        if not 1 <= value <= 50:
            raise ValueError
    except ValueError:
        raise StoreError(f"VISIONTRAIN_S3_MAX_ATTEMPTS must be a whole number from 1 to 50 (got {raw!r}); "
                         "set it so, or unset it for 8") from None
    return value


def open_store(uri: str) -> ArtifactStore:
    """The store for a location: ``s3://bucket/prefix`` or a local folder."""
    if uri.startswith("s3://"):
        return S3Store(uri)
    if "://" in uri:
        raise StoreError(f"unsupported storage URI {uri!r}: use a local folder or s3://bucket/prefix")
    return LocalStore(uri)
