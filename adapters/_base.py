"""The ModelAdapter interface: one per model source, registered by name."""
from __future__ import annotations

import difflib
import os
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Optional
from visiontrain.errors import VisiontrainError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "AdapterError", "ModelAdapter", "ModelInfo", "UnknownModelError", "UnsupportedTaskError", "count_params"]


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class AdapterError(VisiontrainError, ValueError):
    """A model request an adapter cannot satisfy."""


class UnknownModelError(AdapterError):
    def __init__(self, source: str, name: str, suggestions: list[str]):
        self.source, self.name, self.suggestions = source, name, suggestions
        hint = f" Closest names: {', '.join(suggestions)}." if suggestions else ""
        super().__init__(f"{source} has no model {name!r}.{hint} List models with `visiontrain models {source}`.")


class UnsupportedTaskError(AdapterError):
    def __init__(self, source: str, name: str, task: str, supported: list[str]):
        self.supported = supported
        super().__init__(
            f"{source} model {name!r} does not do {task}; it supports: {', '.join(supported)}. "
            "Pick a model for that task, or change the task."
        )


@dataclass
class ModelInfo:
    source: str
    name: str
    tasks: list[str]
    params: Optional[int] = None
    default_image_size: Optional[int] = None
    pretrained_offline: bool = False
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def count_params(build) -> Optional[int]:
    """Parameters of the module ``build()`` makes, built on torch's meta device (no memory, no weights)."""
    try:
        import torch

        with torch.device("meta"):
            return sum(p.numel() for p in build().parameters())
    except Exception:
        return None


class ModelAdapter(ABC):
    """Builds, and knows how to export, the models of one source for the platform's tasks."""

    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]]

    @abstractmethod
    def model_names(self, task: Optional[str] = None) -> list[str]:
        """Canonical names this source can build (for ``task`` when given)."""

    @abstractmethod
    def describe(self, model_name: str) -> ModelInfo: ...

    @abstractmethod
    def build(self, model_name: str, task: str, num_classes: int, pretrained: bool = False,
              weights: Optional[str] = None) -> Any:
        """A torch module for ``task`` with ``num_classes`` outputs."""

    def preprocessing(self, model_name: str) -> dict:
        """How the model wants its input, from its own config: ``mean`` and ``std`` (r, g, b) for RGB in
        [0, 1] (ImageNet's unless it says otherwise), the ``interpolation`` images are resized with, and
        the ``input_size`` (pixels a side) it was made for, or None."""
        return {"mean": IMAGENET_MEAN, "std": IMAGENET_STD, "interpolation": "bilinear", "input_size": None}

    def head_prefixes(self, net: Any, task: str) -> tuple[str, ...]:
        """Names (parameter-name prefixes in ``net`` as ``build`` made it) of the part made for the task:
        the classifier or decode head, what ``model.freeze_backbone_epochs`` trains first. () for none."""
        return ()

    def cache_files(self, model_name: str) -> tuple[str, ...]:
        """Files the weights cache keeps beside the weights because building ``model_name`` needs them
        (a Hugging Face model outside the catalogue: its ``config.json``); () for most."""
        return ()

    def check_files(self, model_name: str, folder: str) -> None:
        """Raise a helpful error unless ``folder``'s :meth:`cache_files` describe a model this source builds."""

    def hub_file(self, model_name: str) -> Optional[tuple[str, str]]:
        """Where the model's pretrained weights are on the Hugging Face Hub: (repository, file), or None."""
        return None

    def publishes_weights(self, model_name: str) -> bool:
        """Whether ``download`` has pretrained weights to fetch for ``model_name``."""
        return self.hub_file(model_name) is not None

    def download(self, model_name: str, folder: str) -> tuple[str, str]:
        """Fetch the model's pretrained weights into ``folder`` with the library's own download
        function (``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` honoured); returns (path, where from)."""
        hub = self.hub_file(model_name)
        if hub is None:
            raise AdapterError(f"{self.name} publishes no pretrained weights for {model_name!r}; train it from "
                               "scratch (model.pretrained: false) or add a weights file to the platform's cache")
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(repo_id=hub[0], filename=hub[1], cache_dir=folder,
                               endpoint=os.environ.get("HF_ENDPOINT") or None)
        return path, f"{hub[0]} ({hub[1]}) from the Hugging Face Hub"

    def save_native(self, net: Any, folder: str, class_names: list[str]) -> str:
        """Save ``net`` (as ``build`` made it, trained) into ``folder`` the way its own library loads
        it; returns how to load it. By default the tensors by the library's own names (safetensors)."""
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, os.path.join(folder, "model.safetensors"))
        return "safetensors.torch.load_file('model.safetensors'), then model.load_state_dict(...)"

    def export_onnx(self, model: Any, sample: Any, path: str) -> None:
        """Write ``model`` as ONNX (input ``images``, batch dimension dynamic)."""
        import torch

        model.eval()
        size = sum(p.numel() * p.element_size() for p in model.parameters())
        torch.onnx.export(
            model, (sample,), path, input_names=["images"], output_names=["outputs"],
            dynamic_shapes=({0: torch.export.Dim("batch", min=1)},), dynamo=True, verbose=False,
            external_data=size > 1_800_000_000,  # one file unless protobuf's 2 GB limit forbids it
        )

    def model_tasks(self, model_name: str) -> list[str]:
        """The tasks ``model_name`` can be built for (cheap: no model is built)."""
        return list(self.tasks)

    def list_models(self, pattern: str = "*", task: Optional[str] = None) -> list[str]:
        import fnmatch

        return [n for n in self.model_names(task) if fnmatch.fnmatch(n, pattern)]

    def check(self, model_name: str, task: str) -> None:
        """Raise a helpful error unless this source has ``model_name`` for ``task``."""
        names = self.model_names()
        if model_name not in names:
            raise UnknownModelError(self.name, model_name, difflib.get_close_matches(model_name, names, n=5, cutoff=0.5))
        supported = self.model_tasks(model_name)
        if task not in supported:
            raise UnsupportedTaskError(self.name, model_name, task, supported)
