"""Make a dataset URI readable on this node: local folders as they are, s3:// copied to a node cache."""
from __future__ import annotations

import hashlib
import os
import tempfile

from filelock import FileLock

from train_jobs.config import DATASET_ID, default_storage_uri
from train_jobs.data.imagefolder import DatasetError
from train_jobs.store import open_store

__all__ = ["local_dataset_path"]


def _cache_root() -> str:
    return os.environ.get("VISIONTRAIN_DATA_CACHE") or os.path.join(tempfile.gettempdir(), "visiontrain-data")


def local_dataset_path(uri: str, storage_uri: str | None = None) -> str:
    """A local folder holding the dataset at ``uri``; S3 prefixes are downloaded once per node.
    A dataset id (``ds-...``) names a stored version in the artifact store at ``storage_uri``."""
    if DATASET_ID.match(uri):
        store = open_store(storage_uri or default_storage_uri())
        if not store.exists(f"datasets/{uri}/.complete"):
            raise DatasetError(f"no dataset {uri} in {store.uri}; upload it with `visiontrain datasets add`, "
                               "or check the id")
        uri = store.child_uri(f"datasets/{uri}/files")
    if not uri.startswith("s3://"):
        return uri
    target = os.path.join(_cache_root(), hashlib.sha256(uri.encode()).hexdigest()[:16])
    os.makedirs(_cache_root(), exist_ok=True)
    with FileLock(target + ".lock"):
        done = os.path.join(target, ".complete")
        if os.path.exists(done):
            return target
        store = open_store(uri)
        keys = store.list()
        if not keys:
            raise DatasetError(f"no objects under {uri!r}; check the bucket and prefix")
        for key in keys:
            path = os.path.join(target, *key.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            store.download_file(key, path)
        open(done, "w").close()
    return target
