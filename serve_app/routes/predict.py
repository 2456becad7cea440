"""``POST /v1/jobs/{job_id}/predict``: a succeeded job's model on your images (multipart files), answered
by the TrainedModels deployment. Who may: whoever may see the job (its owner, viewers, admins)."""
import asyncio

from fastapi import APIRouter, Depends, File, HTTPException, Query, UploadFile

from serve_app.routes.deps import current_user, platform
from serve_app.routes.jobs import visible_job

router = APIRouter(prefix="/v1/jobs", tags=["predict"])
MAX_IMAGES = 16
MAX_IMAGE_BYTES = 20 * 1024 * 1024


@router.post("/{job_id}/predict")
async def predict(job_id: str, images: list[UploadFile] = File(..., description=f"1 to {MAX_IMAGES} images"),
                  draw: bool = Query(False, description="also answer each image with the prediction drawn on it "
                                                        "(``drawn``: a PNG, base64)"),
                  user: dict = Depends(current_user), p=Depends(platform)) -> dict:
    """Per image, by task: classification, the top classes with their scores (``top``); detection and
    instance segmentation, ``objects`` (class, score, box, and the outline as ``polygon``); semantic
    segmentation, ``mask`` (a PNG of class ids, base64; ``classes`` names them) and each class's
    ``coverage``; anomaly detection, its ``score``, the job's ``threshold`` and the ``class`` there."""
    record = await asyncio.to_thread(visible_job, p, job_id, user)
    if record["state"] != "succeeded":
        raise HTTPException(409, f"job {job_id} is {record['state']}: only a succeeded job's model answers")
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
