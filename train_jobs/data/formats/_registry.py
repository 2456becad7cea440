"""Dataset formats register a reader (and a writer where conversion makes sense) by name."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from train_jobs.data.formats._index import DatasetIndex, FormatError
from visiontrain import Registry

__all__ = ["FORMATS", "DatasetFormat", "detect_format", "get_format", "list_formats", "register_format"]


@dataclass(frozen=True)
class DatasetFormat:
    name: str
    tasks: tuple[str, ...]
    looks_like: Callable[[str], bool]
    read: Callable[[str], DatasetIndex]
    write: Optional[Callable[[DatasetIndex, str], None]] = None
    layout: str = ""  # what the format looks like on disk, for "cannot tell the format" errors
    masks: bool = False  # its labels are mask images of class ids (semantic segmentation)


FORMATS: Registry[DatasetFormat] = Registry("dataset format", FormatError)


def register_format(fmt: DatasetFormat) -> DatasetFormat:
    return FORMATS.register(fmt.name, fmt)


def list_formats(writable: bool = False) -> list[str]:
    """Every format's name, or with ``writable`` those a dataset can be converted to."""
    return [f.name for f in FORMATS.items() if f.write is not None] if writable else FORMATS.names()


def get_format(name: str) -> DatasetFormat:
    return FORMATS.get(name)


def detect_format(root: str) -> DatasetFormat:
    """The first registered format whose layout ``root`` has (more specific formats register first)."""
    for fmt in FORMATS.items():
        if fmt.looks_like(root):
            return fmt
    raise FormatError(f"cannot tell the format of {root!r}. Expected one of: "
                      + ", ".join(f.layout or f.name for f in FORMATS.items()))
