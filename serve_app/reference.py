"""Reference tables in ``docs/`` written from the code (here, at the top layer, since it reads them all): a generated block sits between two markers
in a hand-written page, and ``python -m serve_app.reference`` rewrites every block (a test checks
that they are current). The tables: the TrainingConfig fields (docs/config.md), the CLI's commands
(docs/cli.md) and the settings (docs/settings.md)."""
from __future__ import annotations

import pathlib
import re
import sys
import typing
from typing import Callable

__all__ = ["BLOCKS", "render", "rewrite"]

ROOT = pathlib.Path(__file__).resolve().parents[1]
_LIMITS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("min_length", "at least"), ("max_length", "at most"))


def _type(annotation) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin is typing.Union:
        return " or ".join(_type(a) for a in args)
    if origin in (list, dict):
        return f"{origin.__name__} of " + ", ".join(_type(a) for a in args)
    return getattr(annotation, "__name__", str(annotation)).replace("typing.", "")


def _limits(field) -> str:
    out = []
    for meta in field.metadata:
        for attr, word in _LIMITS:
            if getattr(meta, attr, None) is not None:
                out.append(f"{word} {getattr(meta, attr)}")
    return ", ".join(out)


def _vocabulary() -> dict[str, list[str]]:
    """Fields whose values are a registry's names."""
    from adapters import list_adapters
    from train_jobs.data.formats import list_formats
    from visiontrain.tasks import TASKS

    return {"task": TASKS.names(), "model.source": list_adapters(), "dataset.format": list_formats()}


def config_fields() -> str:
    from pydantic import BaseModel

    from train_jobs.config import TrainingConfig

    names = _vocabulary()

    rows = ["| field | type | default | allowed | what it is |", "|---|---|---|---|---|"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, f in model.model_fields.items():
            nested = [a for a in (f.annotation, *typing.get_args(f.annotation))
                      if isinstance(a, type) and issubclass(a, BaseModel)]
            keyed = typing.get_origin(f.annotation) is dict
            if keyed:
                nested = [a for a in typing.get_args(f.annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
            if nested:
                rows.append(f"| `{prefix}{name}` | {'a section per name' if keyed else 'section'} | | | "
                            f"{f.description or ''} |")
                walk(nested[0], f"{prefix}{name}.{'<name>.' if keyed else ''}")
                continue
            default = "required" if f.is_required() else "" if f.default_factory else f"`{f.default}`"
            allowed = ", ".join(f"`{n}`" for n in names[prefix + name]) if prefix + name in names else _limits(f)
            rows.append(f"| `{prefix}{name}` | {_type(f.annotation)} | {default} | {allowed} | "
                        f"{(f.description or '').replace('|', '/')} |")

    walk(TrainingConfig, "")
    return "\n".join(rows) + "\n"


def cli_commands() -> str:
    import argparse
    import os

    from serve_app.cli import build_parser

    columns, os.environ["COLUMNS"] = os.environ.get("COLUMNS"), "100"
    try:
        out: list[str] = []

        def walk(parser: argparse.ArgumentParser) -> None:
            subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
            if not subs:
                out.append(f"### `{parser.prog}`\n\n```\n{parser.format_help().rstrip()}\n```\n")
            for action in subs:
                for child in action.choices.values():
                    walk(child)

        top = build_parser()
        out.append(f"```\n{top.format_usage().rstrip()}\n```\n")
        walk(top)
        return "\n".join(out)
    finally:
        if columns is None:
            os.environ.pop("COLUMNS")
        else:
            os.environ["COLUMNS"] = columns


def settings_table() -> str:
    from visiontrain.settings import markdown_table

    return markdown_table()


BLOCKS: dict[str, tuple[str, Callable[[], str]]] = {
    "config-fields": ("docs/config.md", config_fields),
    "cli-commands": ("docs/cli.md", cli_commands),
    "settings": ("docs/settings.md", settings_table),
}


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- generated: {name} .*?-->\n)(.*?)(<!-- end: {name} -->)", re.S)


def render(name: str) -> str:
    """The page of block ``name`` with that block as the code writes it now."""
    page, make = BLOCKS[name]
    text = (ROOT / page).read_text()
    if not _pattern(name).search(text):
        raise ValueError(f"{page} has no block {name!r}: add '<!-- generated: {name} (python -m "
                         f"serve_app.reference) -->' and '<!-- end: {name} -->' where it goes")
    return _pattern(name).sub(lambda m: m.group(1) + make() + m.group(3), text)


def rewrite() -> None:
    for name, (page, _) in BLOCKS.items():
        (ROOT / page).write_text(render(name))
        print(f"{page}: {name} written", file=sys.stderr)


if __name__ == "__main__":
    rewrite()
