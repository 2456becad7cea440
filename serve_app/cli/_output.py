"""How a read command prints: lines for a person, or with ``--json`` the API's answer as it came, for
scripts (every read command takes ``--json``)."""
from __future__ import annotations

import json
from typing import Any, Callable

__all__ = ["json_option", "show"]


def json_option(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print the answer as JSON (for scripts)")


def show(args, data: Any, lines: Callable[[Any], None]) -> int:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str, ensure_ascii=False))
    else:
        lines(data)
    return 0
