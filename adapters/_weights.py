"""Weights files read without running code from them: safetensors, or torch files whose only classes
are torch and Ultralytics network layers (torch's ``weights_only`` loader with those layers allowed).
A released Ultralytics checkpoint is a pickled network; a file naming anything else (a function, a
class outside those packages) is refused before it is read."""
from __future__ import annotations

import importlib

from adapters._base import AdapterError

__all__ = ["WeightsRefused", "LAYER_PACKAGES", "load_matching", "load_state_dict"]

LAYER_PACKAGES = ("torch.nn.modules.", "ultralytics.nn.")


class WeightsRefused(AdapterError):
    """A weights file that could run code when read, or is not a weights file at all."""


def _layer_class(name: str, path: str):
    import torch

    module, _, attr = name.rpartition(".")
    cls = None
    if module.startswith(LAYER_PACKAGES):
        try:
            cls = getattr(importlib.import_module(module), attr, None)
        except ImportError:
            cls = None
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise WeightsRefused(f"{path}: the file names {name!r}, which is not a network layer of "
                             f"{' or '.join(p.rstrip('.') for p in LAYER_PACKAGES)}; it is not read because "
                             "reading it could run code. Save the weights as safetensors or as a state dict "
                             "(torch.save(model.state_dict(), ...)) and use that file")
    return cls


def _state_of(obj, path: str) -> dict:
    import torch

    if isinstance(obj, torch.nn.Module):
        return {k: v.float() if v.is_floating_point() else v for k, v in obj.state_dict().items()}
    if isinstance(obj, dict):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
        for key in ("ema", "model", "state_dict", "model_state_dict"):
            if obj.get(key) is not None:
                return _state_of(obj[key], path)
    raise WeightsRefused(f"{path}: no network weights found (expected a state dict, a network, or a checkpoint "
                         "with one under 'ema', 'model' or 'state_dict')")


def load_state_dict(path: str) -> dict:
    """The tensors of a weights file, by parameter name."""
    import torch

    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    try:
        needed = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as exc:  # noqa: BLE001 - torch says only that it cannot read the archive
        raise WeightsRefused(f"{path}: not a torch weights file ({exc.__class__.__name__}: {exc})") from None
    allowed = [_layer_class(name, path) for name in needed]
    with torch.serialization.safe_globals(allowed):
        try:
            return _state_of(torch.load(path, map_location="cpu", weights_only=True), path)
        except WeightsRefused:
            raise
        except Exception as exc:  # noqa: BLE001 - the restricted reader refuses what it cannot build
            raise WeightsRefused(f"{path}: could not be read as weights ({exc})") from None


def _aligned(state: dict, own: dict) -> dict:
    """``state`` with the names ``own`` uses: as they are, or without a wrapper's leading part
    (``module.``, ``model.``, the platform's own ``1.`` and ``1.model.``), whichever fits most."""
    prefixes = {""} | {".".join(k.split(".")[:n]) + "." for k in state for n in (1, 2) if k.count(".") > n}

    def fitting(prefix: str) -> dict:
        named = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        return {k: v for k, v in named.items() if k in own and own[k].shape == v.shape}

    return max((fitting(p) for p in sorted(prefixes)), key=len)


def load_matching(module, path: str) -> int:
    """Put the weights of ``path`` into ``module`` wherever a name and shape match (a new head for
    other classes keeps its fresh weights); returns how many tensors were loaded."""
    state = _aligned(load_state_dict(path), module.state_dict())
    if not state:
        raise WeightsRefused(f"{path}: none of its tensors fits the model (names or shapes differ): these are "
                             "weights of another architecture")
    module.load_state_dict(state, strict=False)
    return len(state)
