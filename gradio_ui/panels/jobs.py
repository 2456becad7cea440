"""The Jobs tab: your jobs (everyone's for admins and viewers), and opening one by id."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import pandas as pd

from gradio_ui.session import Session
from serve_app.client import ApiError, Client

__all__ = ["Jobs", "build", "jobs_table"]

COLUMNS = ("job_id", "owner", "model", "state", "message")


def jobs_table(client: Client) -> pd.DataFrame:
    rows = [{c: j.get(c, "") for c in COLUMNS} for j in client.get("/v1/jobs")]
    return pd.DataFrame(rows or {c: [] for c in COLUMNS})


@dataclass
class Jobs:
    tab: gr.Tab
    table: gr.Dataframe
    refresh: gr.Button
    job_id: gr.Textbox
    open: gr.Button

    def labels(self) -> dict:
        return {self.tab: {"label": "tab_jobs"}, self.refresh: {"value": "refresh"}, self.job_id: {"label": "job_id"},
                self.open: {"value": "open"}}

    def wire(self, page) -> None:
        api, state = page.api, page.state

        def on_refresh(st: Session) -> dict:
            try:
                return {self.table: jobs_table(st.client(api)), page.errors: ""}
            except ApiError as exc:
                return {page.errors: st.error(exc)}

        self.refresh.click(on_refresh, [state], [self.table, page.errors])
        def on_open(st: Session, job: str):
            yield from page.job.follow(page, st, (job or "").strip())

        self.open.click(on_open, [state, self.job_id], page.job.outputs(page))


def build(T: dict) -> Jobs:
    with gr.Tab(T["tab_jobs"], id="jobs") as tab:
        table = gr.Dataframe(elem_id="jobs-table", interactive=False)
        with gr.Row():
            refresh = gr.Button(T["refresh"], elem_id="refresh-jobs")
            job_id = gr.Textbox(label=T["job_id"], elem_id="open-job-id")
            open_button = gr.Button(T["open"], elem_id="open-job")
    return Jobs(tab, table, refresh, job_id, open_button)
