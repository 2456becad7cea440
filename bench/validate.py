"""Validation throughput: images/s of the health report on 64 px JPEGs, in one process and as
Ray tasks over one shard per CPU (the job driver shards only past ``validate.SHARD_IMAGES`` images or
``SHARD_BYTES``; this makes the shards smaller so that both ways are measured on one dataset). Prints
JSON lines; the last is the summary (images_per_s is the Ray-parallel figure)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from PIL import Image  # noqa: E402

from train_jobs.data.synth import make_classification  # noqa: E402
from train_jobs.data import validate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=6000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vt-bench-validate-") as d:
        per_class = args.images // 3
        make_classification(os.path.join(d, "png"), 3, per_class, 64, seed=0)
        root = os.path.join(d, "jpg")
        for dirpath, _, files in os.walk(os.path.join(d, "png")):
            for f in files:
                out = os.path.join(root, os.path.relpath(dirpath, os.path.join(d, "png")), f[:-4] + ".jpg")
                os.makedirs(os.path.dirname(out), exist_ok=True)
                Image.open(os.path.join(dirpath, f)).save(out, quality=90)
        results = {}
        for mode in ("serial", "ray"):
            if mode == "ray":
                import ray

                validate.SHARD_IMAGES = -(-args.images // (os.cpu_count() or 1))
                ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False,
                         _temp_dir=os.path.join("/tmp", f"vt-bench-ray-{os.getpid()}"))
                validate.validate_dataset(root, use_ray=True)  # warm the worker pool
            t0 = time.perf_counter()
            report = validate.validate_dataset(root, use_ray=(mode == "ray"))
            wall = time.perf_counter() - t0
            results[mode] = report["images"] / wall
            print(json.dumps({"bench": "validate", "mode": mode, "images": report["images"], "wall_s": round(wall, 3),
                              "images_per_s": round(results[mode], 1), "ok": report["ok"]}), flush=True)
        print(json.dumps({"bench": "validate", "images": args.images, "image_size": 64, "format": "jpeg",
                          "images_per_s": round(results["ray"], 1), "serial_images_per_s": round(results["serial"], 1),
                          "machine": {"cpus": os.cpu_count()}}))


if __name__ == "__main__":
    main()
