"""The artifact store: a job's folder is the source of truth for its run.

Two back ends behind one small interface: a local folder (the default) and S3 or any
S3-compatible server through boto3 (endpoint and keys from the usual AWS variables).
Keys are relative POSIX paths such as ``jobs/<id>/state.json``.
"""
from __future__ import annotations

from train_jobs.store._base import ArtifactStore, StoreError, StoreNotFound, StoreUnreachable, file_sha256
from train_jobs.store._local import LocalStore
from train_jobs.store._s3 import S3Store, split_s3_uri

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


def open_store(uri: str) -> ArtifactStore:
    """The store for a location: ``s3://bucket/prefix`` or a local folder."""
    if uri.startswith("s3://"):
        return S3Store(uri)
    if "://" in uri:
        raise StoreError(f"unsupported storage URI {uri!r}: use a local folder or s3://bucket/prefix")
    return LocalStore(uri)
