"""Anomaly detection on MVTec-style folders: learns "normal" from normal images only.

Two methods on a timm backbone (``anomaly.method``): ``autoencoder`` trains encoder and decoder
from scratch over N Ray Train workers and scores by reconstruction error; ``patchcore`` keeps a
memory bank of patch features (one worker; best with pretrained weights) and scores by the distance
to the nearest normal patch. Either way the score of an image is the largest local anomaly, and
evaluation reports image AUROC, the threshold and F1 at it."""
from __future__ import annotations

import math
import time
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from adapters import get_adapter
from train_jobs.config import TrainingConfig
from train_jobs.data import local_dataset_path
from train_jobs.data.formats import read_dataset
from train_jobs.export import export_onnx_checked
from train_jobs.loading import data_loader
from train_jobs.state import JobFolder
from train_jobs.tasks._base import TaskTrainer, fit_with_ray_train, register_task
from train_jobs.tasks._torch import Normalize, export_about, image_batch, load_best, predict_device, preprocessing, run_epochs, to_float
from train_jobs.tasks.classification import ImageDataset
from train_jobs.weights import worker_weights
from train_jobs.worker import WorkerSession

__all__ = ["AnomalyTrainer", "anomaly_report"]

SMOOTH = 3  # local window the error is averaged over before the largest value is taken


def _level(backbone, reduction: int) -> int:
    """Index of the feature map closest to ``reduction`` (stride) without exceeding it."""
    reductions = backbone.feature_info.reduction()
    return max(i for i, r in enumerate(reductions) if r <= reduction or i == 0)


class AutoEncoder(torch.nn.Module):
    """Pixels in [0, 1] -> reconstruction, through a backbone stage at stride 16 and a narrow bottleneck."""

    head = ("decoder",)  # what model.freeze_backbone_epochs trains first

    def __init__(self, backbone, norm: Optional[Normalize] = None, latent: int = 32):
        super().__init__()
        self.norm, self.backbone = norm or Normalize(), backbone
        self.level = _level(backbone, 16)
        channels, stride = backbone.feature_info.channels()[self.level], backbone.feature_info.reduction()[self.level]
        layers: list[torch.nn.Module] = [torch.nn.Conv2d(channels, latent, 1), torch.nn.ReLU()]
        c = latent
        for _ in range(int(math.log2(stride))):
            out = 32
            layers += [torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                       torch.nn.Conv2d(c, out, 3, padding=1), torch.nn.BatchNorm2d(out), torch.nn.ReLU()]
            c = out
        self.decoder = torch.nn.Sequential(*layers, torch.nn.Conv2d(c, 3, 3, padding=1), torch.nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.backbone(self.norm(x))[self.level])


class ReconstructionScore(torch.nn.Module):
    """Image score: the largest locally averaged reconstruction error (what gets exported)."""

    def __init__(self, autoencoder: AutoEncoder):
        super().__init__()
        self.autoencoder = autoencoder

    def map(self, x: torch.Tensor) -> torch.Tensor:
        """(N, H, W): each pixel's locally averaged reconstruction error."""
        err = (self.autoencoder(x) - x).pow(2).mean(1, keepdim=True)
        return F.avg_pool2d(err, SMOOTH, stride=1, padding=SMOOTH // 2)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.map(x).amax(dim=(1, 2))


class PatchCoreScore(torch.nn.Module):
    """Image score: the largest distance from a patch feature to its nearest normal patch."""

    def __init__(self, backbone, bank: torch.Tensor, norm: Optional[Normalize] = None):
        super().__init__()
        self.norm, self.backbone = norm or Normalize(), backbone
        self.levels = (_level(backbone, 8), _level(backbone, 16))
        self.register_buffer("bank", bank)

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(self.norm(x))
        a, b = feats[self.levels[0]], feats[self.levels[1]]
        b = F.interpolate(b, size=a.shape[-2:], mode="bilinear", align_corners=False)
        f = F.avg_pool2d(torch.cat([a, b], 1), 3, stride=1, padding=1)
        return f.permute(0, 2, 3, 1).reshape(x.shape[0], -1, f.shape[1])

    def map(self, x: torch.Tensor) -> torch.Tensor:
        """(N, h, w) over the patch grid (square inputs): each patch's distance to its nearest normal patch."""
        p = self.patches(x)
        d2 = (p.pow(2).sum(-1, keepdim=True) - 2 * p @ self.bank.T + self.bank.pow(2).sum(-1)[None, None, :])
        side = math.isqrt(p.shape[1])
        return d2.clamp_min(0).amin(-1).sqrt().reshape(x.shape[0], side, side)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.map(x).amax(dim=(1, 2))


def _coreset(features: torch.Tensor, k: int, seed: int = 0) -> torch.Tensor:
    """Greedy k-centre subset of ``features`` (on a random projection), as PatchCore keeps."""
    if len(features) <= k:
        return features
    g = torch.Generator().manual_seed(seed)
    proj = features @ torch.randn(features.shape[1], min(128, features.shape[1]), generator=g)
    chosen = [int(torch.randint(len(features), (1,), generator=g))]
    dist = (proj - proj[chosen[0]]).pow(2).sum(1)
    for _ in range(k - 1):
        i = int(dist.argmax())
        chosen.append(i)
        dist = torch.minimum(dist, (proj - proj[i]).pow(2).sum(1))
    return features[chosen]


def _auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def anomaly_report(scores: np.ndarray, labels: np.ndarray, kinds: list[str]) -> dict:
    """Image AUROC; the threshold with the best F1 on these labelled images, and F1/P/R there."""
    best = (0.0, float(scores.max()) + 1e-6, 0.0, 0.0)
    for t in np.unique(scores):
        pred = scores >= t
        tp, fp, fn = int((pred & (labels == 1)).sum()), int((pred & (labels == 0)).sum()), int((~pred & (labels == 1)).sum())
        p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
        f1 = 2 * p * r / max(1e-12, p + r)
        if f1 > best[0]:
            best = (f1, float(t), p, r)
    f1, threshold, precision, recall = best
    per_kind = {}
    for kind in sorted(set(kinds) - {"good"}):
        sel = np.array([k in (kind, "good") for k in kinds])
        per_kind[kind] = {"auroc": round(_auroc(scores[sel], labels[sel]), 4),
                          "recall": round(float((scores[np.array(kinds) == kind] >= threshold).mean()), 4)}
    return {"auroc": round(_auroc(scores, labels), 4), "f1": round(f1, 4), "threshold": threshold,
            "precision": round(precision, 4), "recall": round(recall, 4), "threshold_rule": "best F1 on the test images",
            "per_defect": per_kind, "num_images": int(len(labels)), "num_anomalous": int(labels.sum())}


def _index(cfg: TrainingConfig, path: str) -> tuple[list, list, list]:
    """(normal train items, held-out normal items, labelled test items with their defect kind)."""
    index = read_dataset(path, "mvtec")
    normal = [(index.path(s), 0) for s in index.samples if s.split == "train"]
    order = np.random.default_rng(cfg.dataset.split_seed).permutation(len(normal))
    n_val = max(1, int(round(len(normal) * cfg.dataset.val_fraction)))
    held = [normal[i] for i in sorted(order[:n_val])]
    train = [normal[i] for i in sorted(order[n_val:])]
    test = [(index.path(s), s.label, s.image.split("/")[1]) for s in index.samples if s.split == "val"]
    return train, held, test


def _backbone(cfg: TrainingConfig):
    m = cfg.model
    return get_adapter(m.source).build(m.name, "anomaly_detection", 2, m.pretrained, worker_weights(cfg))


def _norm(cfg: TrainingConfig) -> Normalize:
    pre = preprocessing(cfg)
    return Normalize(pre["mean"], pre["std"])


def _images(cfg: TrainingConfig, items: list) -> ImageDataset:
    """``items`` ((path, label, ...)) as the backbone takes them: the job's size, its model's interpolation."""
    return ImageDataset([(p, y) for p, y, *_ in items], cfg.hyperparameters.image_size,
                        resample=preprocessing(cfg)["interpolation"])


@torch.no_grad()
def _scores(scorer: torch.nn.Module, cfg: TrainingConfig, items: list) -> np.ndarray:
    loader = DataLoader(_images(cfg, items), batch_size=32)
    return np.concatenate([scorer(to_float(x)).numpy() for x, _ in loader]) if items else np.zeros(0)


@register_task
class AnomalyTrainer(TaskTrainer):
    task = "anomaly_detection"
    metric = ("val_loss", "min")

    def check_dataset(self, cfg: TrainingConfig, path: str) -> dict:
        train, held, test = _index(cfg, path)
        return {"format": "mvtec", "class_names": ["good", "anomalous"], "method": cfg.anomaly.method,
                "images": {"train": len(train), "held_out_normal": len(held), "test": len(test),
                           "test_anomalous": sum(y for _, y, _ in test)}}

    def fit(self, cfg: TrainingConfig, job: JobFolder, callbacks: Sequence = ()) -> None:
        if cfg.anomaly.method == "patchcore":
            cfg = cfg.model_copy(update={"resources": cfg.resources.model_copy(update={"num_workers": 1})})
        fit_with_ray_train(cfg, job, callbacks=callbacks)

    def train_loop(self, loop_config: dict) -> None:
        cfg = TrainingConfig.model_validate(loop_config["config"])
        hp = cfg.hyperparameters
        session = WorkerSession(cfg)
        train, held, _ = _index(cfg, local_dataset_path(cfg.dataset.uri, cfg.storage.uri))
        if cfg.anomaly.method == "patchcore":
            return self._memory_bank(cfg, session, train, held)
        train_ds = _images(cfg, train)
        loader = data_loader(cfg, train_ds, hp.batch_size, train=True)
        val_loader = data_loader(cfg, _images(cfg, held), hp.batch_size)

        def step_loss(model, x) -> torch.Tensor:
            x = to_float(session.to_device(x))
            with session.autocast():
                return F.mse_loss(model(x).float(), x, reduction="sum") / x[0].numel()

        def train_epoch(model, loader, optimizer, on_step) -> dict:
            model.train()
            total, n = 0.0, 0
            for step, (x, _) in enumerate(loader):
                loss = step_loss(model, x)
                optimizer.zero_grad(set_to_none=True)
                (loss / x.shape[0]).backward()
                optimizer.step()
                total, n = total + float(loss), n + x.shape[0]
                on_step(step + 1, len(loader), loss / x.shape[0])
            return {"loss": total, "images": n}

        @torch.no_grad()
        def validate(model, loader) -> dict:
            model.eval()
            return {"loss": sum(float(step_loss(model, x)) for x, _ in loader), "images": sum(len(x) for x, _ in loader)}

        def summarize(tr: dict, va: dict) -> dict:
            return {"train_loss": round(tr["loss"] / max(1, tr["images"]), 6),
                    "val_loss": round(va["loss"] / max(1, va["images"]), 6)}

        run_epochs(cfg, session, AutoEncoder(_backbone(cfg), _norm(cfg)), loader, val_loader, train_epoch, validate, summarize,
                   {"method": "autoencoder"}, self.metric)

    def _memory_bank(self, cfg: TrainingConfig, session: WorkerSession, train: list, held: list) -> None:
        t0 = time.perf_counter()
        scorer = PatchCoreScore(_backbone(cfg).eval(), torch.zeros(1, 1), _norm(cfg))
        with torch.no_grad():
            loader = DataLoader(_images(cfg, train), batch_size=32)
            feats = torch.cat([scorer.patches(to_float(x)).flatten(0, 1) for x, _ in loader])
        bank = _coreset(feats, cfg.anomaly.memory_bank_size, cfg.hyperparameters.seed)
        scorer.bank = bank
        held_scores = _scores(scorer, cfg, held)
        metrics = {"epoch": 1, "epochs": 1, "val_normal_score_max": round(float(held_scores.max()), 5),
                   "memory_bank": len(bank), "patches_seen": len(feats), "train_images": len(train),
                   "images_per_s": round(len(train) / (time.perf_counter() - t0), 2),
                   "epoch_s": round(time.perf_counter() - t0, 3)}
        state = {"epoch": 1, "model": scorer.state_dict(), "history": [metrics]}
        session.report(metrics, state, best_weights={"model": scorer.state_dict(), "method": "patchcore", "epoch": 1})
        session.close()

    def _scorer(self, cfg: TrainingConfig, job: JobFolder) -> torch.nn.Module:
        saved = load_best(job)
        if cfg.anomaly.method == "patchcore":
            scorer = PatchCoreScore(_backbone(cfg), saved["model"]["bank"], _norm(cfg))
            scorer.load_state_dict(saved["model"])
        else:
            ae = AutoEncoder(_backbone(cfg), _norm(cfg))
            ae.load_state_dict(saved["model"])
            scorer = ReconstructionScore(ae)
        return scorer.eval()

    def evaluate(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str], path: str) -> dict:
        _, held, test = _index(cfg, path)
        scorer = self._scorer(cfg, job)
        scores = _scores(scorer, cfg, test)
        labels = np.array([y for _, y, _ in test])
        out = {"task": self.task, "method": cfg.anomaly.method, "class_names": class_names,
               **anomaly_report(scores, labels, [k for _, _, k in test])}
        held_scores = _scores(scorer, cfg, held)
        out["held_out_normal_score_p99"] = round(float(np.quantile(held_scores, 0.99)), 6) if len(held_scores) else None
        if cfg.anomaly.method == "patchcore" and not cfg.model.pretrained:
            out["note"] = "PatchCore on a backbone without pretrained weights; give model.weights for better scores"
        return out

    def predictor(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str]):
        """Per image: its anomaly score, the decision at the threshold the job's evaluation chose, and
        the anomaly map (``map``: a grey PNG at the job's image size, base64, where 128 is the threshold
        and 255 twice it or more); drawn: the map in red over the image."""
        scorer, dev = self._scorer(cfg, job), predict_device()
        scorer.to(dev)
        threshold = float(job.store.read_json(job.key("metrics.json"))["threshold"])

        @torch.no_grad()
        def predict(images: list[bytes], draw: bool = False) -> list[dict]:
            from PIL import Image

            from train_jobs.data import captioned, decode_images, png_base64

            x = to_float(image_batch(cfg, images).to(dev))
            maps = scorer.map(x)
            scores = maps.amax(dim=(1, 2)).cpu().numpy()
            size = (cfg.hyperparameters.image_size,) * 2
            grey = (F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0] / threshold * 128)
            grey = grey.clamp(0, 255).round().byte().cpu().numpy()
            out = [{"score": round(float(s), 6), "threshold": round(threshold, 6), "class": class_names[int(s >= threshold)],
                    "map": png_base64(Image.fromarray(g))} for s, g in zip(scores, grey)]
            for answer, image, g in zip(out, decode_images(images) if draw else [], grey):
                heat = Image.fromarray(g).resize(image.size, Image.BILINEAR)
                red = Image.merge("RGB", (heat, Image.new("L", image.size), Image.new("L", image.size)))
                answer["drawn"] = png_base64(captioned(Image.blend(image.convert("RGB"), red, 0.45),
                                                       f"{answer['class']} ({answer['score']:.3g})"))
            return out

        return predict

    def batch_metrics(self, index, answers: dict[str, dict], class_names: list[str]):
        """The evaluation's report (AUROC, the best-F1 threshold on these images, per defect kind) over
        the labelled images, and how often the job's own threshold decided right."""
        rows = [(answers[s.image], s.label, s.image.split("/")[1] if s.image.count("/") >= 2 else "good")
                for s in index.samples if s.label is not None and "score" in answers.get(s.image, {})]
        if not rows:
            return None
        labels = np.array([label for _, label, _ in rows])
        right = float(np.mean([(a["class"] == class_names[1]) == (label == 1) for a, label, _ in rows]))
        out = {"num_images": len(rows), "num_anomalous": int(labels.sum()), "accuracy_at_job_threshold": round(right, 4)}
        if 0 < labels.sum() < len(labels):  # AUROC needs both kinds
            out = {**anomaly_report(np.array([a["score"] for a, _, _ in rows]), labels, [k for _, _, k in rows]), **out}
        return out

    def export(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str]) -> dict:
        size = cfg.hyperparameters.image_size
        threshold = job.store.read_json(job.key("metrics.json")).get("threshold")
        return export_onnx_checked(get_adapter(cfg.model.source), self._scorer(cfg, job), torch.rand(2, 3, size, size),
                                   job, export_about(cfg, class_names, threshold=threshold))
