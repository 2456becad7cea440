"""The S3 back end: S3 or any S3-compatible server, through boto3."""
from __future__ import annotations

import itertools
import os
import socket
import time
from typing import Any, Iterator, Optional

from train_jobs.store._base import ArtifactStore, StoreError, StoreNotFound, StoreUnreachable, clean_key
from visiontrain.settings import settings as env_settings

__all__ = ["S3Store", "split_s3_uri"]


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
        self.max_attempts = max_attempts or env_settings().s3_max_attempts
        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            config=Config(
                retries={"mode": "standard", "max_attempts": self.max_attempts},
                connect_timeout=connect_timeout,
                read_timeout=60,
                max_pool_connections=32,  # data/fetch.py downloads 16 objects at once
            ),
        )

    def _key(self, key: str) -> str:
        key = clean_key(key)
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
        rel = clean_key(prefix) if prefix else ""
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



