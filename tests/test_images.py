"""Images as people's cameras and tools save them: a phone photo stored sideways with an EXIF
orientation is seen upright in training, in the health report and in prediction (the endpoint's
decoding and the exported predict.py); grey, palette, CMYK, alpha, 16-bit and float images are read
as RGB with their brightness kept; every accepted file type trains, and the report counts each mode."""
from __future__ import annotations

import base64
import io
import os

import numpy as np
import pytest
from PIL import Image

from train_jobs import onnx_predict
from train_jobs.data import decode_images, load_rgb, scan_imagefolder
from train_jobs.data.formats._index import IMAGE_EXTENSIONS
from train_jobs.data.validate import validate_dataset
from train_jobs.tasks.classification import ImageDataset

RED, BLUE = (220, 20, 20), (20, 20, 220)


def sideways_photo(path: str) -> str:
    """A 40x20 JPEG whose left half is red and right half blue, tagged EXIF orientation 6: shown
    upright it is 20 wide and 40 high, red on top."""
    img = Image.new("RGB", (40, 20), BLUE)
    img.paste(Image.new("RGB", (20, 20), RED), (0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(path, "JPEG", quality=95, exif=exif)
    return path


def _top_and_bottom(img: Image.Image) -> tuple:
    a = np.asarray(img.convert("RGB"), dtype=int)
    return tuple(a[2, a.shape[1] // 2]), tuple(a[-3, a.shape[1] // 2])


def _near(pixel, colour, tolerance: int = 40) -> bool:
    return all(abs(int(p) - c) <= tolerance for p, c in zip(pixel, colour))


def test_a_sideways_phone_photo_is_seen_upright_everywhere(tmp_path):
    path = sideways_photo(str(tmp_path / "photo.jpg"))
    with Image.open(path) as raw:
        assert raw.size == (40, 20)  # as stored
    upright = load_rgb(path, None)  # training's and the samples' reading
    assert upright.size == (20, 40)
    top, bottom = _top_and_bottom(upright)
    assert _near(top, RED) and _near(bottom, BLUE), (top, bottom)
    sent = decode_images([open(path, "rb").read()])[0]  # the prediction endpoint's reading of an upload
    assert sent.size == (20, 40) and _near(_top_and_bottom(sent)[0], RED)
    fed = onnx_predict.pixels(path, {"image_size": 32, "interpolation": "bilinear", "scale": 1.0})  # export/predict.py
    assert fed.shape == (3, 32, 32) and _near(fed[:, 2, 16], RED) and _near(fed[:, -3, 16], BLUE)
    square = load_rgb(path, 32)  # resized for the model after it is turned, not before
    assert _near(_top_and_bottom(square)[0], RED)
    from ultralytics.utils.patches import imread

    bgr = imread(path)  # how Ultralytics reads detection and instance segmentation images
    assert bgr.shape[:2] == (40, 20) and _near(tuple(bgr[2, 10][::-1]), RED)


def test_the_health_report_measures_photos_upright_and_counts_modes(tmp_path):
    root = tmp_path / "data"
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            sideways_photo(str(root / cls / f"{i}.jpg"))
    Image.new("L", (20, 40), 128).save(root / "cat" / "grey.png")
    report = validate_dataset(str(root), language="en")
    assert report["ok"], report["summary"]
    assert report["image_size"]["min"] == [20, 40] and report["image_size"]["max"] == [20, 40]
    assert report["image_modes"] == {"RGB": 8, "L": 1}
    assert "Image modes (each read as RGB): RGB 8, L 1." in report["summary"]
    assert "이미지 모드 (모두 RGB로 읽음): RGB 8, L 1." in validate_dataset(str(root), language="ko")["summary"]
    from train_jobs.data.gallery import gallery

    drawn = [s for s in gallery(str(root))["samples"] if s["image"] == "cat/0.jpg"][0]["drawn"]  # the dataset manager's
    shown = Image.open(io.BytesIO(base64.b64decode(drawn)))
    assert shown.height > shown.width  # upright (its caption is a band below the picture)
    assert _near(_top_and_bottom(shown)[0], RED)


@pytest.mark.parametrize("mode, make, expected", [
    ("L", lambda: Image.new("L", (8, 8), 128), (128, 128, 128)),
    ("P", lambda: Image.new("RGB", (8, 8), RED).quantize(4), RED),
    ("CMYK", lambda: Image.new("RGB", (8, 8), BLUE).convert("CMYK"), BLUE),
    ("RGBA", lambda: Image.new("RGBA", (8, 8), (*RED, 255)), RED),
    ("LA", lambda: Image.new("LA", (8, 8), (200, 255)), (200, 200, 200)),
    ("I;16", lambda: Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16)), (128, 128, 128)),
    ("F", lambda: Image.fromarray(np.full((8, 8), 0.25, dtype=np.float32)), (64, 64, 64)),
])
def test_every_image_mode_is_read_as_rgb_with_its_brightness(tmp_path, mode, make, expected):
    img = make()
    assert img.mode == mode
    fmt = "TIFF" if mode in ("F", "CMYK") else "PNG"
    buf = io.BytesIO()
    img.save(buf, fmt)
    read = decode_images([buf.getvalue()])[0]
    assert read.mode == "RGB" and _near(tuple(np.asarray(read)[4, 4]), expected, 3), (mode, np.asarray(read)[4, 4])


def test_every_accepted_file_type_trains(tmp_path):
    """One class per file type (.png .jpg .jpeg .bmp .webp .tif .tiff, and upper case): validated,
    indexed and loaded for training."""
    root = tmp_path / "types"
    kinds = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".webp": "WEBP", ".tif": "TIFF",
             ".tiff": "TIFF"}
    assert set(kinds) == set(IMAGE_EXTENSIONS)
    for ext, fmt in kinds.items():
        folder = root / ext.strip(".")
        folder.mkdir(parents=True)
        for i in range(3):
            name = f"{i}{ext.upper() if i == 0 else ext}"
            Image.new("RGB", (24, 24), (40 * i, 100, 200)).save(folder / name, fmt)
    report = validate_dataset(str(root))
    assert report["ok"] and report["images"] == 21 and report["class_names"] == sorted(e.strip(".") for e in kinds)
    index = scan_imagefolder(str(root))
    data = ImageDataset(index.train + index.val, 16)
    assert len(data) == 21 and all(tuple(data[i][0].shape) == (3, 16, 16) for i in range(len(data)))
    assert {os.path.splitext(p)[1].lower() for p, _ in index.train + index.val} == set(kinds)
