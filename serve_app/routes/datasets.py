"""``/v1/datasets``: upload an archive (zip or tar, the raw request body), which is unpacked
safely, validated and stored as a content-addressed version; list, look over, rename, convert,
download and delete your datasets. A dataset that is not yours answers 404."""
import asyncio
import os
import shutil
import tempfile
from typing import Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from serve_app.routes.deps import current_user, language, platform, writer_user
from train_jobs.config import FormatName
from train_jobs.data.findings import render_summary
from train_jobs.data.formats import FormatError
from train_jobs.data.gallery import gallery
from train_jobs.data.ingest import IngestError, IngestLimits
from train_jobs.data.fetch import local_dataset_path
from train_jobs.data.versions import MARKER, add_dataset, convert_dataset, delete_dataset
from train_jobs.data import DatasetError
from train_jobs.store import open_store

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])
SUFFIX = {"application/zip": ".zip", "application/x-tar": ".tar", "application/gzip": ".tar.gz",
          "application/x-gzip": ".tar.gz"}
UPLOADS_PER_USER = 2   # at once, across replicas
UPLOAD_S = 3600.0      # an upload's hold on its slot lapses after this, should its replica die


@router.post("", status_code=201)
async def upload(request: Request, name: str = Query(..., min_length=1, max_length=128),
                 format: Optional[FormatName] = Query(None),
                 lang: str = Depends(language),
                 user: dict = Depends(writer_user), p=Depends(platform)) -> dict:
    """Body: the archive itself, with ``content-type: application/zip`` (or x-tar, gzip).
    Answers the dataset id and the health report; a dataset that cannot train says why."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind not in SUFFIX:
        raise HTTPException(415, f"send the archive as the body with content-type one of {sorted(SUFFIX)}")
    lease = await asyncio.to_thread(p.records.take_lease, "upload", user["username"], UPLOADS_PER_USER, UPLOAD_S)
    if lease is None:
        raise HTTPException(429, f"you have {UPLOADS_PER_USER} uploads under way; wait for one to finish",
                            headers={"Retry-After": "10"})
    try:
        return await _upload(request, name, format, lang, kind, user, p)
    finally:
        await asyncio.to_thread(p.records.drop_lease, lease)


async def _upload(request: Request, name: str, format: Optional[str], language: str, kind: str, user: dict, p) -> dict:
    limits = IngestLimits.from_env()
    with tempfile.TemporaryDirectory(prefix="vt-upload-") as tmp:
        path = os.path.join(tmp, "upload" + SUFFIX[kind])
        size = 0
        with open(path, "wb") as f:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limits.max_total_bytes:
                    raise HTTPException(413, f"the upload is over {limits.max_total_bytes >> 20} MiB; split it or "
                                             "put it in S3 and give the s3:// location")
                f.write(chunk)
        if size == 0:
            raise HTTPException(422, "the body is empty: send the archive's bytes")
        try:
            added = await asyncio.get_running_loop().run_in_executor(
                p.validating, add_dataset, path, open_store(p.storage_uri), format, language, limits)
        except (IngestError, DatasetError) as exc:
            raise HTTPException(422, str(exc)) from None
        return await asyncio.to_thread(_record, p, user, name, added, lambda: add_dataset(
            path, open_store(p.storage_uri), format, language, limits))


def _record(p, user: dict, name: str, added: dict, again, source: Optional[str] = None) -> dict:
    """Record the stored version as the user's; stored ``again`` first if a delete took it meanwhile."""
    with p.records.held(f"dataset:{added['dataset_id']}"):
        if not open_store(p.storage_uri).exists(f"datasets/{added['dataset_id']}/{MARKER}"):
            added = again()
        p.records.add_dataset(added["dataset_id"], user["username"], name, added["report"], source)
    return {"dataset_id": added["dataset_id"], "name": name, "created": added["created"], "report": added["report"]}


@router.get("")
def list_datasets(user: dict = Depends(current_user), p=Depends(platform)) -> list[dict]:
    """Newest first: name, format, task, images, health (``ok``, ``summary``) and ``source`` (the dataset
    it was converted from); ``version``: its place among the datasets of that name (1 the oldest)."""
    rows = p.records.list_datasets(None if user["role"] in ("admin", "viewer") else user["username"])
    for row in rows:
        row["version"] = sum(1 for r in rows if (r["owner"], r["name"]) == (row["owner"], row["name"])
                             and r["created_at"] <= row["created_at"])
    return rows


def _visible(p, user: dict, dataset_id: str) -> dict:
    mine = [d for d in list_datasets(user, p) if d["dataset_id"] == dataset_id]
    if not mine:
        raise HTTPException(404, f"no dataset {dataset_id} of yours; GET /v1/datasets lists them")
    return next((d for d in mine if d["owner"] == user["username"]), mine[0])


def _own(p, user: dict, dataset_id: str) -> dict:
    found = p.records.get_dataset(dataset_id, user["username"])
    if found is None:
        raise HTTPException(404, f"no dataset {dataset_id} of yours; GET /v1/datasets lists them")
    return found


@router.get("/{dataset_id}")
def get_dataset(dataset_id: str, lang: str = Depends(language), user: dict = Depends(current_user),
                p=Depends(platform)) -> dict:
    """The dataset's record and its health report, whose ``summary`` is said in ``language``."""
    found = _visible(p, user, dataset_id)
    report = open_store(p.storage_uri).read_json(f"datasets/{dataset_id}/report.json")
    return {**found, "report": {**report, "summary": render_summary(report, lang)}}


@router.get("/{dataset_id}/samples")
def samples(dataset_id: str, class_name: Optional[str] = Query(None, max_length=200),
            limit: int = Query(12, ge=1, le=48), user: dict = Depends(current_user), p=Depends(platform)) -> dict:
    """Images spread over the dataset with their labels drawn (``drawn``: base64 PNG); ``class_name``:
    only images showing that class."""
    found = _visible(p, user, dataset_id)
    try:
        return gallery(local_dataset_path(dataset_id, p.storage_uri), found["format"], class_name, limit)
    except (FormatError, DatasetError) as exc:
        raise HTTPException(422, str(exc)) from None


class DatasetChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)


@router.patch("/{dataset_id}")
def rename(dataset_id: str, body: DatasetChange, user: dict = Depends(writer_user), p=Depends(platform)) -> dict:
    _own(p, user, dataset_id)
    p.records.rename_dataset(dataset_id, user["username"], body.name)
    return p.records.get_dataset(dataset_id, user["username"])


@router.delete("/{dataset_id}")
def delete(dataset_id: str, user: dict = Depends(writer_user), p=Depends(platform)) -> dict:
    """Refused (409) while a job that has not ended trains on it; the stored files go with the last
    user who holds the dataset (the same bytes uploaded by two users are stored once)."""
    _own(p, user, dataset_id)
    with p.records.held(f"dataset:{dataset_id}"):
        using = p.jobs.using_dataset(dataset_id)
        if using:
            raise HTTPException(409, f"dataset {dataset_id} is in use by {', '.join(using)}, which has not ended; "
                                     "wait for it to end or stop it, then delete the dataset")
        left = p.records.remove_dataset(dataset_id, user["username"])
        if left == 0:
            delete_dataset(open_store(p.storage_uri), dataset_id)
    return {"dataset_id": dataset_id, "deleted": True}


@router.get("/{dataset_id}/archive")
def archive(dataset_id: str, user: dict = Depends(current_user), p=Depends(platform)) -> FileResponse:
    """The dataset's files as a zip archive, laid out as they were uploaded (or converted)."""
    found = _visible(p, user, dataset_id)
    tmp = tempfile.mkdtemp(prefix="vt-archive-")
    path = shutil.make_archive(os.path.join(tmp, "dataset"), "zip", local_dataset_path(dataset_id, p.storage_uri))
    return FileResponse(path, media_type="application/zip", filename=f"{found['name']}.zip",
                        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True))


@router.post("/{dataset_id}/convert", status_code=201)
async def convert(dataset_id: str, to: FormatName = Query(..., description="the format to write: a format /v1/vocabulary lists as writable"),
                  name: Optional[str] = Query(None, min_length=1, max_length=128),
                  lang: str = Depends(language), user: dict = Depends(writer_user), p=Depends(platform)) -> dict:
    """A new stored version of the dataset in format ``to`` (its report's ``source`` and the list's
    ``source`` name the dataset it came from), named ``name`` (default: the source's name and the format)."""
    found = await asyncio.to_thread(_visible, p, user, dataset_id)
    if found["format"] == to:
        raise HTTPException(422, f"dataset {dataset_id} is {to} already; convert it to another format")
    store = open_store(p.storage_uri)

    def converted() -> dict:
        return convert_dataset(dataset_id, to, store, lang)
    try:
        added = await asyncio.get_running_loop().run_in_executor(p.validating, converted)
    except (FormatError, DatasetError) as exc:
        raise HTTPException(422, str(exc)) from None
    return await asyncio.to_thread(_record, p, user, name or f"{found['name']}-{to}", added, converted, dataset_id)
