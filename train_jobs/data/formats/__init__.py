"""Dataset formats: each module registers a reader (and writer) for one layout."""
from train_jobs.data.formats._index import Box, DatasetIndex, FormatError, Sample, box_iou
from train_jobs.data.formats._registry import FORMATS, DatasetFormat, detect_format, get_format, list_formats, register_format

# Most specific layouts first: detection tries them in this order.
from train_jobs.data.formats import yolo as _yolo  # noqa: F401,E402
from train_jobs.data.formats import voc as _voc  # noqa: F401,E402
from train_jobs.data.formats import coco as _coco  # noqa: F401,E402
from train_jobs.data.formats import mvtec as _mvtec  # noqa: F401,E402
from train_jobs.data.formats import cityscapes as _cityscapes  # noqa: F401,E402
from train_jobs.data.formats import masks as _masks  # noqa: F401,E402
from train_jobs.data.formats import imagefolder as _imagefolder  # noqa: F401,E402

__all__ = ["FORMATS", "Box", "DatasetFormat", "box_iou", "DatasetIndex", "FormatError", "Sample", "convert", "detect_format",
           "get_format", "list_formats", "read_dataset", "register_format"]


def read_dataset(root: str, fmt: str | None = None) -> DatasetIndex:
    """The dataset at ``root`` read as ``fmt`` (detected when None). Any file that does not hold what
    its format says (a list where a mapping belongs, a missing key) is a FormatError, never a crash."""
    reader = get_format(fmt) if fmt else detect_format(root)
    try:
        return reader.read(root)
    except FormatError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, UnicodeDecodeError) as exc:
        raise FormatError(f"the {reader.name} files do not have the layout of the format "
                          f"({type(exc).__name__}: {str(exc)[:200]}); check them against the format's description") from None


def convert(index: DatasetIndex, fmt: str, out: str) -> None:
    """Write ``index`` in another format (detection: yolo, coco, voc)."""
    target = get_format(fmt)
    if target.write is None or index.task not in target.tasks:
        can = [f.name for f in FORMATS.items() if f.write is not None and index.task in f.tasks and f.name != index.format]
        raise FormatError(f"cannot write {index.task} data as {fmt}; it can be written as "
                          + (", ".join(can) if can else "no other format: it is used as it is"))
    target.write(index, out)
