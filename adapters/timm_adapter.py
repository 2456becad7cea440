"""timm: image classification from any ``timm.list_models()`` name, from scratch or from a weights
file (the platform's weights cache, filled from the model's timm repository on the Hugging Face Hub);
for anomaly detection the same networks as feature backbones (``features_only``: one map per stage)."""
from __future__ import annotations

import functools
import os
from typing import Optional

from adapters._base import AdapterError, ModelAdapter, ModelInfo, UnknownModelError, count_params
from adapters._registry import register_adapter
from adapters._weights import load_matching

__all__ = ["TimmAdapter"]


@register_adapter
class TimmAdapter(ModelAdapter):
    name = "timm"
    tasks = ("classification", "anomaly_detection")

    @functools.lru_cache(maxsize=None)
    def model_names(self, task: Optional[str] = None) -> list[str]:
        import timm

        return timm.list_models() if task in (None, *self.tasks) else []

    def describe(self, model_name: str) -> ModelInfo:
        import timm

        cfg = timm.models.get_pretrained_cfg(model_name)
        size = cfg.input_size[-1] if cfg and cfg.input_size else None
        return ModelInfo(
            source=self.name, name=model_name, tasks=list(self.tasks),
            params=count_params(lambda: timm.create_model(model_name, pretrained=False)),
            default_image_size=size, pretrained_offline=False,
            extra={"architecture": model_name.split(".")[0]},
        )

    def check(self, model_name: str, task: str) -> None:
        """Any ``timm.list_models()`` name, with or without a pretrained tag (``resnet50.a1_in1k``)."""
        import timm

        base, _, tag = model_name.partition(".")
        super().check(base, task)
        if tag and model_name not in timm.list_pretrained(f"{base}.*"):
            raise UnknownModelError(self.name, model_name, timm.list_pretrained(f"{base}.*")[:5])

    def preprocessing(self, model_name: str) -> dict:
        import timm

        cfg, out = timm.models.get_pretrained_cfg(model_name), super().preprocessing(model_name)
        if cfg is None:
            return out
        return {"mean": tuple(cfg.mean or out["mean"]), "std": tuple(cfg.std or out["std"]),
                "interpolation": cfg.interpolation if cfg.interpolation in ("bilinear", "bicubic") else "bilinear",
                "input_size": cfg.input_size[-1] if cfg.input_size else None}

    def head_prefixes(self, net, task: str) -> tuple[str, ...]:
        if task != "classification":
            return ()
        classifier = net.get_classifier()
        return tuple(name for name, module in net.named_modules() if module is classifier and name)

    def hub_file(self, model_name: str) -> Optional[tuple[str, str]]:
        import timm

        cfg = timm.models.get_pretrained_cfg(model_name)
        return (cfg.hf_hub_id, "model.safetensors") if cfg and cfg.hf_hub_id else None

    def save_native(self, net, folder: str, class_names: list[str]) -> str:
        from timm.models import save_for_hf

        save_for_hf(net, folder, model_config={"label_names": list(class_names)}, safe_serialization=True)
        n = len(class_names)
        return (f"timm.create_model('{net.pretrained_cfg['architecture']}', num_classes={n}, pretrained=True, "
                f"pretrained_cfg_overlay=dict(file='model.safetensors', num_classes={n}))")

    def build(self, model_name: str, task: str, num_classes: int, pretrained: bool = False,
              weights: Optional[str] = None):
        import timm

        self.check(model_name, task)
        if pretrained and not weights:
            raise AdapterError(f"pretrained {model_name!r} needs its weights file here: the job fetches it into the "
                               "platform's weights cache, or set model.pretrained: false to train from scratch")
        if weights and not os.path.isfile(weights):
            raise AdapterError(f"weights file {weights!r} does not exist")
        kwargs = {"features_only": True} if task == "anomaly_detection" else {"num_classes": num_classes}
        try:  # a ViT takes images of the job's size, its position embeddings resampled
            net = timm.create_model(model_name, pretrained=False, dynamic_img_size=True, **kwargs)
        except TypeError:  # a model without a fixed input size
            net = timm.create_model(model_name, pretrained=False, **kwargs)
        if weights:
            load_matching(net, weights)
        return net
