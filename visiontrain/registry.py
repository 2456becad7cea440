"""One registry shape for every fixed vocabulary (timm-style): ``register``, ``names`` (with an
optional shell-style pattern), ``get`` (an unknown name gets the close matches)."""
from __future__ import annotations

import difflib
import fnmatch
from typing import Generic, TypeVar

from visiontrain.errors import VisiontrainError

__all__ = ["AlreadyRegistered", "Registry"]

T = TypeVar("T")


class AlreadyRegistered(VisiontrainError, ValueError):
    """Two things registered under one name: the second would silently replace the first."""


class Registry(Generic[T]):
    """Things of one ``kind`` ("task", "dataset format", "model source") by name, in the order they
    were registered. ``unknown`` is the error class ``get`` raises for a name nobody registered."""

    def __init__(self, kind: str, unknown: type[Exception] = LookupError):
        self.kind, self.unknown = kind, unknown
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise AlreadyRegistered(f"{self.kind} {name!r} is registered twice; give the new one another name, "
                                    f"or unregister the old one first")
        self._items[name] = item
        return item

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)

    def names(self, pattern: str = "*") -> list[str]:
        return [n for n in self._items if fnmatch.fnmatchcase(n, pattern)]

    def items(self) -> list[T]:
        return list(self._items.values())

    def get(self, name: str) -> T:
        if name not in self._items:
            raise self.unknown(self.unknown_message(name))
        return self._items[name]

    def unknown_message(self, name: object) -> str:
        close = difflib.get_close_matches(str(name), list(self._items), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else "."
        return f"unknown {self.kind} {name!r}{hint} Known: {', '.join(map(repr, self._items))}"

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)
