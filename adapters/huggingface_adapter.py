"""Hugging Face transformers: image classification (ViT, ConvNeXt, ResNet) and semantic segmentation
(SegFormer) built from their configs; pretrained weights come from a weights file (the platform's
weights cache, filled from the Hub by ``download``), a ``save_pretrained`` folder or the local
Hugging Face cache (``local_files_only``)."""
from __future__ import annotations

import json
import os
import re
from typing import Optional

from adapters._base import AdapterError, ModelAdapter, ModelInfo, count_params
from adapters._registry import register_adapter
from adapters._weights import load_matching

__all__ = ["HuggingFaceAdapter"]

_SEGFORMER = {  # hidden sizes, depths per variant (the MiT encoders)
    "b0": ([32, 64, 160, 256], [2, 2, 2, 2], 256), "b1": ([64, 128, 320, 512], [2, 2, 2, 2], 256),
    "b2": ([64, 128, 320, 512], [3, 4, 6, 3], 768), "b3": ([64, 128, 320, 512], [3, 4, 18, 3], 768),
    "b4": ([64, 128, 320, 512], [3, 8, 27, 3], 768), "b5": ([64, 128, 320, 512], [3, 6, 40, 3], 768),
}
CATALOGUE: dict[str, tuple[str, str, dict]] = {
    "google/vit-base-patch16-224": ("classification", "ViTConfig", {}),
    "google/vit-small-patch16-224": ("classification", "ViTConfig",
                                     {"hidden_size": 384, "num_attention_heads": 6, "intermediate_size": 1536}),
    "facebook/convnext-tiny-224": ("classification", "ConvNextConfig", {}),
    "facebook/convnext-small-224": ("classification", "ConvNextConfig", {"depths": [3, 3, 27, 3]}),
    "microsoft/resnet-18": ("classification", "ResNetConfig",
                            {"layer_type": "basic", "depths": [2, 2, 2, 2], "hidden_sizes": [64, 128, 256, 512]}),
    "microsoft/resnet-50": ("classification", "ResNetConfig", {}),
    **{f"nvidia/mit-{v}": ("segmentation", "SegformerConfig",
                           {"hidden_sizes": h, "depths": d, "decoder_hidden_size": dec})
       for v, (h, d, dec) in _SEGFORMER.items()},
}


HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # a Hub repository: owner/name
HEADS = {"ForImageClassification": "classification", "ForSemanticSegmentation": "segmentation"}


def _config_task(folder: str) -> tuple[str, dict]:
    """The task of the model whose ``config.json`` is in ``folder`` (from its architecture), and the config."""
    try:
        with open(os.path.join(folder, "config.json")) as f:
            config = json.load(f)
    except (OSError, ValueError) as exc:
        raise AdapterError(f"no readable config.json beside the weights ({exc}); give the folder save_pretrained "
                           "wrote, or pull the model from the Hub") from None
    for arch in config.get("architectures") or []:
        for suffix, task in HEADS.items():
            if arch.endswith(suffix):
                return task, config
    raise AdapterError(f"config.json names {config.get('architectures')}: visiontrain trains Hugging Face models for "
                       "image classification (...ForImageClassification) and semantic segmentation "
                       "(...ForSemanticSegmentation)")


def _with_weights(auto, config, weights: str):
    """The model for ``config`` with the weights of ``weights``: a file in the platform's names (a job's) is
    loaded by name; one in the Hub's names (what ``save_pretrained`` writes, which transformers renames
    as it loads) through ``from_pretrained``. A head for other classes keeps its fresh weights."""
    import tempfile

    from adapters._weights import WeightsRefused

    model = auto.from_config(config)
    try:
        if load_matching(model, weights) >= len(model.state_dict()) - 2:  # all but a replaced head
            return model
    except WeightsRefused:
        pass
    if not weights.endswith(".safetensors"):
        raise AdapterError(f"{weights}: its names are neither the platform's nor a Hugging Face model's; give the "
                           "model.safetensors that save_pretrained wrote")
    with tempfile.TemporaryDirectory(prefix="vt-hf-") as d:
        config.save_pretrained(d)
        os.symlink(os.path.abspath(weights), os.path.join(d, "model.safetensors"))
        return auto.from_pretrained(d, config=config, ignore_mismatched_sizes=True, local_files_only=True)


def _torch_module():
    import torch

    class Logits(torch.nn.Module):
        """Plain tensor in, logits out (segmentation logits upsampled to the input size)."""

        def __init__(self, model, segmentation: bool, vit: bool):
            super().__init__()
            self.model, self.segmentation, self.vit = model, segmentation, vit

        def forward(self, x):
            kwargs = {"interpolate_pos_encoding": True} if self.vit else {}
            logits = self.model(pixel_values=x, **kwargs).logits
            if self.segmentation:
                logits = torch.nn.functional.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
            return logits

    return Logits


@register_adapter
class HuggingFaceAdapter(ModelAdapter):
    name = "huggingface"
    tasks = ("classification", "segmentation")

    def model_names(self, task: Optional[str] = None) -> list[str]:
        return [n for n, (t, _, _) in CATALOGUE.items() if task in (None, t)]

    def model_tasks(self, model_name: str) -> list[str]:
        return [CATALOGUE[model_name][0]] if model_name in CATALOGUE else []

    def cache_files(self, model_name: str) -> tuple[str, ...]:
        return () if model_name in CATALOGUE or not HUB_NAME.match(model_name) else ("config.json",)

    def check_files(self, model_name: str, folder: str) -> None:
        if self.cache_files(model_name):
            _config_task(folder)

    def _config(self, model_name: str, num_classes: int):
        import transformers

        task, cls_name, kwargs = CATALOGUE[model_name]
        labels = {"num_labels": num_classes, "id2label": {i: str(i) for i in range(num_classes)},
                  "label2id": {str(i): i for i in range(num_classes)}}
        return task, getattr(transformers, cls_name)(**kwargs, **labels)

    def describe(self, model_name: str) -> ModelInfo:
        task, config = self._config(model_name, 2)
        return ModelInfo(source=self.name, name=model_name, tasks=[task],
                         params=count_params(lambda: self.build(model_name, task, 2)),
                         default_image_size=getattr(config, "image_size", 512 if task == "segmentation" else 224),
                         pretrained_offline=self._cached(model_name),
                         extra={"architecture": type(config).__name__.removesuffix("Config"),
                                "segmentation": "semantic" if task == "segmentation" else None})

    @staticmethod
    def _cached(model_name: str) -> bool:
        try:
            from huggingface_hub import try_to_load_from_cache

            return isinstance(try_to_load_from_cache(model_name, "config.json"), str)
        except Exception:
            return False

    def preprocessing(self, model_name: str) -> dict:
        task, kind, _ = CATALOGUE.get(model_name, ("", "", {}))
        out = {**super().preprocessing(model_name), "input_size": 512 if task == "segmentation" else 224}
        if kind == "ViTConfig":  # ViT's image processor: 0.5, 0.5
            out.update(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        elif kind in ("ConvNextConfig", "ResNetConfig"):  # their image processors resize bicubic
            out.update(interpolation="bicubic")
        return out

    def head_prefixes(self, net, task: str) -> tuple[str, ...]:
        return ("model.decode_head",) if task == "segmentation" else ("model.classifier",)

    def hub_file(self, model_name: str) -> Optional[tuple[str, str]]:
        return (model_name, "model.safetensors") if model_name in CATALOGUE or HUB_NAME.match(model_name) else None

    def download(self, model_name: str, folder: str) -> tuple[str, str]:
        """The weights, and for a model outside the catalogue its ``config.json`` beside them."""
        if self.cache_files(model_name):
            from huggingface_hub import hf_hub_download

            _config_task(os.path.dirname(hf_hub_download(repo_id=model_name, filename="config.json", cache_dir=folder,
                                                         endpoint=os.environ.get("HF_ENDPOINT") or None)))
        return super().download(model_name, folder)

    def save_native(self, net, folder: str, class_names: list[str]) -> str:
        model = net.model
        model.config.id2label = dict(enumerate(class_names))
        model.config.label2id = {name: i for i, name in enumerate(class_names)}
        model.save_pretrained(folder, safe_serialization=True)
        return f"transformers.{type(model).__name__}.from_pretrained('<this folder>')"

    def build(self, model_name: str, task: str, num_classes: int, pretrained: bool = False,
              weights: Optional[str] = None):
        import transformers

        if self.cache_files(model_name):
            return self._build_from_files(model_name, task, num_classes, weights)
        self.check(model_name, task)
        _, config = self._config(model_name, num_classes)
        auto = (transformers.AutoModelForSemanticSegmentation if task == "segmentation"
                else transformers.AutoModelForImageClassification)
        if weights and os.path.isfile(weights):  # a weights file (the platform's cache): what fits is loaded
            model = _with_weights(auto, config, weights)
        elif weights or pretrained:  # a save_pretrained folder, or the Hugging Face cache
            try:
                model = auto.from_pretrained(weights or model_name, config=config, local_files_only=True,
                                             ignore_mismatched_sizes=True)
            except OSError:
                raise AdapterError(f"no weights for {weights or model_name!r} here: the job fetches them into the "
                                   "platform's weights cache, or set model.pretrained: false to train from "
                                   "scratch") from None
        else:
            model = auto.from_config(config)
        return _torch_module()(model, task == "segmentation", type(config).__name__ == "ViTConfig")

    def _build_from_files(self, model_name: str, task: str, num_classes: int, weights: Optional[str]):
        """A Hub model outside the catalogue: built from the ``config.json`` beside its cached weights."""
        import transformers

        if not weights or not os.path.isfile(weights):
            raise AdapterError(f"huggingface/{model_name} is not in the catalogue: it is built from its config.json in "
                               "the platform's weights cache, with its pretrained weights (model.pretrained: true); "
                               f"an admin can add it with `visiontrain weights pull huggingface/{model_name}`")
        found, config = _config_task(os.path.dirname(weights))
        if found != task:
            raise AdapterError(f"{model_name} is a {found} model (its config.json), not {task}; pick a {task} model")
        config = transformers.AutoConfig.for_model(**{**config, "num_labels": num_classes,
                                                      "id2label": {i: str(i) for i in range(num_classes)},
                                                      "label2id": {str(i): i for i in range(num_classes)}})
        auto = (transformers.AutoModelForSemanticSegmentation if task == "segmentation"
                else transformers.AutoModelForImageClassification)
        model = _with_weights(auto, config, weights)
        return _torch_module()(model, task == "segmentation", config.model_type == "vit")
