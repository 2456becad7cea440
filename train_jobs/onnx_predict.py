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
from PIL import Image

ANSWERED = ("classification", "segmentation", "anomaly_detection")  # segmentation: semantic (Ultralytics' say "segment")
RESAMPLE = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}  # the models' configs name one of these


def load(path: str):
    import onnxruntime as ort  # here: visiontrain reads images with this module's upright_rgb, without onnxruntime

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    about = {k: _value(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}
    return session, about


def _value(text: str):
    """A metadata value: visiontrain writes JSON; an exporter's own entries may be plain text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


EXIF_ORIENTATION = 0x0112
TURNED = (5, 6, 7, 8)  # orientations that swap width and height


def upright_size(img: Image.Image) -> tuple[int, int]:
    """(width, height) as the image is seen (:func:`upright_rgb`), read from its header alone."""
    return img.size[::-1] if img.getexif().get(EXIF_ORIENTATION, 1) in TURNED else img.size


def upright_rgb(img: Image.Image) -> Image.Image:
    """An image as visiontrain reads every image, in training, in its reports and in prediction (here
    too): turned upright by its EXIF orientation (a phone photo is stored sideways), 16-bit and float
    pixels scaled to 8 bits (not clipped to white), grey, palette, CMYK and alpha images as RGB."""
    from PIL import ImageOps

    if img.getexif().get(EXIF_ORIENTATION, 1) != 1:
        img = ImageOps.exif_transpose(img)
    if img.mode.startswith("I") or img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 1.0 if a.max() <= 1 and img.mode == "F" \
            else 255.0
        img = Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    return img if img.mode == "RGB" else img.convert("RGB")


def pixels(path: str, fed: dict) -> np.ndarray:
    """The image as the job fed its model: RGB, resized to its size with its interpolation, in [0, 1], CHW."""
    size = fed["image_size"]
    with Image.open(path) as img:
        img.draft("RGB", (size, size))
        rgb = upright_rgb(img).resize((size, size), RESAMPLE[fed["interpolation"]])
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
