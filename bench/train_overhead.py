"""Platform overhead: the same model, data and steps as
(a) plain: the platform's own loop (its dataset and train_one_epoch) in this process,
(b) reference: a best-practice plain PyTorch script as an ML engineer writes it (timm's model,
    torchvision's ImageFolder and transforms, a DataLoader with the worker count that is fastest on
    this machine, tried first, persistent workers, pinned memory on a GPU),
(c) ceiling: the same steps on tensors already decoded in memory (what the compute alone allows),
(d) platform: a Ray Job running the platform's driver with Ray Train (1 worker with all CPUs; its
    loader processes by the platform's rule, or --loader-workers; the summary's platform_loader_workers).

Prints JSON lines; the last is the summary with plain_images_per_s, reference_images_per_s,
ceiling_images_per_s, platform_images_per_s, ratio (platform / plain), ratio_to_reference,
ratio_to_ceiling (steady state: epochs after the first) and startup_s (submit to the first
training step, on a warm cluster). The rounds alternate (plain, reference, ceiling, platform, ...,
and a last plain, reference and ceiling), so a machine that drifts during the run moves every
figure alike; each figure is the mean over its rounds.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from train_jobs.config import config_from_dict  # noqa: E402
from train_jobs.data import scan_imagefolder  # noqa: E402
from train_jobs.data.synth import make_classification  # noqa: E402
from train_jobs.loading import loader_workers  # noqa: E402
from train_jobs.tasks.classification import ImageDataset, build_model, make_optimizer, train_one_epoch  # noqa: E402


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def plain(cfg, epochs: int) -> dict:
    torch.manual_seed(cfg.hyperparameters.seed)
    torch.set_num_threads(int(cfg.resources.cpus_per_worker))
    hp = cfg.hyperparameters
    index = scan_imagefolder(cfg.dataset.uri, None, cfg.dataset.val_fraction, cfg.dataset.split_seed)
    model = build_model(cfg, len(index.class_names))
    optimizer, _ = make_optimizer(cfg, model)
    ds = ImageDataset(index.train, hp.image_size)
    loader = DataLoader(ds, batch_size=hp.batch_size, shuffle=True, drop_last=len(ds) > hp.batch_size)
    per_epoch = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        _, _, n = train_one_epoch(model, loader, optimizer, lambda x: x, contextlib.nullcontext)
        per_epoch.append((n, time.perf_counter() - t0))
    return _steady(per_epoch)


def _steady(per_epoch: list[tuple[int, float]]) -> dict:
    steady = per_epoch[1:] or per_epoch
    return {"images_per_s": sum(n for n, _ in steady) / sum(t for _, t in steady),
            "epoch_images_per_s": [round(n / t, 1) for n, t in per_epoch]}


def reference(cfg, epochs: int, workers: int) -> dict:
    """The script people would write themselves, on the platform's training split."""
    import timm
    import torchvision
    from torchvision import transforms as T

    torch.manual_seed(cfg.hyperparameters.seed)
    torch.set_num_threads(int(cfg.resources.cpus_per_worker))
    hp = cfg.hyperparameters
    index = scan_imagefolder(cfg.dataset.uri, None, cfg.dataset.val_fraction, cfg.dataset.split_seed)
    train = {os.path.abspath(p) for p, _ in index.train}
    model = timm.create_model(cfg.model.name, pretrained=False, num_classes=len(index.class_names))
    pre = model.pretrained_cfg
    transform = T.Compose([T.Resize((hp.image_size, hp.image_size), interpolation=T.InterpolationMode.BICUBIC),
                           T.ToTensor(), T.Normalize(pre["mean"], pre["std"])])
    ds = torchvision.datasets.ImageFolder(cfg.dataset.uri, transform=transform,
                                          is_valid_file=lambda p: os.path.abspath(p) in train)
    loader = DataLoader(ds, batch_size=hp.batch_size, shuffle=True, drop_last=True, num_workers=workers,
                        persistent_workers=workers > 0, pin_memory=torch.cuda.is_available(),
                        prefetch_factor=4 if workers else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=hp.learning_rate, weight_decay=hp.weight_decay)
    per_epoch = []
    for _ in range(epochs):
        model.train()
        t0, n = time.perf_counter(), 0
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            n += len(y)
        per_epoch.append((n, time.perf_counter() - t0))
    return {**_steady(per_epoch), "loader_workers": workers}


def best_workers(cfg) -> tuple[int, dict]:
    """The DataLoader worker count the reference runs fastest with here (two epochs each, the second timed)."""
    tried = {w: round(reference(cfg, 2, w)["images_per_s"], 1) for w in range(0, (os.cpu_count() or 1) + 1)}
    return max(tried, key=tried.get), tried


def ceiling(cfg, epochs: int) -> dict:
    """The platform's model and steps on the training images decoded once, batches cut from memory."""
    torch.manual_seed(cfg.hyperparameters.seed)
    torch.set_num_threads(int(cfg.resources.cpus_per_worker))
    hp = cfg.hyperparameters
    index = scan_imagefolder(cfg.dataset.uri, None, cfg.dataset.val_fraction, cfg.dataset.split_seed)
    ds = ImageDataset(index.train, hp.image_size)
    images = torch.stack([ds[i][0] for i in range(len(ds))])
    labels = torch.tensor([label for _, label in index.train])
    model = build_model(cfg, len(index.class_names))
    optimizer, _ = make_optimizer(cfg, model)
    per_epoch = []
    for _ in range(epochs):
        order = torch.randperm(len(labels))[: len(labels) // hp.batch_size * hp.batch_size]
        batches = [(images[i], labels[i]) for i in order.split(hp.batch_size)]
        t0 = time.perf_counter()
        _, _, n = train_one_epoch(model, batches, optimizer, lambda x: x, contextlib.nullcontext)
        per_epoch.append((n, time.perf_counter() - t0))
    return _steady(per_epoch)


def platform_round(cfg, home: str) -> dict:
    """One Ray Job through the platform on a fresh local cluster, stopped afterwards so that the
    plain rounds run on a machine without Ray. A one-epoch warm-up job goes first, as on a
    platform that is already up, so startup_s is a warm cluster's."""
    from serve_app.services.jobs import JobService
    from serve_app.local import LocalRay, ray_client_env
    from serve_app.services.records import Records
    from train_jobs.state import JobFolder
    from train_jobs.store import open_store

    os.environ.update(ray_client_env(home))
    ray = LocalRay(home, gcs_port=6390, dashboard_port=8275).start()
    try:
        service = JobService(Records(f"sqlite:///{home}/records.db"), ray.dashboard_url)
        warm = cfg.model_copy(update={"job_id": cfg.job_id + "-warmup",
                                      "hyperparameters": cfg.hyperparameters.model_copy(update={"epochs": 1})})
        for job in (warm, cfg):
            t_submit = time.time()
            service.submit(job)
            record = service.wait(job.job_id, timeout_s=1800, poll_s=2.0)
            if record["state"] != "succeeded":
                raise RuntimeError(f"platform run {job.job_id} {record['state']}: {record['message']}")
        events = JobFolder(open_store(cfg.storage.uri), cfg.job_id).events()
    finally:
        ray.stop()
    first_step = min(e["time"] for e in events if e["kind"] == "progress")
    epochs = [e for e in events if e["kind"] == "metrics"]
    steady = epochs[1:]
    return {"images_per_s": sum(e["train_images"] for e in steady) / sum(e["train_s"] for e in steady),
            "epoch_images_per_s": [e["images_per_s"] for e in epochs],
            "startup_s": first_step - t_submit, "wall_s": time.time() - t_submit}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--per-class", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2, help="platform runs; plain runs one more")
    ap.add_argument("--loader-workers", type=int, help="the platform job's resources.loader_workers "
                    "(default: the platform's own rule)")
    args = ap.parse_args()
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="vt-bench-") as d:
        data = os.path.join(d, "data")
        make_classification(data, 3, args.per_class, args.image_size, seed=0)
        cfg = config_from_dict({
            "job_id": f"bench-{int(time.time())}", "task": "classification",
            "model": {"name": args.model}, "dataset": {"uri": data},
            "hyperparameters": {"epochs": args.epochs, "batch_size": args.batch_size, "image_size": args.image_size},
            "augmentation": {"horizontal_flip": False},
            "resources": {"num_workers": 1, "cpus_per_worker": cpus, "loader_workers": args.loader_workers},
            "storage": {"uri": os.path.join(d, "artifacts")},
        })
        workers, tried = best_workers(cfg)
        emit({"bench": "train_overhead", "phase": "reference_workers", "images_per_s_by_workers": tried,
              "chosen": workers})
        plains, refs, ceilings, plats = [], [], [], []
        for i in range(args.rounds + 1):
            plains.append(plain(cfg, args.epochs))
            emit({"bench": "train_overhead", "phase": f"plain_{i}", **plains[-1]})
            refs.append(reference(cfg, args.epochs, workers))
            emit({"bench": "train_overhead", "phase": f"reference_{i}", **refs[-1]})
            ceilings.append(ceiling(cfg, args.epochs))
            emit({"bench": "train_overhead", "phase": f"ceiling_{i}", **ceilings[-1]})
            if i < args.rounds:
                job = cfg.model_copy(update={"job_id": f"{cfg.job_id}-{i}"})
                plats.append(platform_round(job, os.path.join(d, "home")))  # one home: Ray keeps its token
                emit({"bench": "train_overhead", "phase": f"platform_{i}", **plats[-1]})
    def mean(rounds: list[dict]) -> float:
        return sum(r["images_per_s"] for r in rounds) / len(rounds)

    plain_ips, plat_ips, ref_ips, ceil_ips = mean(plains), mean(plats), mean(refs), mean(ceilings)
    emit({
        "bench": "train_overhead", "model": args.model, "image_size": args.image_size,
        "batch_size": args.batch_size, "epochs": args.epochs, "train_images_per_epoch": int(args.per_class * 3 * 0.8),
        "rounds": args.rounds, "plain_images_per_s": round(plain_ips, 2), "platform_images_per_s": round(plat_ips, 2),
        "ratio": round(plat_ips / plain_ips, 4), "reference_images_per_s": round(ref_ips, 2),
        "reference_loader_workers": workers, "platform_loader_workers": loader_workers(cfg),
        "ceiling_images_per_s": round(ceil_ips, 2),
        "ratio_to_reference": round(plat_ips / ref_ips, 4), "ratio_to_ceiling": round(plat_ips / ceil_ips, 4),
        "startup_s": round(sum(p["startup_s"] for p in plats) / len(plats), 2),
        "machine": {"cpus": cpus, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                    "python": platform.python_version(), "torch": torch.__version__},
    })


if __name__ == "__main__":
    main()
