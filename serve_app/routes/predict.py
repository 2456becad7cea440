"""A succeeded job's model in use. ``POST /v1/jobs/{job_id}/predict``: on your images (multipart files;
admins may instead name stored images as JSON), answered by the TrainedModels deployment; whoever may
see the job may (its owner, viewers, admins).
``/v1/jobs/{job_id}/predict-batch``: over a whole dataset, as a Ray job of its own; its owner or an
admin starts one, whoever may see the job follows it."""
import asyncio
import json
import posixpath

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from serve_app.routes.deps import current_user, platform, writer_user
from serve_app.routes.jobs import visible_job
from serve_app.services.batches import BatchNotFound, BatchRefused, batch_state, list_batches, start_batch
from serve_app.services.plan import AdminOnly, PlanError, resolve_dataset
from train_jobs.config import DATASET_ID
from train_jobs.store import StoreError, StoreNotFound, open_store

router = APIRouter(prefix="/v1/jobs", tags=["predict"])
MAX_IMAGES = 16
MAX_IMAGE_BYTES = 20 * 1024 * 1024


def _succeeded(p, job_id: str, user: dict) -> dict:
    record = visible_job(p, job_id, user)
    if record["state"] != "succeeded":
        raise HTTPException(409, f"job {job_id} is {record['state']}: only a succeeded job's model answers")
    return record


class StoredImages(BaseModel):
    model_config = ConfigDict(extra="forbid")
    images: list[str] = Field(..., min_length=1, max_length=MAX_IMAGES, description=(
        "images already stored (admins): s3://bucket/key, or a dataset's id and a path inside it, "
        "ds-.../cats/1.jpg"))


_BODIES = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["images"], "properties": {"images": {
        "type": "array", "minItems": 1, "maxItems": MAX_IMAGES, "items": {"type": "string", "format": "binary"}}}}},
    "application/json": {"schema": StoredImages.model_json_schema()}}}}


@router.post("/{job_id}/predict", openapi_extra=_BODIES)
async def predict(job_id: str, request: Request,
                  draw: bool = Query(False, description="also answer each image with the prediction drawn on it "
                                                        "(``drawn``: a PNG, base64)"),
                  user: dict = Depends(current_user), p=Depends(platform)) -> dict:
    """Per image, by task: classification, the top classes with their scores (``top``); detection and
    instance segmentation, ``objects`` (class, score, box, and the outline as ``polygon``); semantic
    segmentation, ``mask`` (a PNG of class ids, base64; ``classes`` names them) and each class's
    ``coverage``; anomaly detection, its ``score``, the job's ``threshold``, the ``class`` there and the
    anomaly ``map`` (a grey PNG, base64: 128 is the threshold).
    The images come as multipart files named ``images``, or (admins) as JSON naming stored ones."""
    record = await asyncio.to_thread(_succeeded, p, job_id, user)
    if request.headers.get("content-type", "").startswith("application/json"):
        names, data = await asyncio.to_thread(_stored, await request.body(), user, p.storage_uri)
    else:
        names, data = await _uploaded(request)
    answer = await p.models.options(multiplexed_model_id=job_id).predict.remote(data, draw)
    if "error" in answer:
        raise HTTPException(answer["status"], answer["error"])
    return {"job_id": job_id, "task": record["task"],
            "predictions": [{"image": name, **out} for name, out in zip(names, answer["predictions"])]}


async def _uploaded(request: Request) -> tuple[list[str], list[bytes]]:
    form = await request.form(max_files=MAX_IMAGES + 1, max_fields=MAX_IMAGES + 1)
    images = [f for f in form.getlist("images") if hasattr(f, "read")]
    if not images:
        raise HTTPException(422, "no images: send them as multipart files named 'images' (curl -F images=@cat.jpg)")
    if len(images) > MAX_IMAGES:
        raise HTTPException(422, f"{len(images)} images: send at most {MAX_IMAGES} at a time")
    data = []
    for i, image in enumerate(images):
        body = await image.read(MAX_IMAGE_BYTES + 1)
        if len(body) > MAX_IMAGE_BYTES:
            raise HTTPException(413, f"image {i + 1} ({image.filename}) is over {MAX_IMAGE_BYTES // 2 ** 20} MiB")
        data.append(body)
    return [image.filename for image in images], data


def _stored(body: bytes, user: dict, storage_uri: str) -> tuple[list[str], list[bytes]]:
    """The named images' bytes: an s3:// object, or a file inside a stored dataset (``ds-.../path``)."""
    if user["role"] != "admin":
        raise HTTPException(403, "only admins may name stored images; send yours as multipart files named "
                                 "'images' (curl -F images=@cat.jpg)")
    try:
        names = StoredImages.model_validate(json.loads(body or b"null")).images
    except (ValueError, ValidationError) as exc:
        raise HTTPException(422, f"expected {{\"images\": [\"s3://bucket/key\" or \"ds-.../path\", ...]}} "
                                 f"(at most {MAX_IMAGES}): {str(exc).splitlines()[0]}") from None
    return names, [_read_stored(name, storage_uri) for name in names]


def _read_stored(name: str, storage_uri: str) -> bytes:
    dataset, _, inside = name.partition("/")
    if name.startswith("s3://"):
        folder, _, key = name.rpartition("/")
        store = open_store(folder)
    elif DATASET_ID.match(dataset) and inside and posixpath.normpath(inside) == inside and not inside.startswith("."):
        store, key = open_store(storage_uri), f"datasets/{dataset}/files/{inside}"
    else:
        raise HTTPException(422, f"{name!r}: name s3://bucket/key, or a dataset's id and a path inside it "
                                 "(ds-.../cats/1.jpg)")
    try:
        size, chunks = store.open_read(key)
        if size > MAX_IMAGE_BYTES:
            raise HTTPException(413, f"{name} is over {MAX_IMAGE_BYTES // 2 ** 20} MiB")
        return b"".join(chunks)
    except StoreNotFound:
        raise HTTPException(422, f"{name}: there is no such image; check the name (a dataset's files keep "
                                 "their paths inside the dataset)") from None
    except (StoreError, OSError) as exc:  # an S3 refusal or outage names the bucket and key given, no server folder
        raise HTTPException(422, f"{name}: cannot read it ({exc if name.startswith('s3://') else type(exc).__name__})") \
            from None


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str = Field(..., max_length=1024, description="a dataset of yours (its name, its id ds-..., or uploaded:latest), "
                                                           "or an s3:// location you may read")


@router.post("/{job_id}/predict-batch", status_code=202)
def predict_batch(job_id: str, body: BatchRequest, user: dict = Depends(writer_user), p=Depends(platform)) -> dict:
    """Start the model over every image of the dataset: ``predictions.jsonl`` (and ``coco_results.json``
    for detection and instance segmentation, ``metrics.json`` where the images' folders name the job's
    classes) are written under the job's ``batches/<batch_id>/``; progress goes to its event stream."""
    record = _succeeded(p, job_id, user)
    if record["owner"] != user["username"] and user["role"] != "admin":
        raise HTTPException(403, "only the job's owner or an admin can start a batch prediction; you may "
                                 "POST .../predict with your images")
    try:
        dataset = resolve_dataset(body.dataset, user, p.records, p.storage_uri)
    except AdminOnly as exc:
        raise HTTPException(403, str(exc)) from None
    except PlanError as exc:
        raise HTTPException(422, str(exc)) from None
    try:
        return start_batch(p.jobs, record, dataset, user["username"], p.cluster_shape()["gpus"])
    except BatchRefused as exc:
        raise HTTPException(409, str(exc)) from None


@router.get("/{job_id}/predict-batch")
def batches(job_id: str, user: dict = Depends(current_user), p=Depends(platform)) -> dict:
    """The job's batch predictions, newest first."""
    return {"job_id": job_id, "batches": list_batches(p.jobs, visible_job(p, job_id, user))}


@router.get("/{job_id}/predict-batch/{batch_id}")
def batch(job_id: str, batch_id: str, user: dict = Depends(current_user), p=Depends(platform)) -> dict:
    """One batch's state (pending, running, succeeded, failed), images done of its total, and where
    its files are (``GET /v1/jobs/{job_id}/artifacts/batches/{batch_id}/...``)."""
    try:
        return batch_state(p.jobs, visible_job(p, job_id, user), batch_id)
    except BatchNotFound as exc:
        raise HTTPException(404, str(exc)) from None
