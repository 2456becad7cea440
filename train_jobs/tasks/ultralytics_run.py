"""The ``ultralytics`` source's own trainer, for detection and instance segmentation: Ultralytics'
trainer inside one Ray task with the job's CPUs/GPUs. Metrics go to the job's event stream, each
epoch's checkpoint to the store (manifest written last), the best to ``weights/``. A rerun of the
job resumes from the stored checkpoint. Registered as ``detection/ultralytics`` and
``segmentation/ultralytics``: the tasks pick it by the model's source."""
from __future__ import annotations

import os
import tempfile
import time
from typing import ClassVar, Sequence

import numpy as np

from adapters import get_adapter
from adapters.ultralytics_adapter import offline_env
from train_jobs.config import TrainingConfig
from train_jobs.data import DatasetError, local_dataset_path
from train_jobs.data.formats import convert, read_dataset
from train_jobs.data.gallery import draw_objects
from train_jobs.loading import compute_threads, input_event, loader_workers
from train_jobs.state import JobFolder
from train_jobs.store import open_store
from train_jobs.tasks._base import TaskTrainer, register_task
from train_jobs.tasks.box_metrics import box_metrics
from train_jobs.weights import worker_weights

__all__ = ["UltralyticsDetection", "UltralyticsSegmentation", "evaluate", "fit", "prepare_yolo_data", "work_dir"]

STORED = "checkpoints"  # the last epoch's checkpoint, in the layout of worker.write_checkpoint


def work_dir(cfg: TrainingConfig) -> str:
    return os.path.join(os.environ.get("TMPDIR", "/tmp"), "visiontrain-work", cfg.job_id)



def _with_val(cfg: TrainingConfig, path: str):
    """The dataset's index; without a val split, dataset.val_fraction of train held out, the same each time."""
    index = read_dataset(path, cfg.dataset.format)
    train = [s for s in index.samples if s.split == "train"]
    if "val" not in index.splits() and len(train) > 1:
        order = np.random.default_rng(cfg.dataset.split_seed).permutation(len(train))
        for i in order[:max(1, round(len(train) * cfg.dataset.val_fraction))]:
            train[i].split = "val"
    return index


def prepare_yolo_data(cfg: TrainingConfig, path: str) -> tuple[str, list[str]]:
    """A per-job working copy for Ultralytics: the images (linked) and label files written by the
    platform from the parsed dataset, and a data.yaml of its own. Nothing else of the user's files
    is there, so no cache or other file an upload carried is ever read by Ultralytics."""
    import yaml

    index = _with_val(cfg, path)
    root = work_dir(cfg)
    base = os.path.join(root, "yolo-data")
    if not os.path.exists(os.path.join(base, "data.yaml")):
        convert(index, "yolo", base)
    splits = {s: f"images/{s}" for s in index.splits() if s in ("train", "val")}
    if "val" not in splits:
        raise DatasetError("detection data needs a val split, and has too few images to hold some out; add "
                           "images, or a val split (YOLO: val: images/val; COCO: instances_val.json)")
    data_yaml = os.path.join(root, "data.yaml")
    with open(data_yaml, "w") as f:
        yaml.safe_dump({"path": os.path.abspath(base), **splits, "names": dict(enumerate(index.class_names))}, f)
    return data_yaml, index.class_names


def _train_args(cfg: TrainingConfig, data_yaml: str) -> dict:
    hp, r = cfg.hyperparameters, cfg.resources
    return dict(
        data=data_yaml, epochs=hp.epochs, imgsz=hp.image_size, batch=hp.batch_size, lr0=hp.learning_rate,
        optimizer="AdamW" if hp.optimizer == "adamw" else "SGD", weight_decay=hp.weight_decay, seed=hp.seed,
        fliplr=0.5 if cfg.augmentation.horizontal_flip else 0.0, workers=_workers(cfg), plots=False, verbose=False,
        device=0 if r.use_gpu else "cpu", amp=r.use_gpu, project=work_dir(cfg), name="run", exist_ok=True,
        patience=cfg.early_stopping.patience or 100, val=True, compile=hp.compile,
    )


def _metric_name(key: str) -> str:
    return key.replace("metrics/", "val_").replace("(B)", "").replace("(M)", "_mask").replace("-", "_")


INTEGRATIONS = ("clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb")  # Ultralytics' own loggers


def _fit_task(cfg_json: dict) -> None:
    offline_env()
    from ultralytics import YOLO
    import torch
    from ultralytics.utils import SETTINGS

    # The platform tracks every job itself (train_jobs/tracking.py). Ultralytics' loggers, on by default where
    # their package is installed, would make a second MLflow run and upload its whole weights folder there.
    SETTINGS.update({name: False for name in INTEGRATIONS})

    from train_jobs.worker import MANIFEST, STATE_FILE, read_checkpoint, save_tensors, write_checkpoint

    cfg = TrainingConfig.model_validate(cfg_json)
    torch.set_num_threads(compute_threads(cfg, _cpus(cfg)))
    job = JobFolder(open_store(cfg.storage.uri), cfg.job_id)
    job.event("input", **input_event(cfg, _workers(cfg), kept=False))
    data_yaml, names = prepare_yolo_data(cfg, local_dataset_path(cfg.dataset.uri, cfg.storage.uri))
    last_local = os.path.join(work_dir(cfg), "run", "weights", "last.pt")
    resume = job.store.exists(job.key(f"{STORED}/{MANIFEST}"))
    if resume:
        stored = os.path.join(work_dir(cfg), "stored-checkpoint")
        os.makedirs(stored, exist_ok=True)
        for name in (STATE_FILE, MANIFEST):
            job.store.download_file(job.key(f"{STORED}/{name}"), os.path.join(stored, name))
        epoch, state = read_checkpoint(stored, job.uri(STORED))
        job.event("resumed", from_epoch=epoch, checkpoint=job.uri(STORED))
        os.makedirs(os.path.dirname(last_local), exist_ok=True)
        _ultralytics_file(cfg, state, names, last_local)
        model = YOLO(last_local)
    else:
        model = YOLO(_starting_file(cfg, names))
    state = {"t0": time.time(), "last_progress": 0.0, "best": None, "step": 0}

    def on_epoch_start(trainer):
        state["step"] = 0
        if cfg.model.freeze_backbone_epochs:  # the backbone (the yaml's first layers) waits for the head
            backbone = len(trainer.model.yaml["backbone"])
            for name, p in trainer.model.named_parameters():
                if int(name.split(".")[1]) < backbone:
                    p.requires_grad = trainer.epoch >= cfg.model.freeze_backbone_epochs

    def on_batch_end(trainer):
        state["step"] += 1
        now = time.time()
        if now - state["last_progress"] >= 5:
            state["last_progress"] = now
            steps = len(trainer.train_loader)
            loss = sum(float(v) for v in (trainer.tloss or {}).values())
            job.event("progress", epoch=trainer.epoch + 1, step=state["step"], steps=steps, loss=round(loss, 5))

    def on_fit_epoch_end(trainer):
        if trainer.epoch + 1 > trainer.epochs:  # Ultralytics' final validation, not an epoch
            return
        losses = {k: round(float(v), 5) for k, v in (trainer.tloss or {}).items()}
        metrics = {"epoch": trainer.epoch + 1, "epochs": trainer.epochs, **{f"train_{k}": v for k, v in losses.items()},
                   **{_metric_name(k): round(float(v), 5) for k, v in trainer.metrics.items() if k.startswith("metrics/")},
                   "epoch_s": round(time.time() - state["t0"], 3)}
        state["t0"] = time.time()
        job.event("metrics", **metrics)
        print("epoch {epoch}/{epochs}  ".format(**metrics) + "  ".join(f"{k} {v}" for k, v in metrics.items()
                                                                      if k not in ("epoch", "epochs")), flush=True)

    def on_model_save(trainer):
        folder = os.path.join(work_dir(cfg), "checkpoint")
        os.makedirs(folder, exist_ok=True)
        write_checkpoint(folder, _tensors_of(trainer), trainer.epoch + 1)
        for name in (STATE_FILE, MANIFEST):  # the manifest last
            job.store.upload_file(job.key(f"{STORED}/{name}"), os.path.join(folder, name))
        job.event("checkpoint", epoch=trainer.epoch + 1)
        safe = os.path.join(work_dir(cfg), "best.pt")
        if trainer.best.exists() and state["best"] != trainer.best_fitness:
            state["best"] = trainer.best_fitness
            save_tensors({**_tensors_of(trainer), "class_names": names}, safe)  # this epoch's is the best
            job.store.upload_file(job.key("weights/model.pt"), safe)

    model.add_callback("on_train_epoch_start", on_epoch_start)
    model.add_callback("on_train_batch_end", on_batch_end)
    model.add_callback("on_fit_epoch_end", on_fit_epoch_end)
    model.add_callback("on_model_save", on_model_save)
    if resume:
        model.train(resume=True, workers=_workers(cfg), plots=False, verbose=False)
    else:
        model.train(**_train_args(cfg, data_yaml))


def _cpus(cfg: TrainingConfig) -> float:
    """Ultralytics trains in one Ray task holding every worker's CPUs."""
    return cfg.resources.cpus_per_worker * cfg.resources.num_workers


def _workers(cfg: TrainingConfig) -> int:
    return loader_workers(cfg, _cpus(cfg))


def fit(cfg: TrainingConfig, job: JobFolder) -> None:
    import ray

    r = cfg.resources
    task = ray.remote(num_cpus=_cpus(cfg), num_gpus=r.gpus_per_worker if r.use_gpu else 0, max_retries=0)(_fit_task)
    ray.get(task.remote(cfg.model_dump(mode="json")))


def _tensors_of(trainer) -> dict:
    """What Ultralytics keeps in a checkpoint, taken from the trainer itself as tensors and plain values:
    what goes to the store, where nothing is ever kept that loading would unpickle."""
    import copy

    plain = (int, float, str, bool, type(None))
    return {"epoch": trainer.epoch, "best_fitness": trainer.best_fitness, "updates": trainer.ema.updates,
            "model": {k: v.detach().float().cpu() for k, v in trainer.ema.ema.state_dict().items()},
            "optimizer": copy.deepcopy(trainer.optimizer.state_dict()),
            "train_args": {k: v if isinstance(v, plain) else str(v) for k, v in vars(trainer.args).items()}}


def _ultralytics_file(cfg: TrainingConfig, state: dict, names: list[str], path: str) -> None:
    """A checkpoint file in Ultralytics' own layout, made here from ``state`` (see _tensors_of): the
    model is built from its architecture and given the stored weights."""
    adapter = get_adapter("ultralytics")
    net = adapter.build(cfg.model.name, cfg.task, len(names))
    net.load_state_dict(state["model"])
    adapter.checkpoint_file(net, names, path, **{k: state[k] for k in ("epoch", "best_fitness", "updates", "optimizer",
                                                                      "train_args") if state.get(k) is not None})


def _starting_file(cfg: TrainingConfig, names: list[str]) -> str:
    """The yaml, or for starting weights a file written here from their tensors: Ultralytics unpickles
    whatever file it is given, so it never reads the operator's or the user's own."""
    adapter = get_adapter("ultralytics")
    weights = worker_weights(cfg)
    src = adapter.source_file(cfg.model.name, cfg.model.pretrained, weights)
    if src.endswith(".yaml"):
        return src
    net = adapter.build(cfg.model.name, cfg.task, len(names), cfg.model.pretrained, weights)
    path = os.path.join(work_dir(cfg), "start.pt")
    os.makedirs(work_dir(cfg), exist_ok=True)
    _ultralytics_file(cfg, {"model": net.state_dict()}, names, path)
    return path


def trained_yolo(cfg: TrainingConfig, job: JobFolder):
    offline_env()
    from ultralytics import YOLO

    from train_jobs.worker import load_tensors

    os.makedirs(work_dir(cfg), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="final-", dir=work_dir(cfg)) as folder:  # one per process: a batch's
        job.store.download_file(job.key("weights/model.pt"), os.path.join(folder, "stored.pt"))  # actors share a node
        state = load_tensors(os.path.join(folder, "stored.pt"))
        _ultralytics_file(cfg, {**state, "epoch": -1, "optimizer": None}, state["class_names"],
                          os.path.join(folder, "model.pt"))
        return YOLO(os.path.join(folder, "model.pt"))  # read whole here: the files can go


def evaluate(cfg: TrainingConfig, job: JobFolder, class_names: list[str], path: str, masks: bool) -> dict:
    data_yaml, _ = prepare_yolo_data(cfg, path)
    model = trained_yolo(cfg, job)
    res = model.val(data=data_yaml, split="val", imgsz=cfg.hyperparameters.image_size, batch=cfg.hyperparameters.batch_size,
                    plots=False, verbose=False, device=0 if cfg.resources.use_gpu else "cpu", workers=0,
                    project=work_dir(cfg), name="val", exist_ok=True)
    part = res.seg if masks else res.box
    per_class = {class_names[int(c)]: {"AP50": round(float(part.ap50[i]), 4), "AP50_95": round(float(part.ap[i]), 4)}
                 for i, c in enumerate(part.ap_class_index)}
    out = {"task": cfg.task, "mAP50": round(float(part.map50), 4), "mAP50_95": round(float(part.map), 4),
           "precision": round(float(part.mp), 4), "recall": round(float(part.mr), 4), "per_class": per_class,
           "class_names": class_names}
    if masks:
        out.update(box_mAP50=round(float(res.box.map50), 4), mask_mAP50=out["mAP50"])
    out.update(_scored_without_ignored_regions(cfg, model, path, class_names, masks))
    out["samples"] = _draw_samples(cfg, job, model, data_yaml, class_names)
    return out


def _scored_without_ignored_regions(cfg: TrainingConfig, model, path: str, class_names: list[str], masks: bool) -> dict:
    """Where the val labels mark regions not to count (COCO crowds, VOC difficult objects), which Ultralytics'
    validation cannot see once converted to YOLO, the box scores again from the val predictions with
    those regions left out (``box_metrics``); the masks' scores stay Ultralytics'."""
    from train_jobs.data import load_rgb

    index = _with_val(cfg, path)
    val = [s for s in index.samples if s.split == "val"]
    regions = sum(len(s.ignored) for s in val)
    if not regions:
        return {}
    device = 0 if cfg.resources.use_gpu else "cpu"
    answers = {}
    for s in val:  # down to Ultralytics validation's confidence, 0.001
        [result] = model.predict(load_rgb(index.path(s), None), imgsz=cfg.hyperparameters.image_size, conf=0.001,
                                 verbose=False, device=device)
        answers[s.image] = {"objects": _objects(result, class_names, False)}
    scores = box_metrics(index, answers, class_names, masks)  # only val has answers
    kept = {k: scores[k] for k in ("ignored_region_hits", "box_mAP50", "box_mAP50_95") if k in scores}
    if not masks:
        kept.update({k: scores[k] for k in ("mAP50", "mAP50_95", "precision", "recall", "per_class")})
    return {**kept, "ignored_regions": regions}


def _objects(result, class_names: list[str], masks: bool) -> list[dict]:
    """One Ultralytics result as the answer's objects: class, score, box, and the outline (``polygon``)."""
    polygons = result.masks.xy if masks and result.masks is not None else [None] * len(result.boxes)
    return [{"class": class_names[int(c)], "score": round(float(p), 5), "box": [round(float(v), 2) for v in box],
             **({"polygon": [[round(float(x), 1), round(float(y), 1)] for x, y in poly]} if poly is not None else {})}
            for box, c, p, poly in zip(result.boxes.xyxy.tolist(), result.boxes.cls.tolist(), result.boxes.conf.tolist(),
                                       polygons)]


def _draw_samples(cfg: TrainingConfig, job: JobFolder, model, data_yaml: str, class_names: list[str], n: int = 4) -> list[str]:
    """Predictions drawn on a few validation images (PIL, no fonts fetched), stored under samples/."""
    import yaml

    from train_jobs.data import load_rgb
    from train_jobs.data.formats._index import image_files

    with open(data_yaml) as f:
        data = yaml.safe_load(f)
    images = image_files(os.path.join(data["path"], data["val"]))[:n]
    keys = []
    for i, result in enumerate(model.predict(images, imgsz=cfg.hyperparameters.image_size, verbose=False,
                                             device=0 if cfg.resources.use_gpu else "cpu")):
        img = draw_objects(load_rgb(images[i], None), _objects(result, class_names, masks=False))
        local = os.path.join(work_dir(cfg), f"sample_{i}.png")
        img.save(local)
        key = f"samples/prediction_{i}.png"
        job.store.upload_file(job.key(key), local)
        keys.append(key)
    return keys


def export(cfg: TrainingConfig, job: JobFolder, class_names: list[str]) -> dict:
    import torch

    from train_jobs.export import export_native, export_onnx_checked
    from train_jobs.tasks._torch import export_about, preprocessing

    net = trained_yolo(cfg, job).model.float().eval()
    size, adapter = cfg.hyperparameters.image_size, get_adapter("ultralytics")
    fed = {**preprocessing(cfg), "letterbox": True}  # Ultralytics pads to a square, keeping the aspect ratio
    about = export_about(cfg, class_names, preprocessing=fed)
    return {**export_onnx_checked(adapter, net, torch.rand(2, 3, size, size), job, about),
            "native": export_native(adapter, net, class_names, job)}


def predictor(cfg: TrainingConfig, job: JobFolder, class_names: list[str], masks: bool):
    """Per image: boxes (``[x1, y1, x2, y2]`` in its pixels) with class and score, and for instance
    segmentation each object's outline (``polygon``), at the job's image size."""
    from train_jobs.data import decode_images, png_base64

    from train_jobs.tasks._torch import predict_device

    model, device = trained_yolo(cfg, job), 0 if predict_device().type == "cuda" else "cpu"

    def predict(images: list[bytes], draw: bool = False) -> list[dict]:
        out = []
        for img in decode_images(images):  # whole: Ultralytics letterboxes them itself
            [result] = model.predict(img, imgsz=cfg.hyperparameters.image_size, verbose=False, device=device)
            out.append({"objects": _objects(result, class_names, masks)})
            if draw:
                out[-1]["drawn"] = png_base64(draw_objects(img, out[-1]["objects"]))
        return out

    return predict


class _UltralyticsTrainer(TaskTrainer):
    source = "ultralytics"
    masks: ClassVar[bool] = False

    def check_dataset(self, cfg: TrainingConfig, path: str) -> dict:
        index = read_dataset(path, cfg.dataset.format)
        return {"format": index.format, "class_names": index.class_names, "images": len(index.samples)}

    def fit(self, cfg: TrainingConfig, job: JobFolder, callbacks: Sequence = ()) -> None:
        fit(cfg, job)

    def evaluate(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str], path: str) -> dict:
        return evaluate(cfg, job, class_names, path, masks=self.masks)

    def export(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str]) -> dict:
        return export(cfg, job, class_names)

    def predictor(self, cfg: TrainingConfig, job: JobFolder, class_names: list[str]):
        return predictor(cfg, job, class_names, self.masks)

    def batch_metrics(self, index, answers: dict[str, dict], class_names: list[str]):
        return box_metrics(index, answers, class_names, self.masks)


@register_task
class UltralyticsDetection(_UltralyticsTrainer):
    task, metric = "detection", ("mAP50", "max")


@register_task
class UltralyticsSegmentation(_UltralyticsTrainer):
    task, metric, masks = "segmentation", ("mAP50", "max"), True
