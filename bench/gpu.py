"""The GPU bench: the platform's job path against the bare training loop, on one machine with a GPU.

(a) bare: timm's model, bf16 autocast and channels_last on a GPU, fed random tensors already on the
    device (what the card alone allows);
(b) platform: a classification job on real JPEG files (500x375, generated here) through the job's
    driver (``python -m train_jobs.run --address local``: a local Ray cluster, Ray Train, the
    platform's loaders), trackers off; its steady images/s (epochs after the first) from its events.

Prints JSON lines; the last is the summary: platform_images_per_s, bare_images_per_s, ratio
(platform / bare), decode and the loader processes (from the job's input event), the GPU's mean
utilisation while the platform trained (nvidia-smi, null without it), the card and the command.
It needs only Ray, torch, timm, numpy, pydantic and Pillow (the wheels ../shared/tools/gpu-wheels.sh
builds for a machine without a package index). Without a GPU it runs the same path on the CPU, for
a check of the script (``--images 60 --image-size 64 --model resnet18 --batch-size 16``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def make_jpegs(root: str, classes: int, per_class: int, seed: int = 0) -> None:
    """An ImageFolder of 500x375 JPEG photos-to-be: smooth colour fields with a class-coloured square."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(classes):
        os.makedirs(os.path.join(root, f"class_{c}"), exist_ok=True)
        colour = rng.integers(0, 256, 3)
        for i in range(per_class):
            base = rng.integers(0, 256, (375 // 25 + 1, 500 // 25 + 1, 3), dtype=np.uint8)
            img = Image.fromarray(base).resize((500, 375), Image.BILINEAR)
            x, y = rng.integers(0, 400), rng.integers(0, 275)
            img.paste(tuple(int(v) for v in colour), (int(x), int(y), int(x) + 100, int(y) + 100))
            img.save(os.path.join(root, f"class_{c}", f"{i:05d}.jpg"), quality=90)


def bare(model_name: str, size: int, batch: int, steps: int, device: str) -> float:
    import timm

    model = timm.create_model(model_name, num_classes=10).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda")

    def step():
        with autocast:
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(5):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0)


class GpuUse(threading.Thread):
    """nvidia-smi's utilisation every half second while it runs (none without nvidia-smi)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        if not shutil.which("nvidia-smi"):
            return
        while not self.done.wait(0.5):
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip():
                self.samples.append(float(out.stdout.split()[0]))

    def mean(self):
        return round(sum(self.samples) / len(self.samples), 1) if self.samples else None


def platform_run(d: str, args, use_gpu: bool) -> dict:
    from train_jobs.state import JobFolder
    from train_jobs.store import open_store

    import yaml

    cfg = {"job_id": "bench-gpu", "task": "classification", "model": {"source": "timm", "name": args.model},
           "dataset": {"uri": os.path.join(d, "data")},
           "hyperparameters": {"epochs": args.epochs, "batch_size": args.batch_size, "image_size": args.image_size},
           "augmentation": {"horizontal_flip": True},
           "resources": {"num_workers": 1, "use_gpu": use_gpu, "cpus_per_worker": os.cpu_count()},
           "storage": {"uri": os.path.join(d, "artifacts")}}
    path = os.path.join(d, "job.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    use = GpuUse()
    use.start()
    t0 = time.time()
    run = subprocess.run([sys.executable, "-m", "train_jobs.run", "--config", path, "--address", "local"],
                         capture_output=True, text=True, env={**os.environ, "VISIONTRAIN_TRACKERS": ""})
    use.done.set()
    events = JobFolder(open_store(cfg["storage"]["uri"]), cfg["job_id"]).events()
    state = [e for e in events if e["kind"] == "state"][-1]["state"]
    epochs = [e for e in events if e["kind"] == "metrics"]
    fed = next((e for e in events if e["kind"] == "input"), {})
    steady = epochs[1:] or epochs
    out = {"state": state, "wall_s": round(time.time() - t0, 1), "gpu_utilization_percent": use.mean(),
           "epoch_images_per_s": [e["images_per_s"] for e in epochs], "decode": fed.get("decode"),
           "loader_workers": fed.get("loader_workers"), "decoded_kept": fed.get("decoded_kept"),
           "images_per_s": sum(e["train_images"] for e in steady) / sum(e["train_s"] for e in steady) if steady else None}
    if run.returncode != 0:
        out["stderr"] = run.stderr[-3000:]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--images", type=int, default=20000, help="JPEG files generated, over 10 classes")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--bare-steps", type=int, default=50)
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    with tempfile.TemporaryDirectory(prefix="vt-bench-gpu-") as d:
        t0 = time.time()
        make_jpegs(os.path.join(d, "data"), 10, max(2, args.images // 10))
        emit({"bench": "gpu", "phase": "data", "images": args.images, "seconds": round(time.time() - t0, 1)})
        bare_ips = bare(args.model, args.image_size, args.batch_size, args.bare_steps, device)
        emit({"bench": "gpu", "phase": "bare", "images_per_s": round(bare_ips, 1)})
        if cuda:
            torch.cuda.empty_cache()
        plat = platform_run(d, args, cuda)
        emit({"bench": "gpu", "phase": "platform", **plat})
    plat_ips = plat["images_per_s"]
    emit({"bench": "gpu", "model": args.model, "image_size": args.image_size, "batch_size": args.batch_size,
          "images": args.images, "epochs": args.epochs, "state": plat["state"],
          "platform_images_per_s": None if plat_ips is None else round(plat_ips, 1),
          "bare_images_per_s": round(bare_ips, 1), "ratio": None if plat_ips is None else round(plat_ips / bare_ips, 4),
          "decode": plat["decode"], "loader_workers": plat["loader_workers"], "decoded_kept": plat["decoded_kept"],
          "gpu_utilization_percent": plat["gpu_utilization_percent"], "wall_s": plat["wall_s"],
          "command": "python bench/gpu.py " + " ".join(sys.argv[1:]),
          "machine": {"cpus": os.cpu_count(), "gpu": torch.cuda.get_device_name(0) if cuda else None,
                      "python": platform.python_version(), "torch": torch.__version__}})


if __name__ == "__main__":
    main()
