"""``visiontrain``: the command line. Local commands (``cli.local``) and commands over the HTTP
API (``cli.remote``, and ``cli.datasets`` for datasets) share one parser; global options (``--api``)
go anywhere."""
from __future__ import annotations

import argparse
import sys
from importlib.metadata import version
from typing import Optional

from serve_app.cli import datasets, local, remote, weights
from serve_app.client import ApiError
from visiontrain import VisiontrainError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="visiontrain", description="Train vision models on Ray.")
    p.add_argument("--version", action="version", version=f"visiontrain {version('visiontrain')}")
    p.add_argument("--api", help="the API's URL (default: $VISIONTRAIN_API_URL, the last login's, else "
                                 "http://127.0.0.1:8000)")
    sub = p.add_subparsers(dest="command", required=True)

    datasets.add_parsers(local.add_parsers(sub))
    remote.add_parsers(sub)
    weights.add_parsers(sub)
    return p


# Exit codes: 0 done, 1 the job or the input failed, 2 usage (argparse), 3 the API is unreachable,
# 4 not logged in or not allowed.
FAILED, UNREACHABLE, NOT_ALLOWED = 1, 3, 4
GLOBAL_OPTIONS = ("--api",)


def _global_options_first(argv: list[str]) -> list[str]:
    """``visiontrain jobs --api URL`` as ``visiontrain --api URL jobs``: global options go anywhere."""
    front, rest, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in GLOBAL_OPTIONS and i + 1 < len(argv):
            front += argv[i:i + 2]
            i += 2
            continue
        (front if arg.split("=", 1)[0] in GLOBAL_OPTIONS else rest).append(arg)
        i += 1
    return front + rest


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(_global_options_first(list(sys.argv[1:] if argv is None else argv)))
    try:
        return args.fn(args)
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return UNREACHABLE if exc.status == 0 else NOT_ALLOWED if exc.status in (401, 403) else FAILED
    except (VisiontrainError, ValueError, KeyError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
