"""Image classification on ImageFolder data, over N Ray Train workers."""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from adapters import get_adapter
from train_jobs.config import TrainingConfig
from train_jobs.data import captioned, decode_images, load_rgb, local_dataset_path, png_base64, scan_imagefolder
from train_jobs.export import export_native, export_onnx_checked
from train_jobs.loading import DecodedCache, data_loader
from train_jobs.state import JobFolder
from train_jobs.tasks._base import TaskTrainer, fit_with_ray_train, register_task
from train_jobs.tasks._torch import (Normalize, build_model, export_about, image_batch, load_best, make_optimizer, predict_device,
                                     preprocessing, run_epochs, to_float)
from train_jobs.worker import WorkerSession

__all__ = ["ClassificationTrainer", "ImageDataset", "Normalize", "build_model", "classification_report",
           "make_optimizer", "train_one_epoch"]

class ImageDataset(Dataset):
    """(uint8 CHW tensor, label) pairs, each image decoded once (``DecodedCache``)."""

    def __init__(self, items: list[tuple[str, int]], size: int, augment: Optional[Any] = None,
                 resample: str = "bilinear"):
        self.items, self.size, self.augment, self.resample = items, size, augment, resample
        self.cache = DecodedCache(len(items), (3, size, size))

    def __len__(self) -> int:
        return len(self.items)

    def _decode(self, i: int) -> torch.Tensor:
        x = self.cache.get(i)
        if x is None:
            arr = np.asarray(load_rgb(self.items[i][0], self.size, self.resample))
            x = self.cache.put(i, torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous())
        return x

    def __getitem__(self, i: int):
        x = self._decode(i)
        return (self.augment(x) if self.augment else x), self.items[i][1]


def _augmentation(cfg: TrainingConfig):
    from torchvision.transforms import v2

    aug, size = cfg.augmentation, cfg.hyperparameters.image_size
    steps = []
    if aug.random_resized_crop:
        steps.append(v2.RandomResizedCrop(size, scale=(0.6, 1.0), antialias=True))
    if aug.horizontal_flip:
        steps.append(v2.RandomHorizontalFlip())
    if aug.color_jitter > 0:
        c = aug.color_jitter
        steps.append(v2.ColorJitter(brightness=c, contrast=c, saturation=c))
    return v2.Compose(steps) if steps else None


def class_weights(labels: list[int], k: int) -> torch.Tensor:
    """Each class's loss weight for ``class_weights: balanced``: the images over (classes x its images),
    so that every class weighs as much in the loss (1 for all when balanced already)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=k).clip(min=1)
    return torch.tensor(len(labels) / (k * counts), dtype=torch.float32)


def train_one_epoch(model, loader, optimizer, to_device: Callable, autocast: Callable,
                    on_step: Optional[Callable] = None, weight: Optional[torch.Tensor] = None) -> tuple[float, float, int]:
    """One pass over ``loader``: returns (loss sum, correct, images). Shared by the platform and the bench.
    ``weight``: each class's loss weight (None: all alike)."""
    model.train()
    loss_sum = correct = torch.zeros(())
    seen = 0
    for step, (x, y) in enumerate(loader):
        x = to_device(x)
        y = y.to(x.device)
        with autocast():
            logits = model(to_float(x))
        loss = F.cross_entropy(logits.float(), y, weight=None if weight is None else weight.to(x.device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += y.shape[0]
        loss_sum = loss_sum.to(x.device) + loss.detach() * y.shape[0]
        correct = correct.to(x.device) + (logits.argmax(1) == y).sum()
        if on_step:
            on_step(step + 1, len(loader), loss)
    return float(loss_sum), float(correct), seen


@torch.no_grad()
def predict(model, loader, to_device: Callable, autocast: Callable) -> tuple[np.ndarray, np.ndarray, float]:
    model.eval()
    preds, labels, loss_sum = [], [], 0.0
    for x, y in loader:
        x = to_device(x)
        y = y.to(x.device)
        with autocast():
            logits = model(to_float(x)).float()
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        preds.append(logits.argmax(1).cpu().numpy())
        labels.append(y.cpu().numpy())
    return np.concatenate(preds), np.concatenate(labels), loss_sum


def classification_report(pred: np.ndarray, true: np.ndarray, class_names: list[str]) -> dict:
    k = len(class_names)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (true, pred), 1)
    tp = np.diag(cm).astype(float)
    precision = np.divide(tp, cm.sum(0), out=np.zeros(k), where=cm.sum(0) > 0)
    recall = np.divide(tp, cm.sum(1), out=np.zeros(k), where=cm.sum(1) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=(precision + recall) > 0)
    per_class = {
        name: {"precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
               "f1": round(float(f1[i]), 4), "support": int(cm[i].sum())}
        for i, name in enumerate(class_names)
    }
    return {
        "accuracy": round(float(tp.sum() / max(1, cm.sum())), 4),
        "macro_f1": round(float(f1.mean()), 4),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "class_names": class_names,
        "num_images": int(cm.sum()),
    }


def draw_samples(job: JobFolder, items: list[tuple[str, int]], pred: np.ndarray, class_names: list[str],
                 n: int = 8) -> tuple[list[str], list[str]]:
    """A few validation images captioned "true -> predicted" (green when right, red when wrong), and
    those captions as text ("true → predicted", ✓ or ✗)."""
    from io import BytesIO

    from PIL import Image, ImageDraw

    keys, captions = [], []
    for i, ((path, true), guess) in enumerate(zip(items[:n], pred[:n])):
        canvas = Image.new("RGB", (160, 184), "white")
        canvas.paste(load_rgb(path, 160), (0, 0))
        colour = (0, 130, 0) if guess == true else (200, 0, 0)
        ImageDraw.Draw(canvas).text((4, 167), f"{class_names[true]} -> {class_names[guess]}", fill=colour)
        buf = BytesIO()
        canvas.save(buf, "PNG")
        keys.append(f"samples/prediction_{i}.png")
        captions.append(f"{class_names[true]} → {class_names[guess]} {'✓' if guess == true else '✗'}")
        job.store.write_bytes(job.key(keys[-1]), buf.getvalue())
    return keys, captions


@register_task
class ClassificationTrainer(TaskTrainer):
    task = "classification"
    metric = ("val_accuracy", "max")

    def check_dataset(self, cfg: TrainingConfig, path: str) -> dict:
        index = scan_imagefolder(path, cfg.class_names, cfg.dataset.val_fraction, cfg.dataset.split_seed)
        return {"format": "imagefolder", "class_names": index.class_names, "counts": index.counts(),
                "split_given": index.split_given}

    def train_loop(self, loop_config: dict) -> None:
        cfg = TrainingConfig.model_validate(loop_config["config"])
        hp = cfg.hyperparameters
        session = WorkerSession(cfg)
        index = scan_imagefolder(local_dataset_path(cfg.dataset.uri, cfg.storage.uri), cfg.class_names,
                                 cfg.dataset.val_fraction, cfg.dataset.split_seed)
        resample = preprocessing(cfg)["interpolation"]
        train_ds = ImageDataset(index.train, hp.image_size, _augmentation(cfg), resample)
        train_loader = data_loader(cfg, train_ds, hp.batch_size, train=True)
        val_loader = data_loader(cfg, ImageDataset(index.val, hp.image_size, resample=resample), hp.batch_size)

        weight = class_weights([label for _, label in index.train], len(index.class_names)) \
            if hp.class_weights == "balanced" else None

        def train_epoch(model, loader, optimizer, on_step) -> dict:
            loss, correct, seen = train_one_epoch(model, loader, optimizer, session.to_device, session.autocast, on_step,
                                                  weight)
            return {"loss": loss, "correct": correct, "images": seen}

        def validate(model, loader) -> dict:
            pred, true, loss = predict(model, loader, session.to_device, session.autocast)
            return {"loss": loss, "correct": float((pred == true).sum()), "images": float(len(true))}

        def summarize(train: dict, val: dict) -> dict:
            return {"train_loss": round(train["loss"] / max(1, train["images"]), 5),
                    "train_accuracy": round(train["correct"] / max(1, train["images"]), 4),
                    "val_loss": round(val["loss"] / max(1, val["images"]), 5),
                    "val_accuracy": round(val["correct"] / max(1, val["images"]), 4)}

        run_epochs(cfg, session, build_model(cfg, len(index.class_names)), train_loader, val_loader,
                   train_epoch, validate, summarize, {"class_names": index.class_names}, self.metric)

    def fit(self, cfg: TrainingConfig, job: JobFolder, callbacks: Sequence = ()) -> None:
        fit_with_ray_train(cfg, job, callbacks=callbacks)

    def _trained_model(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str]) -> torch.nn.Module:
        model = build_model(cfg, len(class_names))
        model.load_state_dict(load_best(job)["model"])
        return model.eval()

    def evaluate(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str], path: str) -> dict:
        model = self._trained_model(cfg, job, class_names)
        index = scan_imagefolder(path, class_names, cfg.dataset.val_fraction, cfg.dataset.split_seed)
        loader = DataLoader(ImageDataset(index.val, cfg.hyperparameters.image_size,
                                         resample=preprocessing(cfg)["interpolation"]), batch_size=64)
        pred, true, _ = predict(model, loader, lambda x: x, torch.no_grad)
        samples, captions = draw_samples(job, index.val, pred, index.class_names)
        return {"task": self.task, **classification_report(pred, true, index.class_names), "samples": samples,
                "sample_captions": captions}

    def predictor(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str]):
        model, k, dev = self._trained_model(cfg, job, class_names), min(5, len(class_names)), predict_device()
        model.to(dev)

        @torch.no_grad()
        def predict(images: list[bytes], draw: bool = False) -> list[dict]:
            scores, classes = model(to_float(image_batch(cfg, images).to(dev))).float().softmax(1).topk(k)
            out = [{"top": [{"class": class_names[c], "score": round(float(s), 6)} for s, c in zip(ss, cc)]}
                   for ss, cc in zip(scores.tolist(), classes.tolist())]
            for answer, image in zip(out, decode_images(images) if draw else []):
                best = answer["top"][0]
                answer["drawn"] = png_base64(captioned(image, f"{best['class']} {best['score']:.2f}"))
            return out

        return predict

    def batch_metrics(self, index, answers: dict[str, dict], class_names: list[str]) -> Optional[dict]:
        """The evaluation's report over the images whose label is one of the job's classes."""
        pairs = [(class_names.index(index.class_names[s.label]), class_names.index(answers[s.image]["top"][0]["class"]))
                 for s in index.samples if s.label is not None and "top" in answers.get(s.image, {})
                 and index.class_names[s.label] in class_names]
        if not pairs:
            return None
        true, pred = (np.array(column) for column in zip(*pairs))
        return classification_report(pred, true, class_names)

    def export(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str]) -> dict:
        size = cfg.hyperparameters.image_size
        model = self._trained_model(cfg, job, class_names)
        adapter = get_adapter(cfg.model.source)
        out = export_onnx_checked(adapter, model, torch.rand(2, 3, size, size), job, export_about(cfg, class_names))
        return {**out, "native": export_native(adapter, model[1], class_names, job)}
