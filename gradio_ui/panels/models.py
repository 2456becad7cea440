"""The Model zoo tab: search the model registry by task and name. The task menu is the platform's
own list (``GET /v1/vocabulary``), filled when the page loads."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import pandas as pd

from gradio_ui.session import Session
from serve_app.client import ApiError, Client

__all__ = ["Models", "build"]


@dataclass
class Models:
    tab: gr.Tab
    task: gr.Dropdown
    query: gr.Textbox
    search: gr.Button
    table: gr.Dataframe

    def labels(self) -> dict:
        return {self.tab: {"label": "tab_models"}, self.task: {"label": "task"}, self.query: {"label": "query"},
                self.search: {"value": "search"}}

    def menus(self, api: str) -> dict:
        """The task menu's choices, from the platform (none while it is not up: the next load fills it)."""
        try:
            return {self.task: {"choices": ["", *Client(api).vocabulary()["tasks"]]}}
        except ApiError:
            return {}

    def wire(self, page) -> None:
        api, state = page.api, page.state

        def on_search(st: Session, task: str, q: str) -> dict:
            try:
                found = st.client(api).get("/v1/models", task=task or None, q=q or None, limit=50)
            except ApiError as exc:
                return {page.errors: st.error(exc)}
            rows = [{"source": m["source"], "name": m["name"], "tasks": ", ".join(m.get("tasks", [])),
                     "params_m": round(m["params"] / 1e6, 1) if m.get("params") else None,
                     "image_size": m.get("default_image_size")} for m in found["models"]]
            return {self.table: pd.DataFrame(rows), page.errors: ""}

        io = ([state, self.task, self.query], [self.table, page.errors])
        self.search.click(on_search, *io)
        self.query.submit(on_search, *io)


def build(T: dict) -> Models:
    with gr.Tab(T["tab_models"], id="models") as tab:
        with gr.Row():
            task = gr.Dropdown([""], value="", label=T["task"], elem_id="model-task")
            query = gr.Textbox(label=T["query"], elem_id="model-query")
            search = gr.Button(T["search"], elem_id="model-search")
        table = gr.Dataframe(elem_id="models-table", interactive=False)
    return Models(tab, task, query, search, table)
