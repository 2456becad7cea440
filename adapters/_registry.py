"""Adapters register under their source name; ``get_adapter`` and ``list_adapters`` are the surface."""
from __future__ import annotations

from adapters._base import AdapterError, ModelAdapter

__all__ = ["get_adapter", "list_adapters", "register_adapter"]

_ADAPTERS: dict[str, type[ModelAdapter]] = {}
_INSTANCES: dict[str, ModelAdapter] = {}


def register_adapter(cls: type[ModelAdapter]) -> type[ModelAdapter]:
    if cls.name in _ADAPTERS:
        raise ValueError(f"adapter {cls.name!r} is registered twice")
    _ADAPTERS[cls.name] = cls
    return cls


def list_adapters() -> list[str]:
    return sorted(_ADAPTERS)


def get_adapter(name: str) -> ModelAdapter:
    if name not in _ADAPTERS:
        raise AdapterError(f"unknown model source {name!r}; available: {', '.join(list_adapters())}")
    if name not in _INSTANCES:
        _INSTANCES[name] = _ADAPTERS[name]()
    return _INSTANCES[name]
