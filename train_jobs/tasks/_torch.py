"""What the PyTorch tasks share inside a Ray Train worker: pixel normalisation inside the model,
the optimizer, and the epoch loop (restore, train, validate, early stop, checkpoint, report)."""
from __future__ import annotations

import math
import tempfile
import time
from typing import Callable

import numpy as np
import torch

from adapters import get_adapter
from adapters._base import IMAGENET_MEAN, IMAGENET_STD
from train_jobs.config import TrainingConfig
from train_jobs.loading import input_event, keeps_decoded
from train_jobs.weights import worker_weights
from train_jobs.worker import EarlyStopper, WorkerSession, cpu_state_dict, load_tensors, unwrap

__all__ = ["MEAN", "STD", "Normalize", "build_model", "export_about", "image_batch", "load_best", "make_optimizer", "preprocessing",
           "run_epochs", "to_float"]

MEAN, STD = IMAGENET_MEAN, IMAGENET_STD


class Normalize(torch.nn.Module):
    """Float RGB in [0, 1] -> normalised as the model wants it (ImageNet's by default); part of the
    model so exports take plain pixels."""

    def __init__(self, mean: tuple = MEAN, std: tuple = STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def predict_device() -> torch.device:
    """Where a trained model answers: the GPU Ray gave this process (a Serve replica or a batch actor
    that asked for one), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255.0)


def preprocessing(cfg: TrainingConfig) -> dict:
    """What the job feeds its model, as training, evaluation and the export record it: RGB in [0, 1]
    resized to ``image_size`` with the model's ``interpolation``, then its ``mean`` and ``std``."""
    pre = get_adapter(cfg.model.source).preprocessing(cfg.model.name)
    return {"image_size": cfg.hyperparameters.image_size, "interpolation": pre["interpolation"],
            "mean": list(pre["mean"]), "std": list(pre["std"]), "channels": "RGB", "layout": "NCHW", "scale": 255}


def export_about(cfg: TrainingConfig, class_names: list[str], **extra) -> dict:
    """What an exported model is, for its metadata: task, classes, and what it is fed."""
    return {"task": cfg.task, "classes": list(class_names), "preprocessing": preprocessing(cfg), **extra}


def image_batch(cfg: TrainingConfig, images: list[bytes]) -> torch.Tensor:
    """Image files as the job's loaders feed them: uint8 RGB, NCHW, at its size and interpolation."""
    from train_jobs.data import decode_images

    fed = preprocessing(cfg)
    decoded = decode_images(images, fed["image_size"], fed["interpolation"])
    return torch.stack([torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1) for img in decoded])


def build_model(cfg: TrainingConfig, num_classes: int) -> torch.nn.Module:
    """The adapter's network behind its own normalisation; ``head`` names the parameters made for the
    task (what ``model.freeze_backbone_epochs`` trains first)."""
    m = cfg.model
    adapter = get_adapter(m.source)
    net = adapter.build(m.name, cfg.task, num_classes, m.pretrained, worker_weights(cfg))
    pre = adapter.preprocessing(m.name)
    model = torch.nn.Sequential(Normalize(pre["mean"], pre["std"]), net)
    model.head = tuple(f"1.{p}" for p in adapter.head_prefixes(net, cfg.task))
    return model


def load_best(job) -> dict:
    """The best weights a run kept (``weights/model.pt``: the state dict under ``model``, and what the task added)."""
    with tempfile.NamedTemporaryFile(suffix=".pt") as f:
        job.store.download_file(job.key("weights/model.pt"), f.name)
        return load_tensors(f.name)


def _head_first(cfg: TrainingConfig, model: torch.nn.Module) -> list[dict]:
    """Parameter groups: the backbone's and the head's (``model.head``) where the model has a head (one
    layout, frozen or not, so a continued run takes the earlier one's optimizer state), else one."""
    frozen, net = cfg.model.freeze_backbone_epochs, unwrap(model)
    head = getattr(net, "head", ())
    names = {n for n, _ in net.named_parameters() if any(n == h or n.startswith(h + ".") for h in head)}
    if not names:
        if frozen:
            raise ValueError(f"model.freeze_backbone_epochs: {cfg.model.source} {cfg.model.name} has no head of its "
                             f"own for {cfg.task} here; set it to 0")
        return [{"params": list(model.parameters()), "frozen_epochs": 0}]
    return [{"params": [p for n, p in net.named_parameters() if n not in names], "frozen_epochs": frozen},
            {"params": [p for n, p in net.named_parameters() if n in names], "frozen_epochs": 0}]


def make_optimizer(cfg: TrainingConfig, model: torch.nn.Module):
    """The optimizer, and its learning rate over the epochs: a cosine from ``learning_rate`` to 0, and 0
    for a group while it is frozen (the backbone, for ``model.freeze_backbone_epochs``)."""
    hp = cfg.hyperparameters
    groups = _head_first(cfg, model)
    if hp.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=hp.learning_rate, momentum=0.9, weight_decay=hp.weight_decay)
    else:
        opt = torch.optim.AdamW(groups, lr=hp.learning_rate, weight_decay=hp.weight_decay)

    def schedule(frozen: int) -> Callable[[int], float]:
        return lambda epoch: 0.0 if epoch < frozen else 0.5 * (1 + math.cos(math.pi * epoch / hp.epochs))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, [schedule(g["frozen_epochs"]) for g in groups])


def _load_weights(model: torch.nn.Module, weights: dict, cfg: TrainingConfig) -> None:
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise ValueError(f"model.continue_training: job {cfg.model.from_job}'s state does not fit this model ("
                         f"{str(exc).splitlines()[0]}): continue it with the same classes, or fine-tune from it "
                         "(model.from_job without continue_training) to get a new head") from None


def _all_reduce(session: WorkerSession, sums: dict) -> dict:
    """Sum every value (numbers or arrays) over the workers."""
    keys = sorted(sums)
    arrays = [np.asarray(sums[k], dtype=np.float64) for k in keys]
    flat = session.all_reduce_sum([float(v) for a in arrays for v in a.ravel()])
    out, at = {}, 0
    for k, a in zip(keys, arrays):
        out[k] = np.asarray(flat[at:at + a.size]).reshape(a.shape) if a.ndim else flat[at]
        at += a.size
    return out


def run_epochs(cfg: TrainingConfig, session: WorkerSession, model: torch.nn.Module, train_loader, val_loader,
               train_epoch: Callable, validate: Callable, summarize: Callable, best_extra: dict,
               default_metric: tuple[str, str]) -> None:
    """Train ``model`` for the configured epochs, resuming from the run's latest checkpoint.

    ``train_epoch(model, loader, optimizer, on_step)`` and ``validate(model, loader)`` return sums
    (numbers or arrays, with ``images`` among the training ones); ``summarize(train, val)`` turns the
    sums over all workers into the epoch's metrics. Nothing is trained when a monitor has asked
    the job to stop (a stalled worker with stall_action stop)."""
    try:
        if session.stop_requested() is None:
            _epochs(cfg, session, model, train_loader, val_loader, train_epoch, validate, summarize, best_extra,
                    default_metric)
    finally:
        session.close()


def _epochs(cfg: TrainingConfig, session: WorkerSession, model: torch.nn.Module, train_loader, val_loader,
            train_epoch: Callable, validate: Callable, summarize: Callable, best_extra: dict,
            default_metric: tuple[str, str]) -> None:
    hp = cfg.hyperparameters
    if session.is_chief:
        session.job.event("input", **input_event(cfg, train_loader.num_workers, keeps_decoded(train_loader.dataset)))
    state = session.restore()
    carried = None if state else session.continued()
    if state or carried:
        _load_weights(model, (state or carried)["model"], cfg)
    model = session.prepare_model(model)
    optimizer, scheduler = make_optimizer(cfg, model)
    if state:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
    elif carried:  # the earlier run's moments, with this run's learning rates
        rates = [(g["lr"], g["initial_lr"]) for g in optimizer.param_groups]
        if len(carried["optimizer"]["param_groups"]) != len(rates):
            raise ValueError(f"model.continue_training: job {cfg.model.from_job}'s optimizer state is for another "
                             "model; continue it with the same model, or fine-tune from it (model.from_job alone)")
        optimizer.load_state_dict(carried["optimizer"])
        for g, (lr, initial) in zip(optimizer.param_groups, rates):
            g["lr"], g["initial_lr"] = lr, initial
    stopper = EarlyStopper(cfg, *(state["early_stopping"] if state else (None, 0)), default=default_metric)
    history = state["history"] if state else []
    for epoch in range(state["epoch"] if state else 0, hp.epochs):
        torch.manual_seed(hp.seed + 1009 * (epoch + 1) + session.rank)  # a resumed epoch draws what it would have
        sampler = getattr(train_loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        t0 = time.perf_counter()
        train = train_epoch(model, train_loader, optimizer,
                            lambda step, steps, loss: session.progress(epoch, step, steps, loss))
        train_s = time.perf_counter() - t0
        scheduler.step()
        val = validate(model, val_loader)
        train, val = _all_reduce(session, train), _all_reduce(session, val)
        metrics = {
            "epoch": epoch + 1, "epochs": hp.epochs, **summarize(train, val),
            "learning_rate": optimizer.param_groups[0]["lr"],
            "images_per_s": round(train["images"] / train_s, 2), "train_images": int(train["images"]),
            "train_s": round(train_s, 4), "epoch_s": round(time.perf_counter() - t0, 3),
        }
        improved = stopper.improved(metrics)
        history.append(metrics)
        new_state = {
            "epoch": epoch + 1, "model": cpu_state_dict(model), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "history": history,
            "early_stopping": (stopper.best, stopper.bad_epochs),
        }
        best = {"model": new_state["model"], **best_extra, "epoch": epoch + 1,
                "metric": {stopper.metric: stopper.best}} if improved else None
        session.report(metrics, new_state, best_weights=best)
        if stopper.should_stop:
            if session.is_chief:
                session.job.event("early_stopped", epoch=epoch + 1, best=stopper.best)
            break
