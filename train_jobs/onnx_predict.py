"""Run a visiontrain model.onnx on images with onnxruntime alone (numpy and Pillow besides; nothing of
visiontrain), answering as ``POST /v1/jobs/{id}/predict`` does for classification, semantic segmentation
(without the mask) and anomaly detection (without the map). Every export carries this file as ``export/predict.py``:

    python predict.py model.onnx cat.jpg dog.png [--json]

What the model is fed (size, interpolation) and what its outputs mean (task, classes, threshold) are
read from the ONNX file's metadata; the normalisation is inside the network."""
import argparse
import json
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

ANSWERED = ("classification", "segmentation", "anomaly_detection")  # segmentation: semantic (Ultralytics' say "segment")
RESAMPLE = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def load(path: str):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    about = {k: _value(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}
    return session, about


def _value(text: str):
    """A metadata value: visiontrain writes JSON; an exporter's own entries may be plain text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def pixels(path: str, fed: dict) -> np.ndarray:
    """The image as the job fed its model: RGB, resized to its size with its interpolation, in [0, 1], CHW."""
    size = fed["image_size"]
    with Image.open(path) as img:
        img.draft("RGB", (size, size))
        rgb = img.convert("RGB").resize((size, size), RESAMPLE[fed["interpolation"]])
    return np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / fed["scale"]


def answer(out: np.ndarray, about: dict) -> dict:
    task, classes = about["task"], about["classes"]
    if task == "classification":
        p = np.exp(out - out.max())
        p /= p.sum()
        top = np.argsort(-p, kind="stable")[:min(5, len(classes))]
        return {"top": [{"class": classes[i], "score": round(float(p[i]), 6)} for i in top]}
    if task == "segmentation":
        mask = out.argmax(0)
        share = np.bincount(mask.ravel(), minlength=len(classes)) / mask.size
        return {"classes": classes, "size": list(mask.shape),
                "coverage": {c: round(float(s), 5) for c, s in zip(classes, share)}}
    score, threshold = float(out), float(about["threshold"])  # anomaly detection
    return {"score": round(score, 6), "threshold": round(threshold, 6), "class": classes[int(score >= threshold)]}


def predict(model: str, images: list[str]) -> list[dict]:
    session, about = load(model)
    if about.get("task") not in ANSWERED:
        raise SystemExit(f"this script answers {', '.join(ANSWERED)} models; this one is {about.get('task')!r}: "
                         "detection and instance segmentation load with Ultralytics, YOLO('model.onnx')")
    x = np.stack([pixels(p, about["preprocessing"]) for p in images])
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    return [{"image": p, **answer(o, about)} for p, o in zip(images, out)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="model.onnx")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--json", action="store_true", help="the answers as JSON")
    args = parser.parse_args(argv)
    answers = predict(args.model, args.images)
    print(json.dumps(answers, indent=2) if args.json else "\n".join(f"{a['image']}: {a}" for a in answers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
