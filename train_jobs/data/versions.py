"""Dataset versions: an uploaded dataset is stored once under an id derived from its content.
The same bytes give the same id; a stored version is never modified in place (its marker is
written last, and an id that has a marker is only ever read)."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from typing import Optional

from train_jobs.data.ingest import IngestLimits, ingest
from train_jobs.data.validate import validate_dataset
from train_jobs.store import ArtifactStore

__all__ = ["add_dataset", "convert_dataset", "dataset_id", "delete_dataset"]

MARKER = ".complete"


def dataset_id(folder: str) -> str:
    """``ds-`` + the SHA-256 of every file's relative path and bytes, each length-prefixed, so that
    no two different folders give the same input to the hash."""
    h = hashlib.sha256(b"visiontrain-dataset-v2\0")
    for dirpath, dirnames, files in os.walk(folder):
        dirnames.sort()
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, folder).replace(os.sep, "/").encode()
            h.update(len(rel).to_bytes(8, "big") + rel + os.path.getsize(path).to_bytes(8, "big"))
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return "ds-" + h.hexdigest()


def add_dataset(source: str, store: ArtifactStore, fmt: Optional[str] = None, language: str = "en",
                limits: Optional[IngestLimits] = None, origin: Optional[str] = None) -> dict:
    """Ingest an archive or folder safely, validate it, and store it as a version (if new).
    Returns ``{"dataset_id", "uri", "created", "report"}``; the report says whether it can train, and
    ``source``: the version it was made from (``origin``, for a conversion)."""
    with tempfile.TemporaryDirectory(prefix="vt-upload-") as tmp:
        unpacked = os.path.join(tmp, "data")
        dropped = ingest(source, unpacked, limits)["dropped"]
        entries = [e for e in os.listdir(unpacked) if not e.startswith(".")]
        root = os.path.join(unpacked, entries[0]) if len(entries) == 1 and os.path.isdir(
            os.path.join(unpacked, entries[0])) else unpacked  # an archive of one top folder
        ds_id = dataset_id(root)
        prefix = f"datasets/{ds_id}"
        found = tuple(("files_dropped", f"{d['path']} ({d['reason']})") for d in dropped)
        report = validate_dataset(root, fmt, language=language, found=found)
        if origin:
            report["source"] = origin
        created = not store.exists(f"{prefix}/{MARKER}")
        if created:
            # no clean-up of a half-written earlier attempt: the same id means the same files, and an
            # upload of the same bytes at the same moment writes them too
            for dirpath, _, files in os.walk(root):
                for name in files:
                    path = os.path.join(dirpath, name)
                    store.upload_file(f"{prefix}/files/{os.path.relpath(path, root).replace(os.sep, '/')}", path)
            store.write_json(f"{prefix}/report.json", {**report, "dataset": ds_id})
            store.write_text(f"{prefix}/{MARKER}", ds_id)
        shutil.rmtree(unpacked, ignore_errors=True)
    return {"dataset_id": ds_id, "uri": store.child_uri(f"{prefix}/files"), "created": created,
            "report": {**report, "dataset": ds_id}}


def delete_dataset(store: ArtifactStore, ds_id: str) -> None:
    """Remove a stored version: its marker first, so a half-removed version is never read as whole."""
    store.delete(f"datasets/{ds_id}/{MARKER}")
    store.delete(f"datasets/{ds_id}/")


def convert_dataset(ds_id: str, to: str, store: ArtifactStore, language: str = "en") -> dict:
    """The stored version ``ds_id`` written in format ``to`` and stored as a new version (as
    :func:`add_dataset` answers) whose report names ``ds_id`` as its source."""
    from train_jobs.data.fetch import local_dataset_path
    from train_jobs.data.formats import convert, read_dataset

    source = store.read_json(f"datasets/{ds_id}/report.json")
    index = read_dataset(local_dataset_path(ds_id, store.uri), source.get("format"))
    with tempfile.TemporaryDirectory(prefix="vt-convert-") as tmp:
        out = os.path.join(tmp, "data")
        convert(index, to, out)
        return add_dataset(out, store, to, language, origin=ds_id)
