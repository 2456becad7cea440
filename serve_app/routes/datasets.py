"""``/v1/datasets``: upload an archive (zip or tar, the raw request body), which is unpacked
safely, validated and stored as a content-addressed version; list and read your datasets.
A dataset that is not yours answers 404."""
import asyncio
import os
import tempfile
from typing import Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from serve_app.routes.deps import current_user, language, platform, writer_user
from train_jobs.config import FormatName
from train_jobs.data.ingest import IngestError, IngestLimits
from train_jobs.data.versions import add_dataset
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
    report = added["report"]
    p.records.add_dataset(added["dataset_id"], user["username"], name, report.get("format"), bool(report["ok"]),
                          report["summary"])
    return {"dataset_id": added["dataset_id"], "name": name, "created": added["created"], "report": report}


@router.get("")
def list_datasets(user: dict = Depends(current_user), p=Depends(platform)) -> list[dict]:
    return p.records.list_datasets(None if user["role"] in ("admin", "viewer") else user["username"])


@router.get("/{dataset_id}")
def get_dataset(dataset_id: str, user: dict = Depends(current_user), p=Depends(platform)) -> dict:
    mine = [d for d in p.records.list_datasets(None if user["role"] in ("admin", "viewer") else user["username"])
            if d["dataset_id"] == dataset_id]
    if not mine:
        raise HTTPException(404, f"no dataset {dataset_id} of yours; GET /v1/datasets lists them")
    report = open_store(p.storage_uri).read_json(f"datasets/{dataset_id}/report.json")
    return {**mine[0], "report": report}
