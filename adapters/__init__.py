"""Model sources behind one interface, registered by name (``list_adapters``, ``get_adapter``)."""
from adapters._base import AdapterError, ModelAdapter, ModelInfo, UnknownModelError, UnsupportedTaskError
from adapters._registry import SOURCES, get_adapter, list_adapters, register_adapter
from adapters import timm_adapter as _timm_adapter  # noqa: F401  (registers "timm")
from adapters import ultralytics_adapter as _ultralytics_adapter  # noqa: F401
from adapters import huggingface_adapter as _huggingface_adapter  # noqa: F401

__all__ = [
    "SOURCES",
    "AdapterError",
    "ModelAdapter",
    "ModelInfo",
    "UnknownModelError",
    "UnsupportedTaskError",
    "get_adapter",
    "list_adapters",
    "register_adapter",
]
