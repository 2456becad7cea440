"""Make a dataset URI readable on this node: local folders as they are, s3:// copied to a node cache.

The cache is keyed by content (each object's key, size and ETag), so a changed bucket is fetched
again; it is bounded (``VISIONTRAIN_DATA_CACHE_BYTES``, default 50 GiB) and the least recently
used datasets are evicted. A download obeys the upload limits (files, bytes) and keeps only what
a dataset is (images, label and metadata files), as an upload does.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from filelock import FileLock, Timeout

from train_jobs.config import DATASET_ID, default_storage_uri
from train_jobs.data.imagefolder import DatasetError
from train_jobs.data.ingest import IngestLimits, dropped_because
from train_jobs.store import open_store
from visiontrain.settings import settings as env_settings

__all__ = ["local_dataset_path"]

DONE = ".complete"
FETCH_THREADS = 16  # objects downloaded at once (the S3 store's connection pool is as large)
IN_USE_S = 3600.0  # a dataset used this recently is never evicted (a job may be reading it)


def _cache_root() -> str:
    return env_settings().data_cache or os.path.join(tempfile.gettempdir(), "visiontrain-data")


def local_dataset_path(uri: str, storage_uri: str | None = None) -> str:
    """A local folder holding the dataset at ``uri``; S3 prefixes are downloaded once per node and content.
    A dataset id (``ds-...``) names a stored version in the artifact store at ``storage_uri``."""
    if DATASET_ID.match(uri):
        store = open_store(storage_uri or default_storage_uri())
        if not store.exists(f"datasets/{uri}/.complete"):
            raise DatasetError(f"no dataset {uri} in the platform's storage; upload it with `visiontrain datasets "
                               "add`, or check the id")
        uri = store.child_uri(f"datasets/{uri}/files")
    if not uri.startswith("s3://"):
        return uri
    return _fetch(uri, IngestLimits.from_env())


def _fetch(uri: str, limits: IngestLimits) -> str:
    store = open_store(uri)
    objects = store.list_objects()
    if not objects:
        raise DatasetError(f"no objects under {uri!r}; check the bucket and prefix")
    kept = [o for o in objects if not dropped_because(o["key"])]
    if len(kept) > limits.max_files or sum(o["size"] for o in kept) > limits.max_total_bytes:
        raise DatasetError(f"{uri} holds {len(kept)} files and {sum(o['size'] for o in kept)} bytes; the limits are "
                           f"{limits.max_files} files and {limits.max_total_bytes} bytes (VISIONTRAIN_INGEST_MAX_FILES, "
                           "VISIONTRAIN_INGEST_MAX_TOTAL_BYTES)")
    big = next((o for o in kept if o["size"] > limits.max_member_bytes), None)
    if big:
        raise DatasetError(f"{big['key']} is {big['size']} bytes, over the per-file limit of {limits.max_member_bytes}")
    content = json.dumps([store.uri, [(o["key"], o["size"], o["etag"]) for o in kept]])
    target = os.path.join(_cache_root(), hashlib.sha256(content.encode()).hexdigest()[:32])
    os.makedirs(_cache_root(), mode=0o700, exist_ok=True)
    with FileLock(target + ".lock"):
        done = os.path.join(target, DONE)
        if not os.path.exists(done):
            shutil.rmtree(target, ignore_errors=True)  # a download that died half-way
            _download(store, kept, target)
            with open(done, "w") as f:
                json.dump({"uri": uri, "bytes": sum(o["size"] for o in kept)}, f)
        os.utime(done)
    _evict(env_settings().data_cache_bytes, keep=target)
    return target


def _download(store, objects: list[dict], target: str) -> None:
    """Every object under ``target``, ``FETCH_THREADS`` at a time (one request each would leave a large
    dataset waiting on round trips)."""
    def one(o: dict) -> None:
        path = os.path.join(target, *o["key"].split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        store.download_file(o["key"], path)
        if os.path.getsize(path) != o["size"]:
            raise DatasetError(f"{o['key']} changed while it was fetched; run the job again")

    with ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="dataset-fetch") as pool:
        for _ in pool.map(one, objects):
            pass


def _size(done: str) -> int:
    try:
        with open(done) as f:
            return int(json.load(f)["bytes"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _evict(budget: int, keep: str) -> None:
    """Remove the least recently used cached datasets until the cache fits ``budget`` (never ``keep``,
    nor one used in the last hour, nor one another process holds)."""
    root = _cache_root()
    entries = []
    for name in os.listdir(root):
        folder = os.path.join(root, name)
        done = os.path.join(folder, DONE)
        if os.path.isdir(folder) and os.path.exists(done):
            entries.append((os.path.getmtime(done), folder, _size(done)))
    total = sum(size for *_, size in entries)
    for used, folder, size in sorted(entries):
        if total <= budget:
            return
        if folder == keep or time.time() - used < IN_USE_S:
            continue
        try:
            with FileLock(folder + ".lock", timeout=0):
                shutil.rmtree(folder, ignore_errors=True)
            total -= size
        except Timeout:
            continue
