"""Ultralytics: YOLOv8 / YOLO11 detection and instance segmentation (n/s/m/l/x) from their yaml
definitions; a local weights file (``.pt`` as released, or safetensors) gives the starting weights,
read without unpickling code (``adapters._weights``)."""
from __future__ import annotations

import functools
import os
from typing import Optional

from adapters._base import AdapterError, ModelAdapter, ModelInfo
from adapters._registry import register_adapter
from adapters._weights import load_matching
from visiontrain.settings import settings as env_settings

__all__ = ["UltralyticsAdapter", "offline_env"]

FAMILIES = ("yolov8", "yolo11")
SIZES = "nsmlx"


def offline_env() -> None:
    """Keep Ultralytics from reaching the network or writing to the home folder."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")
    os.environ.setdefault("YOLO_CONFIG_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), "visiontrain-ultralytics"))


def weights_dir() -> str:
    s = env_settings()
    return s.weights_dir or os.path.join(s.home_path, "weights")


@register_adapter
class UltralyticsAdapter(ModelAdapter):
    name = "ultralytics"
    tasks = ("detection", "segmentation")

    def model_names(self, task: Optional[str] = None) -> list[str]:
        det = [f"{f}{s}" for f in FAMILIES for s in SIZES]
        return {"detection": det, "segmentation": [f"{n}-seg" for n in det], None: det + [f"{n}-seg" for n in det]}.get(task, [])

    def model_tasks(self, model_name: str) -> list[str]:
        return ["segmentation"] if model_name.endswith("-seg") else ["detection"]

    @functools.lru_cache(maxsize=None)
    def describe(self, model_name: str) -> ModelInfo:
        seg = model_name.endswith("-seg")
        return ModelInfo(
            source=self.name, name=model_name, tasks=self.model_tasks(model_name),
            params=sum(p.numel() for p in self.build(model_name, self.model_tasks(model_name)[0], 80).parameters()),
            default_image_size=640, pretrained_offline=os.path.isfile(os.path.join(weights_dir(), f"{model_name}.pt")),
            extra={"family": model_name.split("-")[0][:-1], "size": model_name.split("-")[0][-1],
                   "segmentation": "instance" if seg else None},
        )

    def source_file(self, model_name: str, pretrained: bool = False, weights: Optional[str] = None) -> str:
        """The starting weights file when asked for and present, else the architecture's yaml."""
        if weights:
            if not os.path.isfile(weights):
                raise AdapterError(f"weights file {weights!r} does not exist")
            return weights
        if pretrained:
            local = os.path.join(weights_dir(), f"{model_name}.pt")
            if not os.path.isfile(local):
                raise AdapterError(f"pretrained {model_name} needs {local} here (no downloads): put the .pt file "
                                   "there or set model.weights, or set model.pretrained: false to train from scratch")
            return local
        return f"{model_name}.yaml"

    def preprocessing(self, model_name: str) -> dict:
        return {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "interpolation": "bilinear", "input_size": 640}

    def publishes_weights(self, model_name: str) -> bool:
        return model_name in self.model_names()  # every released YOLOv8 / YOLO11 size

    def download(self, model_name: str, folder: str) -> tuple[str, str]:
        """Ultralytics' own release download (its GitHub assets)."""
        from ultralytics.utils.downloads import attempt_download_asset

        self.check(model_name, self.model_tasks(model_name)[0])
        path = str(attempt_download_asset(os.path.join(folder, f"{model_name}.pt")))
        if not os.path.isfile(path):
            raise AdapterError(f"Ultralytics could not download {model_name}.pt (offline?); put the file in the "
                               f"platform's weights cache with `visiontrain weights add FILE --model ultralytics/{model_name}`")
        return path, f"{model_name}.pt from Ultralytics' releases"

    def checkpoint_file(self, net, class_names: list[str], path: str, **saved) -> None:
        """``net`` (as ``build`` made it) in Ultralytics' own checkpoint layout, the file ``YOLO(path)``
        loads; ``saved``: what else the checkpoint holds (epoch, optimizer, train_args, ...)."""
        import torch
        import ultralytics
        from ultralytics.nn.tasks import SegmentationModel

        net.names = dict(enumerate(class_names))
        args = saved.pop("train_args", None) or getattr(net, "args", None) or {}
        net.args = {**(args if isinstance(args, dict) else vars(args)),  # a trainer's hyperparameters: a namespace
                    "task": "segment" if isinstance(net, SegmentationModel) else "detect"}
        torch.save({"epoch": -1, "best_fitness": None, "updates": None, "optimizer": None, **saved, "model": None,
                    "ema": net, "train_args": net.args, "version": ultralytics.__version__}, path)

    def save_native(self, net, folder: str, class_names: list[str]) -> str:
        self.checkpoint_file(net, class_names, os.path.join(folder, "best.pt"))
        return "ultralytics.YOLO('best.pt')"

    def build(self, model_name: str, task: str, num_classes: int, pretrained: bool = False,
              weights: Optional[str] = None):
        offline_env()
        from ultralytics.nn.tasks import DetectionModel, SegmentationModel

        self.check(model_name, task)
        cls = SegmentationModel if model_name.endswith("-seg") else DetectionModel
        model = cls(f"{model_name}.yaml", nc=num_classes, verbose=False)
        src = self.source_file(model_name, pretrained, weights)
        if not src.endswith(".yaml"):
            load_matching(model, src)
        return model

    def export_onnx(self, model, sample, path: str) -> None:
        """Through Ultralytics' own ``YOLO.export``: the file carries the class names, stride, task and
        size as its metadata, so ``YOLO('model.onnx')`` loads it and post-processes as ``YOLO('best.pt')``."""
        import shutil
        import tempfile

        from ultralytics import YOLO

        for m in model.modules():  # heads answer as the export does: one tensor (boxes + scores [+ mask
            if hasattr(m, "export"):  # coefficients]), what the ONNX file's first output is checked against
                m.export = True
            if hasattr(m, "format"):
                m.format = "onnx"
        with tempfile.TemporaryDirectory() as d:
            pt = os.path.join(d, "model.pt")
            self.checkpoint_file(model, [model.names[i] for i in sorted(model.names)], pt)
            out = YOLO(pt).export(format="onnx", imgsz=list(sample.shape[-2:]), dynamic=True, simplify=False,
                                  device="cpu", verbose=False)
            shutil.move(out, path)
