"""The Jobs tab: your jobs (everyone's for admins and viewers), opening one by id, and a succeeded
job's model over a whole dataset (a batch prediction, followed until it ends, its files to download)."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from gradio_ui.render import named
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

    def labels(self) -> dict:
        return {self.tab: {"label": "tab_jobs"}, self.refresh: {"value": "refresh"}, self.job_id: {"label": "job_id"},
                self.open: {"value": "open"}, self.batch_dataset: {"label": "batch_dataset"},
                self.batch_start: {"value": "batch_start"}, self.batch_files: {"label": "batch_files"}}

    def wire(self, page) -> None:
        api, state = page.api, page.state

        def on_refresh(st: Session) -> dict:
            try:
                return {self.table: jobs_table(st.client(api), st.lang, st.named(api)), page.errors: ""}
            except ApiError as exc:
                return {page.errors: st.error(exc)}

        self.refresh.click(on_refresh, [state], [self.table, page.errors])
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
    return Jobs(tab, table, refresh, job_id, open_button, batch_dataset, batch_start, batch_status_md, batch_files)
