"""Model search across every registered adapter, with metadata (what ``GET /v1/models`` answers)."""
from __future__ import annotations

import functools
from typing import Optional

from adapters import get_adapter, list_adapters
from serve_app.intent._models import SOURCE_ORDER, find_models, normalise, suggest

__all__ = ["describe_model", "search_models"]

MAX_LIMIT = 200


@functools.lru_cache(maxsize=4096)
def describe_model(source: str, name: str) -> dict:
    """Metadata of one model; raises AdapterError (with the closest names) when there is none."""
    adapter = get_adapter(source)
    if name not in adapter.model_names():
        adapter.check(name, adapter.tasks[0])
    return adapter.describe(name).to_dict()


def search_models(task: Optional[str] = None, q: Optional[str] = None, source: Optional[str] = None,
                  limit: int = 20, offset: int = 0) -> dict:
    """Models for ``task`` whose names contain ``q`` (spaces, case and dashes ignored; "ResNet-50",
    "YOLOv8 nano" and "레즈넷50" find their canonical names first)."""
    if source is not None:
        get_adapter(source)
    limit = max(1, min(limit, MAX_LIMIT))
    key = normalise(q or "")
    resolved = [(m.source, m.name) for m in find_models((q or "").lower()) if m.name]
    sources = sorted((s for s in list_adapters() if source in (None, s)),
                     key=lambda s: SOURCE_ORDER.index(s) if s in SOURCE_ORDER else 99)
    hits = [(s, n) for s, n in resolved if source in (None, s) and (task is None or task in get_adapter(s).model_tasks(n))]
    for s in sources:
        hits += [(s, n) for n in get_adapter(s).model_names(task) if key in normalise(n) and (s, n) not in hits]
    page = hits[offset:offset + limit]
    return {"total": len(hits), "offset": offset, "limit": limit, "task": task, "q": q,
            "models": [describe_model(s, n) for s, n in page],
            "suggestions": suggest(q) if q and not hits else []}
