"""Semantic segmentation on mask folders (Hugging Face SegFormer), over N Ray Train workers:
cross-entropy per pixel; mIoU, per-class IoU and pixel accuracy; predictions drawn as overlays."""
from __future__ import annotations

import io
import os
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from adapters import get_adapter
from train_jobs.config import TrainingConfig
from train_jobs.data import DatasetError, load_rgb, local_dataset_path, png_base64
from train_jobs.data.formats import read_dataset
from train_jobs.data.formats.masks import class_ids
from train_jobs.data.gallery import palette
from train_jobs.export import export_native, export_onnx_checked
from train_jobs.loading import DecodedCache, data_loader
from train_jobs.state import JobFolder
from train_jobs.tasks._torch import build_model, export_about, image_batch, load_best, predict_device, preprocessing, run_epochs, to_float
from train_jobs.worker import WorkerSession

__all__ = ["MaskDataset", "check_dataset", "evaluate", "export", "iou_report", "train_loop"]

IGNORE = 255  # mask value for "not labelled": left out of the loss and the scores


class MaskDataset(Dataset):
    """(uint8 CHW image, int64 HW class ids) pairs, resized to ``size`` (masks by nearest neighbour)."""

    def __init__(self, pairs: list[tuple[str, str]], size: int, flip: bool = False, resample: str = "bilinear"):
        self.pairs, self.size, self.flip, self.resample = pairs, size, flip, resample
        self.images = DecodedCache(len(pairs), (3, size, size))
        self.masks = DecodedCache(len(pairs), (size, size), np.int32)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int):
        x, y = self.images.get(i), self.masks.get(i)
        if x is None or y is None:
            image, mask = self.pairs[i]
            x = torch.from_numpy(np.asarray(load_rgb(image, self.size, self.resample)).copy()).permute(2, 0, 1).contiguous()
            with Image.open(mask) as m:
                ids = class_ids(m).resize((self.size, self.size), Image.NEAREST)
            y = self.masks.put(i, torch.from_numpy(np.asarray(ids).astype(np.int32)))
            self.images.put(i, x)
        y = y.long()
        if self.flip and torch.rand(()) < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        return x, y


def _index(cfg: TrainingConfig, path: str) -> tuple[list[str], list, list]:
    index = read_dataset(path, cfg.dataset.format)
    if not any(s.mask for s in index.samples):
        raise DatasetError(f"this {index.format} dataset has no masks: semantic segmentation ({cfg.model.source} "
                           "models) trains on mask datasets (images/ + masks/, ADE20K, Cityscapes); for outlines "
                           "(YOLO, COCO) pick an ultralytics -seg model such as yolov8n-seg")
    pairs = [(index.path(s), os.path.join(index.root, s.mask)) for s in index.samples if s.mask]
    splits = [s.split for s in index.samples if s.mask]
    names = cfg.class_names or index.class_names
    if not names:
        top = 0
        for _, mask in pairs:
            with Image.open(mask) as m:
                top = max(top, int(np.asarray(m).max(initial=0)))
        names = [f"class_{i}" for i in range(top + 1)]
    if "val" in splits:
        train = [p for p, s in zip(pairs, splits) if s == "train"]
        val = [p for p, s in zip(pairs, splits) if s == "val"]
    else:
        order = np.random.default_rng(cfg.dataset.split_seed).permutation(len(pairs))
        n_val = max(1, int(round(len(pairs) * cfg.dataset.val_fraction)))
        val = [pairs[i] for i in sorted(order[:n_val])]
        train = [pairs[i] for i in sorted(order[n_val:])]
    return names, train, val


def check_dataset(cfg: TrainingConfig, path: str) -> dict:
    names, train, val = _index(cfg, path)
    return {"format": cfg.dataset.format or "mask", "class_names": names, "images": {"train": len(train), "val": len(val)}}


def train_epoch(model, loader, optimizer, to_device: Callable, autocast: Callable, on_step=None) -> dict:
    model.train()
    loss_sum, images = 0.0, 0
    for step, (x, y) in enumerate(loader):
        x = to_device(x)
        y = y.to(x.device)
        with autocast():
            logits = model(to_float(x))
        loss = F.cross_entropy(logits.float(), y, ignore_index=IGNORE)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += float(loss.detach()) * y.shape[0]
        images += y.shape[0]
        if on_step:
            on_step(step + 1, len(loader), loss)
    return {"loss": loss_sum, "images": images}


@torch.no_grad()
def confusion(model, loader, k: int, to_device: Callable, autocast: Callable) -> dict:
    """Pixel confusion matrix (rows: true class) and loss sum over ``loader``."""
    model.eval()
    cm = torch.zeros(k * k, dtype=torch.float64)
    loss_sum, images = 0.0, 0
    for x, y in loader:
        x = to_device(x)
        y = y.to(x.device)
        with autocast():
            logits = model(to_float(x)).float()
        loss_sum += float(F.cross_entropy(logits, y, ignore_index=IGNORE)) * y.shape[0]
        images += y.shape[0]
        keep = y != IGNORE
        cm += torch.bincount((y[keep] * k + logits.argmax(1)[keep]).cpu(), minlength=k * k)[:k * k].double()
    return {"confusion": cm.view(k, k).numpy(), "loss": loss_sum, "images": images}


def iou_report(cm: np.ndarray, class_names: list[str]) -> dict:
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    present = cm.sum(1) > 0
    iou = np.divide(tp, union, out=np.zeros(len(tp)), where=union > 0)
    return {
        "miou": round(float(iou[present].mean()) if present.any() else 0.0, 4),
        "per_class_iou": {n: round(float(iou[i]), 4) for i, n in enumerate(class_names) if present[i]},
        "pixel_accuracy": round(float(tp.sum() / max(1.0, cm.sum())), 4),
        "confusion_matrix": cm.astype(np.int64).tolist(), "class_names": class_names,
    }


def train_loop(loop_config: dict) -> None:
    cfg = TrainingConfig.model_validate(loop_config["config"])
    hp = cfg.hyperparameters
    session = WorkerSession(cfg)
    names, train, val = _index(cfg, local_dataset_path(cfg.dataset.uri, cfg.storage.uri))
    resample = preprocessing(cfg)["interpolation"]
    train_ds = MaskDataset(train, hp.image_size, flip=cfg.augmentation.horizontal_flip, resample=resample)
    train_loader = data_loader(cfg, train_ds, hp.batch_size, train=True)
    val_loader = data_loader(cfg, MaskDataset(val, hp.image_size, resample=resample), hp.batch_size)

    def summarize(tr: dict, va: dict) -> dict:
        report = iou_report(va["confusion"], names)
        return {"train_loss": round(tr["loss"] / max(1, tr["images"]), 5),
                "val_loss": round(va["loss"] / max(1, va["images"]), 5),
                "val_miou": report["miou"], "val_pixel_accuracy": report["pixel_accuracy"]}

    run_epochs(cfg, session, build_model(cfg, len(names)), train_loader, val_loader,
               lambda m, loader, opt, on_step: train_epoch(m, loader, opt, session.to_device, session.autocast, on_step),
               lambda m, loader: confusion(m, loader, len(names), session.to_device, session.autocast),
               summarize, {"class_names": names}, ("val_miou", "max"))


def _trained(cfg: TrainingConfig, job: JobFolder, class_names: list[str]) -> torch.nn.Module:
    model = build_model(cfg, len(class_names))
    model.load_state_dict(load_best(job)["model"])
    return model.eval()


def _draw_samples(job: JobFolder, model, ds: MaskDataset, k: int, n: int = 4) -> list[str]:
    """Image | true mask | predicted mask, side by side, for a few validation images."""
    keys, colours = [], palette(k)
    with torch.no_grad():
        for i in range(min(n, len(ds))):
            x, y = ds[i]
            pred = model(to_float(x[None]))[0].argmax(0).numpy()
            row = np.concatenate([x.permute(1, 2, 0).numpy(), colours[np.clip(y.numpy(), 0, k - 1)], colours[pred]], 1)
            buf = io.BytesIO()
            Image.fromarray(row).resize((row.shape[1] * 2, row.shape[0] * 2), Image.NEAREST).save(buf, "PNG")
            keys.append(f"samples/prediction_{i}.png")
            job.store.write_bytes(job.key(keys[-1]), buf.getvalue())
    return keys


def evaluate(cfg: TrainingConfig, job: JobFolder, class_names: list[str], path: str) -> dict:
    model = _trained(cfg, job, class_names)
    _, _, val = _index(cfg, path)
    ds = MaskDataset(val, cfg.hyperparameters.image_size, resample=preprocessing(cfg)["interpolation"])
    out = confusion(model, DataLoader(ds, batch_size=16), len(class_names), lambda x: x, torch.no_grad)
    report = iou_report(out["confusion"], class_names)
    return {"task": "segmentation", "segmentation": "semantic", **report, "num_images": len(ds),
            "samples": _draw_samples(job, model, ds, len(class_names))}


def predictor(cfg: TrainingConfig, job: JobFolder, class_names: list[str]):
    """Per image: the class of each pixel at the job's image size (``mask``: a PNG of class ids, base64)
    and the share of the image each class covers; drawn: the classes' colours over the image."""
    model, colours, dev = _trained(cfg, job, class_names), palette(len(class_names)), predict_device()
    model.to(dev)

    @torch.no_grad()
    def predict(images: list[bytes], draw: bool = False) -> list[dict]:
        x = image_batch(cfg, images)
        out = []
        for pixels, mask in zip(x, model(to_float(x.to(dev))).argmax(1).cpu().numpy().astype(np.uint8)):
            counts = np.bincount(mask.ravel(), minlength=len(class_names)) / mask.size
            out.append({"mask": png_base64(Image.fromarray(mask)), "classes": list(class_names),
                        "size": list(mask.shape), "coverage": {c: round(float(f), 5) for c, f in zip(class_names, counts)}})
            if draw:
                blend = (0.5 * pixels.permute(1, 2, 0).numpy() + 0.5 * colours[mask]).astype(np.uint8)
                out[-1]["drawn"] = png_base64(Image.fromarray(blend))
        return out

    return predict


def batch_metrics(index, answers: dict[str, dict], class_names: list[str]) -> Optional[dict]:
    """IoU per class over the images with a mask: each answer's mask against the image's own, brought to
    the answer's size by nearest neighbour as the evaluation does (ids mapped by class name)."""
    import base64

    k, lut = len(class_names), np.full(256, IGNORE, dtype=np.int64)
    for i, name in enumerate(index.class_names or class_names):
        if name in class_names:
            lut[i] = class_names.index(name)
    cm, images = np.zeros((k, k), dtype=np.int64), 0
    for s in index.samples:
        if not s.mask or "mask" not in answers.get(s.image, {}):
            continue
        pred = np.asarray(Image.open(io.BytesIO(base64.b64decode(answers[s.image]["mask"])))).astype(np.int64)
        with Image.open(os.path.join(index.root, s.mask)) as m:
            truth = lut[np.asarray(class_ids(m).resize(pred.shape[::-1], Image.NEAREST))]
        keep = truth != IGNORE
        cm += np.bincount(truth[keep] * k + pred[keep], minlength=k * k).reshape(k, k)
        images += 1
    return {**iou_report(cm, class_names), "num_images": images} if images else None


def export(cfg: TrainingConfig, job: JobFolder, class_names: list[str]) -> dict:
    size = cfg.hyperparameters.image_size
    model = _trained(cfg, job, class_names)
    adapter = get_adapter(cfg.model.source)
    out = export_onnx_checked(adapter, model, torch.rand(2, 3, size, size), job, export_about(cfg, class_names))
    return {**out, "native": export_native(adapter, model[1], class_names, job)}
