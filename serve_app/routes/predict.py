"""A succeeded job's model in use. ``POST /v1/jobs/{job_id}/predict``: on your images (multipart files),
answered by the TrainedModels deployment; whoever may see the job may (its owner, viewers, admins).
``/v1/jobs/{job_id}/predict-batch``: over a whole dataset, as a Ray job of its own; its owner or an
admin starts one, whoever may see the job follows it."""
import asyncio

from fastapi import APIRouter, Depends, File, HTTPException, Query, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from serve_app.routes.deps import current_user, platform, writer_user
from serve_app.routes.jobs import visible_job
from serve_app.services.batches import BatchNotFound, BatchRefused, batch_state, list_batches, start_batch
from serve_app.services.plan import AdminOnly, PlanError, resolve_dataset

router = APIRouter(prefix="/v1/jobs", tags=["predict"])
MAX_IMAGES = 16
MAX_IMAGE_BYTES = 20 * 1024 * 1024


def _succeeded(p, job_id: str, user: dict) -> dict:
    record = visible_job(p, job_id, user)
    if record["state"] != "succeeded":
        raise HTTPException(409, f"job {job_id} is {record['state']}: only a succeeded job's model answers")
    return record


@router.post("/{job_id}/predict")
async def predict(job_id: str, images: list[UploadFile] = File(..., description=f"1 to {MAX_IMAGES} images"),
                  draw: bool = Query(False, description="also answer each image with the prediction drawn on it "
                                                        "(``drawn``: a PNG, base64)"),
                  user: dict = Depends(current_user), p=Depends(platform)) -> dict:
    """Per image, by task: classification, the top classes with their scores (``top``); detection and
    instance segmentation, ``objects`` (class, score, box, and the outline as ``polygon``); semantic
    segmentation, ``mask`` (a PNG of class ids, base64; ``classes`` names them) and each class's
    ``coverage``; anomaly detection, its ``score``, the job's ``threshold`` and the ``class`` there."""
    record = await asyncio.to_thread(_succeeded, p, job_id, user)
    if len(images) > MAX_IMAGES:
        raise HTTPException(422, f"{len(images)} images: send at most {MAX_IMAGES} at a time")
    data = []
    for i, image in enumerate(images):
        body = await image.read(MAX_IMAGE_BYTES + 1)
        if len(body) > MAX_IMAGE_BYTES:
            raise HTTPException(413, f"image {i + 1} ({image.filename}) is over {MAX_IMAGE_BYTES // 2 ** 20} MiB")
        data.append(body)
    answer = await p.models.options(multiplexed_model_id=job_id).predict.remote(data, draw)
    if "error" in answer:
        raise HTTPException(answer["status"], answer["error"])
    return {"job_id": job_id, "task": record["task"],
            "predictions": [{"image": image.filename, **out} for image, out in zip(images, answer["predictions"])]}


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str = Field(..., max_length=1024, description="a dataset of yours (its id, ds-..., or uploaded:latest), "
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
        return start_batch(p.jobs, record, dataset, user["username"])
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
