"""Adapters register under their source name; ``get_adapter`` and ``list_adapters`` are the surface."""
from __future__ import annotations

from adapters._base import AdapterError, ModelAdapter
from visiontrain import Registry

__all__ = ["SOURCES", "get_adapter", "list_adapters", "register_adapter"]

SOURCES: Registry[type[ModelAdapter]] = Registry("model source", AdapterError)
_INSTANCES: dict[str, ModelAdapter] = {}


def register_adapter(cls: type[ModelAdapter]) -> type[ModelAdapter]:
    return SOURCES.register(cls.name, cls)


def list_adapters() -> list[str]:
    return sorted(SOURCES.names())


def get_adapter(name: str) -> ModelAdapter:
    cls = SOURCES.get(name)
    if _INSTANCES.get(name).__class__ is not cls:
        _INSTANCES[name] = cls()
    return _INSTANCES[name]
