"""The Datasets tab: your datasets with their counts, health and versions; one opened shows its health
report and a gallery of its images with their labels drawn (all, or one class's); rename, convert to
another format, download and delete it (the API refuses while a job trains on it)."""
from __future__ import annotations

import base64
import io
import os
import tempfile
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from gradio_ui.session import Session
from gradio_ui.text import say
from serve_app.client import ApiError, Client

__all__ = ["Datasets", "build", "datasets_table"]

COLUMNS = ("name", "version", "format", "task", "images", "ok", "source", "dataset_id")


def datasets_table(rows: list[dict], lang: str, words: dict) -> pd.DataFrame:
    """The datasets, headed in ``lang``; health as a word, a task by the platform's name (``words``)."""
    shown = [{"name": d["name"], "version": d.get("version", 1), "format": d.get("format") or "?",
              "task": words.get(f"task.{d['task']}", d["task"]) if d.get("task") else "",
              "images": d.get("images") or 0, "ok": say(lang, "healthy" if d["ok"] else "unhealthy"),
              "source": d.get("source") or "", "dataset_id": d["dataset_id"]} for d in rows]
    return pd.DataFrame(shown or {c: [] for c in COLUMNS}).rename(
        columns={c: say(lang, f"col_ds_{c}") for c in COLUMNS})


def _gallery(found: dict) -> list[tuple]:
    from PIL import Image

    return [(Image.open(io.BytesIO(base64.b64decode(s["drawn"]))), f"{s['image']}: {', '.join(s['classes'])}")
            for s in found["samples"]]


@dataclass
class Datasets:
    tab: gr.Tab
    table: gr.Dataframe
    refresh: gr.Button
    pick: gr.Dropdown
    report: gr.Markdown
    class_name: gr.Dropdown
    gallery: gr.Gallery
    new_name: gr.Textbox
    rename: gr.Button
    to: gr.Dropdown
    convert: gr.Button
    download: gr.Button
    delete: gr.Button
    status: gr.Markdown
    archive: gr.File

    def labels(self) -> dict:
        return {self.tab: {"label": "tab_datasets"}, self.refresh: {"value": "refresh"},
                self.pick: {"label": "dataset_pick"}, self.class_name: {"label": "dataset_class"},
                self.gallery: {"label": "dataset_gallery"}, self.new_name: {"label": "dataset_new_name"},
                self.rename: {"value": "dataset_rename"}, self.to: {"label": "dataset_to"},
                self.convert: {"value": "dataset_convert"}, self.download: {"value": "dataset_download"},
                self.delete: {"value": "dataset_delete"}, self.archive: {"label": "dataset_archive"}}

    def wire(self, page) -> None:
        api, state = page.api, page.state

        def listed(st: Session, chosen: str = "") -> dict:
            rows = st.client(api).get("/v1/datasets")
            choices = [(f"{d['name']} · {d.get('format') or '?'} · {d['dataset_id'][:11]}", d["dataset_id"]) for d in rows]
            chosen = chosen if any(c[1] == chosen for c in choices) else ""
            return {self.table: datasets_table(rows, st.lang, st.named(api)),
                    self.pick: gr.update(choices=[("", ""), *choices], value=chosen)}

        def opened(st: Session, dataset: str, class_name: str = "") -> dict:
            client = st.client(api)
            found = client.get(f"/v1/datasets/{dataset}", language=st.lang)
            names = found["report"].get("class_names") or []
            class_name = class_name if class_name in names else ""
            samples = client.get(f"/v1/datasets/{dataset}/samples", class_name=class_name or None, limit=12)
            return {self.report: found["report"]["summary"], self.gallery: _gallery(samples),
                    self.class_name: gr.update(choices=[(say(st.lang, "all_classes"), ""), *[(n, n) for n in names]],
                                               value=class_name),
                    self.new_name: found["name"]}

        def guarded(fn):
            def run(st: Session, *args) -> dict:
                try:
                    return {page.errors: "", **fn(st, *args)}
                except ApiError as exc:
                    return {page.errors: st.error(exc)}
            return run

        outputs = [self.table, self.pick, self.report, self.class_name, self.gallery, self.new_name, self.status,
                   page.errors]
        closed = {self.report: "", self.gallery: [], self.class_name: gr.update(choices=[], value=None),
                  self.new_name: ""}

        @guarded
        def on_refresh(st: Session, dataset: str) -> dict:
            return listed(st, dataset)

        @guarded
        def on_pick(st: Session, dataset: str) -> dict:
            return opened(st, dataset) if dataset else closed

        @guarded
        def on_class(st: Session, dataset: str, class_name: str) -> dict:
            return opened(st, dataset, class_name) if dataset else {}

        @guarded
        def on_rename(st: Session, dataset: str, name: str) -> dict:
            out = st.client(api).patch(f"/v1/datasets/{dataset}", {"name": (name or "").strip()})
            return {**listed(st, dataset), self.status: say(st.lang, "dataset_renamed", name=out["name"])}

        @guarded
        def on_convert(st: Session, dataset: str, to: str) -> dict:
            out = st.client(api).post(f"/v1/datasets/{dataset}/convert", to=to, language=st.lang)
            return {**listed(st, out["dataset_id"]), **opened(st, out["dataset_id"]),
                    self.status: say(st.lang, "dataset_converted", name=out["name"], id=out["dataset_id"])}

        @guarded
        def on_delete(st: Session, dataset: str) -> dict:
            st.client(api).delete(f"/v1/datasets/{dataset}")
            return {**listed(st), **closed, self.status: say(st.lang, "dataset_deleted", id=dataset)}

        self.refresh.click(on_refresh, [state, self.pick], outputs)
        self.pick.input(on_pick, [state, self.pick], outputs)
        self.class_name.input(on_class, [state, self.pick, self.class_name], outputs)
        self.rename.click(on_rename, [state, self.pick, self.new_name], outputs)
        self.convert.click(on_convert, [state, self.pick, self.to], outputs)
        self.delete.click(on_delete, [state, self.pick], outputs)

        def on_download(st: Session, dataset: str):
            try:
                data = st.client(api).content(f"/v1/datasets/{dataset}/archive")
            except ApiError as exc:
                yield {page.errors: st.error(exc)}
                return
            with tempfile.TemporaryDirectory(prefix="vt-ui-dataset-") as folder:
                path = os.path.join(folder, f"{dataset[:11]}.zip")
                with open(path, "wb") as f:
                    f.write(data)
                yield {self.archive: path, page.errors: ""}

        self.download.click(on_download, [state, self.pick], [self.archive, page.errors])

    def menus(self, api: str) -> dict:
        """The formats a dataset can be converted to, from the platform."""
        try:
            formats = [f["name"] for f in Client(api).vocabulary()["formats"] if f.get("writable")]
        except ApiError:
            return {}
        return {self.to: {"choices": formats, "value": formats[0] if formats else None}}


def build(T: dict) -> Datasets:
    with gr.Tab(T["tab_datasets"], id="datasets") as tab:
        table = gr.Dataframe(elem_id="datasets-table", interactive=False)
        with gr.Row():
            refresh = gr.Button(T["refresh"], elem_id="refresh-datasets")
            pick = gr.Dropdown([("", "")], value="", label=T["dataset_pick"], elem_id="dataset-pick")
            class_name = gr.Dropdown([], label=T["dataset_class"], elem_id="dataset-class")
        report = gr.Markdown(elem_id="dataset-health")
        gallery = gr.Gallery(label=T["dataset_gallery"], columns=4, height="auto", format="png",
                             object_fit="contain", elem_id="dataset-gallery")
        with gr.Row():
            new_name = gr.Textbox(label=T["dataset_new_name"], elem_id="dataset-new-name")
            rename = gr.Button(T["dataset_rename"], elem_id="dataset-rename")
            to = gr.Dropdown([], label=T["dataset_to"], elem_id="dataset-to")
            convert = gr.Button(T["dataset_convert"], elem_id="dataset-convert")
        with gr.Row():
            download = gr.Button(T["dataset_download"], elem_id="dataset-download")
            delete = gr.Button(T["dataset_delete"], variant="stop", elem_id="dataset-delete")
        status = gr.Markdown(elem_id="dataset-status")
        archive = gr.File(label=T["dataset_archive"], elem_id="dataset-archive")
    return Datasets(tab, table, refresh, pick, report, class_name, gallery, new_name, rename, to, convert, download,
                    delete, status, archive)
