"""``visiontrain weights``: the platform's pretrained-weights cache, on a machine that reaches its
artifact store (an operator's): add a file, pull from the models' hubs, list what is cached."""
from __future__ import annotations

import os
import time

from serve_app.cli._output import json_option, show

__all__ = ["add_parsers"]


def _cache(args):
    from train_jobs.config import default_storage_uri
    from train_jobs.store import open_store
    from train_jobs.weights import WeightsCache

    return WeightsCache(open_store(args.storage or default_storage_uri()))


def _model(text: str) -> tuple[str, str]:
    source, sep, name = text.partition("/")
    if not (sep and name):
        raise ValueError(f"--model {text!r}: give SOURCE/NAME, e.g. timm/resnet50 or huggingface/nvidia/mit-b0")
    return source, name


def _line(m: dict) -> str:
    added = time.strftime("%Y-%m-%d %H:%M", time.localtime(m["added_at"]))
    return f"{m['source']}/{m['name']:<32} {m['size'] / 1e6:8.1f} MB  {m['sha256'][:12]}  {added}  {m['origin']}"


def cmd_add(args) -> int:
    source, name = _model(args.model)
    path = os.path.abspath(args.file)
    print(_line(_cache(args).add(path, source, name, origin=args.origin or f"added by hand from {path}")))
    return 0


def cmd_pull(args) -> int:
    cache = _cache(args)
    for text in args.models:
        print(_line(cache.fetch(*_model(text))))
    return 0


def _lines(found: list[dict]) -> None:
    for m in found:
        print(_line(m))


def cmd_list(args) -> int:
    return show(args, _cache(args).list(), _lines)


def add_parsers(sub) -> None:
    w = sub.add_parser("weights", help="the platform's pretrained-weights cache").add_subparsers(
        dest="weights_command", required=True)
    a = w.add_parser("add", help="keep a weights file (safetensors, a state dict or a released checkpoint) for a model")
    a.add_argument("file")
    a.add_argument("--model", required=True, help="SOURCE/NAME, e.g. timm/resnet50")
    a.add_argument("--origin", help="where the file came from (shown with it)")
    a.set_defaults(fn=cmd_add)
    p = w.add_parser("pull", help="fetch models' weights from their hubs into the cache (needs downloads)")
    p.add_argument("models", nargs="+", metavar="SOURCE/NAME")
    p.set_defaults(fn=cmd_pull)
    ls = w.add_parser("list", help="what the cache holds")
    json_option(ls)
    ls.set_defaults(fn=cmd_list)
    for c in (a, p, ls):
        c.add_argument("--storage", help="artifact store (default: $VISIONTRAIN_HOME/artifacts)")
