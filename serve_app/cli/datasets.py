"""``visiontrain datasets ...`` over the HTTP API: upload, list, show, samples, convert, rename,
download and delete a stored dataset. Every read command takes ``--json``."""
from __future__ import annotations

import base64
import os
import shutil
import tempfile

from serve_app.cli import credentials
from serve_app.cli._output import json_option, show
from train_jobs.data.formats import list_formats

__all__ = ["add_parsers"]


def _client(args):
    return credentials.api_client(args.api)


def _lines(datasets: list[dict]) -> None:
    for d in datasets:
        source = f" (from {d['source']})" if d.get("source") else ""
        print(f"{d['dataset_id']:<28} {d['owner']:<12} {d.get('format') or '?':<12} {d.get('images') or '?':>6} "
              f"{'ok' if d['ok'] else 'problems':<9} {d['name']} v{d.get('version', 1)}{source}")


def cmd_upload(args) -> int:
    path = os.path.abspath(args.path)
    with tempfile.TemporaryDirectory(prefix="vt-zip-") as tmp:
        archive = shutil.make_archive(os.path.join(tmp, "upload"), "zip", path) if os.path.isdir(path) else path
        out = _client(args).upload_dataset(archive, args.name or os.path.basename(path.rstrip("/")), args.format)
    print(out["report"]["summary"])
    print(f"\n{'stored as' if out['created'] else 'already stored as'} {out['dataset_id']} ({out['name']}); "
          f"name it in a chat (\"the {out['name']} dataset\"), or use dataset.uri: {out['dataset_id']}")
    return 0 if out["report"]["ok"] else 1


def cmd_list(args) -> int:
    return show(args, _client(args).get("/v1/datasets"), _lines)


def cmd_show(args) -> int:
    return show(args, _client(args).get(f"/v1/datasets/{args.dataset_id}"),
                lambda d: (_lines([d]), print(d["report"]["summary"])))


def cmd_samples(args) -> int:
    found = _client(args).get(f"/v1/datasets/{args.dataset_id}/samples", class_name=args.class_name,
                              limit=args.limit)
    os.makedirs(args.out, exist_ok=True)
    for s in found["samples"]:
        path = os.path.join(args.out, s["image"].replace("/", "__") + ".labelled.png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(s.pop("drawn")))
        print(f"{path}: {', '.join(s['classes']) or '-'}")
    print(f"{len(found['samples'])} of {found['matching']} images drawn into {args.out}")
    return 0


def cmd_convert(args) -> int:
    out = _client(args).post(f"/v1/datasets/{args.dataset_id}/convert", to=args.to, name=args.name)
    print(out["report"]["summary"])
    print(f"\n{args.dataset_id} as {args.to}: {out['dataset_id']} ({out['name']})")
    return 0 if out["report"]["ok"] else 1


def cmd_rename(args) -> int:
    out = _client(args).patch(f"/v1/datasets/{args.dataset_id}", {"name": args.name})
    print(f"{out['dataset_id']} is now named {out['name']}")
    return 0


def cmd_delete(args) -> int:
    _client(args).delete(f"/v1/datasets/{args.dataset_id}")
    print(f"deleted {args.dataset_id}")
    return 0


def cmd_download(args) -> int:
    path = args.out or f"{args.dataset_id}.zip"
    with open(path, "wb") as f:
        f.write(_client(args).content(f"/v1/datasets/{args.dataset_id}/archive"))
    print(f"wrote {path}")
    return 0


def add_parsers(datasets) -> None:
    """Adds the API's dataset commands to ``visiontrain datasets``."""
    up = datasets.add_parser("upload", help="upload a folder or zip/tar to the API as a dataset")
    up.add_argument("path")
    up.add_argument("--name")
    up.add_argument("--format", choices=list_formats())
    up.set_defaults(fn=cmd_upload)
    ls = datasets.add_parser("list", help="list the stored datasets you can use")
    json_option(ls)
    ls.set_defaults(fn=cmd_list)
    commands = (("show", cmd_show, "a stored dataset and its health report"),
                ("samples", cmd_samples, "a few images with their labels drawn, written as PNG files"),
                ("convert", cmd_convert, "store the dataset anew in another format"),
                ("rename", cmd_rename, "give the dataset another name"),
                ("download", cmd_download, "the dataset's files as a zip archive"),
                ("delete", cmd_delete, "delete the dataset (refused while a job trains on it)"))
    for name, fn, helptext in commands:
        c = datasets.add_parser(name, help=helptext)
        c.add_argument("dataset_id")
        c.set_defaults(fn=fn)
        if name == "show":
            json_option(c)
        elif name == "samples":
            c.add_argument("--out", default="samples", help="the folder to write them to (default: samples)")
            c.add_argument("--class", dest="class_name", help="only images showing this class")
            c.add_argument("--limit", type=int, default=12)
        elif name == "convert":
            c.add_argument("--to", required=True, choices=list_formats(writable=True))
            c.add_argument("--name", help="default: the dataset's name and the format")
        elif name == "rename":
            c.add_argument("name")
        elif name == "download":
            c.add_argument("--out", help="default: DATASET_ID.zip")
