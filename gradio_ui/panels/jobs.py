"""The Jobs tab: your jobs (everyone's for admins and viewers), opening one by id, a succeeded job's
model over a whole dataset (a batch prediction, followed until it ends, its files to download), and
two or more jobs compared (one table, their curves overlaid)."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from gradio_ui.render import compare_curves, compare_view, named
from gradio_ui.session import Session
from gradio_ui.text import say
from serve_app.client import ApiError, Client, metrics_line

__all__ = ["Jobs", "batch_status", "build", "jobs_table"]

COLUMNS = ("job_id", "owner", "model", "state", "message")
BATCH_FILES = ("predictions.jsonl", "metrics.json", "coco_results.json")


def jobs_table(client: Client, lang: str, words: dict) -> pd.DataFrame:
    """The jobs, headed and their states named in ``lang`` (``words``: the platform's names)."""
    rows = [{c: j.get(c, "") for c in COLUMNS} for j in client.get("/v1/jobs")]
    for row in rows:
        row["state"] = named(words, "state", row["state"])
    return pd.DataFrame(rows or {c: [] for c in COLUMNS}).rename(columns={c: say(lang, f"col_{c}") for c in COLUMNS})


def batch_status(lang: str, job: str, b: dict) -> str:
    """A batch prediction's state in a sentence: images done, and its scores where the images are labelled."""
    if b["state"] == "failed":
        return say(lang, "batch_failed", batch=b["batch_id"], job=job, message=b.get("message", ""))
    line = say(lang, "batch", batch=b["batch_id"], job=job, state=b["state"], done=b.get("done", 0),
               total=b.get("total", "?"))
    if b.get("metrics"):
        line += say(lang, "batch_metrics", metrics=metrics_line(b["metrics"]))
    return line + (say(lang, "batch_refused", refused=b["refused"]) if b.get("refused") else "")


@dataclass
class Jobs:
    tab: gr.Tab
    table: gr.Dataframe
    refresh: gr.Button
    job_id: gr.Textbox
    open: gr.Button
    batch_dataset: gr.Textbox
    batch_start: gr.Button
    batch_status: gr.Markdown
    batch_files: gr.File
    compare_ids: gr.Dropdown
    compare_metric: gr.Dropdown
    compare: gr.Button
    compare_view: gr.Markdown
    compare_plot: gr.LinePlot

    def labels(self) -> dict:
        return {self.tab: {"label": "tab_jobs"}, self.refresh: {"value": "refresh"}, self.job_id: {"label": "job_id"},
                self.open: {"value": "open"}, self.batch_dataset: {"label": "batch_dataset"},
                self.batch_start: {"value": "batch_start"}, self.batch_files: {"label": "batch_files"},
                self.compare_ids: {"label": "compare_ids"}, self.compare_metric: {"label": "compare_metric"},
                self.compare: {"value": "compare"}}

    def wire(self, page) -> None:
        api, state = page.api, page.state

        def on_refresh(st: Session) -> dict:
            try:
                table = jobs_table(st.client(api), st.lang, st.named(api))
            except ApiError as exc:
                return {page.errors: st.error(exc)}
            return {self.table: table, self.compare_ids: gr.update(choices=list(table.iloc[:, 0])), page.errors: ""}

        self.refresh.click(on_refresh, [state], [self.table, self.compare_ids, page.errors])

        def on_compare(st: Session, ids: list, metric: str) -> dict:
            if len(ids or []) < 2:
                return {page.errors: say(st.lang, "compare_pick")}
            try:
                table = st.client(api).get("/v1/jobs/compare", ids=",".join(ids))
            except ApiError as exc:
                return {page.errors: st.error(exc)}
            metrics = sorted(table["curves"])
            if metric not in metrics:
                metric = next((m for m in metrics if m.startswith("val_") and m != "val_loss"), metrics[0] if metrics else None)
            return {self.compare_view: compare_view(st.lang, table, st.named(api)),
                    self.compare_plot: gr.update(**compare_curves(st.lang, table, metric)),
                    self.compare_metric: gr.update(choices=metrics, value=metric), page.errors: ""}

        compare_io = ([state, self.compare_ids, self.compare_metric],
                      [self.compare_view, self.compare_plot, self.compare_metric, page.errors])
        self.compare.click(on_compare, *compare_io)
        self.compare_metric.input(on_compare, *compare_io)
        def on_open(st: Session, job: str):
            yield from page.job.follow(page, st, (job or "").strip())

        self.open.click(on_open, [state, self.job_id], page.job.outputs(page))

        def on_batch(st: Session, job: str, dataset: str):
            job = (job or "").strip() or st.job_id
            if not job:
                yield {page.errors: say(st.lang, "no_job")}
                return
            client = st.client(api)
            try:
                for batch in client.predict_batch(job, (dataset or "").strip() or "uploaded:latest"):
                    yield {self.batch_status: batch_status(st.lang, job, batch), self.batch_files: None, page.errors: ""}
                if batch["state"] != "succeeded":
                    return
                names = set(client.get(f"/v1/jobs/{job}/artifacts")["artifacts"])
                with tempfile.TemporaryDirectory(prefix=f"vt-ui-{batch['batch_id']}-") as folder:
                    yield {self.batch_files: [client.save_artifact(job, f"batches/{batch['batch_id']}/{n}",
                                                                   os.path.join(folder, n))
                                              for n in BATCH_FILES if f"batches/{batch['batch_id']}/{n}" in names]}
            except ApiError as exc:
                yield {page.errors: st.error(exc)}

        self.batch_start.click(on_batch, [state, self.job_id, self.batch_dataset],
                               [self.batch_status, self.batch_files, page.errors])


def build(T: dict) -> Jobs:
    with gr.Tab(T["tab_jobs"], id="jobs") as tab:
        table = gr.Dataframe(elem_id="jobs-table", interactive=False)
        with gr.Row():
            refresh = gr.Button(T["refresh"], elem_id="refresh-jobs")
            job_id = gr.Textbox(label=T["job_id"], elem_id="open-job-id")
            open_button = gr.Button(T["open"], elem_id="open-job")
        with gr.Row():
            batch_dataset = gr.Textbox(label=T["batch_dataset"], value="uploaded:latest", elem_id="batch-dataset")
            batch_start = gr.Button(T["batch_start"], elem_id="batch-start")
        batch_status_md = gr.Markdown(elem_id="batch-status")
        batch_files = gr.File(label=T["batch_files"], file_count="multiple", elem_id="batch-files")
        with gr.Row():
            compare_ids = gr.Dropdown(label=T["compare_ids"], multiselect=True, choices=[], elem_id="compare-ids")
            compare_metric = gr.Dropdown(label=T["compare_metric"], choices=[], elem_id="compare-metric")
            compare = gr.Button(T["compare"], elem_id="compare")
        compare_view_md = gr.Markdown(elem_id="compare-view")
        compare_plot = gr.LinePlot(x="epoch", y="value", color="series", visible=False, elem_id="compare-plot")
    return Jobs(tab, table, refresh, job_id, open_button, batch_dataset, batch_start, batch_status_md, batch_files,
                compare_ids, compare_metric, compare, compare_view_md, compare_plot)
