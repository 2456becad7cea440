"""Safe ingestion of uploaded archives and folders: nothing lands outside the target, bombs stop early,
and only what a dataset is (images, label and metadata files) is kept; the rest is dropped and listed.

Everything is written to a hidden folder beside the target and renamed into place only when the
whole upload passed, so a rejected upload leaves nothing behind.
"""
from __future__ import annotations

import os
import shutil
import stat
import tarfile
import uuid
import zipfile
from dataclasses import dataclass, fields
from typing import BinaryIO, Iterator, Optional

from train_jobs.data.formats._index import DATA_EXTENSIONS
from visiontrain.errors import VisiontrainError
from visiontrain.settings import Settings, settings as env_settings

__all__ = ["IngestError", "IngestLimits", "dropped_because", "ingest"]

CHUNK = 1 << 20


class IngestError(VisiontrainError, ValueError):
    """An upload that was refused; nothing of it was kept."""


_DEFAULT = Settings.model_fields


@dataclass(frozen=True)
class IngestLimits:
    """Bounds on one upload (``VISIONTRAIN_INGEST_<FIELD>`` variables, e.g. ..._MAX_FILES)."""

    max_total_bytes: int = _DEFAULT["ingest_max_total_bytes"].default
    max_member_bytes: int = _DEFAULT["ingest_max_member_bytes"].default
    max_files: int = _DEFAULT["ingest_max_files"].default
    max_compression_ratio: float = _DEFAULT["ingest_max_compression_ratio"].default
    max_path_depth: int = _DEFAULT["ingest_max_path_depth"].default

    @classmethod
    def from_env(cls) -> "IngestLimits":
        env = env_settings()
        return cls(**{f.name: getattr(env, f"ingest_{f.name}") for f in fields(cls)})


def _safe_relpath(name: str) -> str:
    """The member's path inside the target, or an error for anything that would leave it."""
    if "\x00" in name:
        raise IngestError(f"member {name!r} has a NUL byte in its name")
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        raise IngestError(f"member {name!r} has an absolute path; archives must hold relative paths")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise IngestError(f"member {name!r} climbs out of the archive with '..'")
    return "/".join(parts)


def dropped_because(rel: str) -> Optional[str]:
    """Why a member is not kept, or None for an image, label or metadata file."""
    if any(part.startswith(".") or part == "__MACOSX" for part in rel.split("/")):
        return "hidden or system file"
    if not rel.lower().endswith(DATA_EXTENSIONS):
        return f"not an image or a label/metadata file ({', '.join(DATA_EXTENSIONS)})"
    return None


@dataclass
class _Member:
    name: str
    size: int
    compressed: int
    is_dir: bool
    link: bool
    special: bool
    open: object


def _zip_members(path: str) -> Iterator[_Member]:
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver stored no file type
            yield _Member(info.filename, info.file_size, info.compress_size, info.is_dir(),
                          kind == stat.S_IFLNK, kind not in (0, stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK),
                          lambda info=info: zf.open(info))


def _tar_members(path: str) -> Iterator[_Member]:
    with tarfile.open(path) as tf:
        for info in tf:
            yield _Member(info.name, info.size, info.size, info.isdir(), info.issym() or info.islnk(),
                          not (info.isfile() or info.isdir() or info.issym() or info.islnk()),
                          lambda info=info: tf.extractfile(info))


def _folder_members(root: str) -> Iterator[_Member]:
    for dirpath, dirnames, files in os.walk(root, followlinks=False):
        for name in sorted(dirnames) + sorted(files):
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, root)
            yield _Member(rel, st.st_size, st.st_size, stat.S_ISDIR(st.st_mode), stat.S_ISLNK(st.st_mode),
                          not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)),
                          lambda full=full: open(full, "rb"))


def _members(source: str) -> Iterator[_Member]:
    if os.path.isdir(source):
        return _folder_members(source)
    if zipfile.is_zipfile(source):
        return _zip_members(source)
    try:
        if tarfile.is_tarfile(source):
            return _tar_members(source)
    except (OSError, tarfile.TarError):
        pass
    raise IngestError(f"{os.path.basename(source)!r} is not a zip or tar archive or a folder; "
                      "upload a .zip, .tar, .tar.gz or a folder")


def _copy_bounded(src: BinaryIO, dst: BinaryIO, name: str, budget: int, limits: IngestLimits) -> int:
    written = 0
    while chunk := src.read(CHUNK):
        written += len(chunk)
        if written > limits.max_member_bytes:
            raise IngestError(f"member {name!r} is larger than {limits.max_member_bytes} bytes")
        if written > budget:
            raise IngestError(f"the upload unpacks to more than {limits.max_total_bytes} bytes")
        dst.write(chunk)
    return written


def ingest(source: str, target: str, limits: IngestLimits | None = None) -> dict:
    """Unpack (or copy) ``source`` into the new folder ``target``; returns counts.

    Refused: members outside the target (absolute, ``..``), links, devices, more files or
    bytes than the limits, and members (or, for compressed tars, the whole archive) whose
    compression ratio marks a bomb. Sizes are counted as bytes are written, not taken from
    headers. Files that are not images, labels or dataset metadata are not written; ``dropped``
    lists them with the reason.
    """
    limits = limits or IngestLimits.from_env()
    if os.path.exists(target):
        raise IngestError(f"target {target!r} exists already; stored datasets are never modified in place")
    parent = os.path.dirname(os.path.abspath(target))
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, f".ingest-{uuid.uuid4().hex}")
    os.makedirs(staging)
    files = total = expanded = 0
    dropped: list[dict] = []
    # a compressed tar gives no per-member sizes: its whole expansion is bounded by the same ratio
    expand_budget = (limits.max_compression_ratio * max(os.path.getsize(source), 1 << 20)
                     if os.path.isfile(source) else float("inf"))
    try:
        for m in _members(source):
            rel = _safe_relpath(m.name)
            if not rel:
                continue
            if m.link:
                raise IngestError(f"member {m.name!r} is a link; links are refused (they can point outside the dataset)")
            if m.special:
                raise IngestError(f"member {m.name!r} is not a regular file or folder")
            if rel.count("/") >= limits.max_path_depth:
                raise IngestError(f"member {m.name!r} is nested deeper than {limits.max_path_depth} folders")
            dest = os.path.join(staging, *rel.split("/"))
            if not os.path.abspath(dest).startswith(staging + os.sep):
                raise IngestError(f"member {m.name!r} would land outside the target")
            if m.is_dir:
                os.makedirs(dest, exist_ok=True)
                continue
            if files + len(dropped) >= limits.max_files:
                raise IngestError(f"the upload has more than {limits.max_files} files")
            if m.size > limits.max_member_bytes or total + m.size > limits.max_total_bytes:
                raise IngestError(f"member {m.name!r} ({m.size} bytes) takes the upload past its size limits")
            if m.compressed and m.size / m.compressed > limits.max_compression_ratio:
                raise IngestError(f"member {m.name!r} expands {m.size / m.compressed:.0f}x "
                                  f"(limit {limits.max_compression_ratio:.0f}x): refused as a possible archive bomb")
            expanded += m.size
            if expanded > expand_budget:
                raise IngestError(f"the archive expands more than {limits.max_compression_ratio:.0f}x its size: "
                                  "refused as a possible archive bomb")
            reason = dropped_because(rel)
            if reason:
                dropped.append({"path": rel, "reason": reason})
                continue
            files += 1
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with m.open() as src, open(dest, "xb") as dst:
                total += _copy_bounded(src, dst, m.name, limits.max_total_bytes - total, limits)
        if files == 0:
            raise IngestError("the upload holds no images or label files" if dropped else "the upload holds no files")
        os.rename(staging, target)
    except IngestError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise IngestError(f"the archive is damaged or unreadable: {exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"path": os.path.abspath(target), "files": files, "bytes": total, "dropped": dropped}
