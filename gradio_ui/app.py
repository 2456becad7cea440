"""The chat UI (Gradio), a client of the platform's HTTP API: sign in, upload a dataset, describe
the model, confirm the plan, watch it train, download the result. The page is made of panels
(``gradio_ui/panels``); each browser session holds a :class:`~gradio_ui.session.Session`."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import gradio as gr

from gradio_ui.panels import datasets as datasets_panel, job as job_panel, jobs as jobs_panel, models as models_panel
from gradio_ui.panels import sign_in as sign_in_panel, train as train_panel
from gradio_ui.session import Session
from gradio_ui.text import LABELS

__all__ = ["Page", "build", "queued"]

CACHE_S = 86400  # files Gradio serves (downloads, pictures) are kept a day, swept every hour
# Gradio's queue looks for work every 1 ms while it has none (and for progress every 10 ms): 5 % of a core
# for a UI nobody uses, taken from training on a laptop (bench/idle.py). Every 50 ms and 100 ms it costs
# 0.4 %; an event waits 50 ms more at most.
QUEUE_IDLE_POLL_S = {"sleep_when_free": 0.05, "progress_update_sleep_when_free": 0.1}


@dataclass
class Page:
    """What the panels share: the API's URL, the session's state, the signed-in part of the page, the
    line that says who you are, the line for errors, and each other."""
    api: str
    state: gr.State
    main: gr.Column
    who: gr.Markdown
    errors: gr.Markdown
    sign_in: sign_in_panel.SignIn
    train: train_panel.Train
    job: job_panel.Job
    jobs: jobs_panel.Jobs
    datasets: datasets_panel.Datasets
    models: models_panel.Models

    def panels(self) -> tuple:
        return self.sign_in, self.train, self.job, self.jobs, self.datasets, self.models


def _browser_language(request: Optional[gr.Request]) -> str:
    accept = (request.headers.get("accept-language", "") if request else "").lower()
    return "ko" if accept.startswith("ko") else "en"


def queued(ui: gr.Blocks) -> gr.Blocks:
    """``ui`` with its queue on: each follower holds a worker while its job runs; idle, it polls slowly."""
    ui.queue(default_concurrency_limit=32)
    for name, seconds in QUEUE_IDLE_POLL_S.items():
        if hasattr(ui._queue, name):  # a Gradio that renamed it keeps its own (tests/test_ui_unit.py says so)
            setattr(ui._queue, name, seconds)
    return ui


def build(api: str) -> gr.Blocks:
    T = LABELS["en"]  # the first render; on load every label follows the browser's language
    with gr.Blocks(title="visiontrain", delete_cache=(3600, CACHE_S)) as ui:
        state = gr.State(Session())
        gr.Markdown("# visiontrain")
        sign_in = sign_in_panel.build(T)
        with gr.Column(visible=False) as main:
            who = gr.Markdown(elem_id="who")
            with gr.Tabs():
                with gr.Tab(T["tab_train"], id="train") as tab_train:
                    train = train_panel.build(T, tab_train)
                    job = job_panel.build(T)
                jobs = jobs_panel.build(T)
                datasets = datasets_panel.build(T)
                models = models_panel.build(T)
        errors = gr.Markdown(elem_id="errors")
        page = Page(api, state, main, who, errors, sign_in, train, job, jobs, datasets, models)
        for panel in page.panels():
            panel.wire(page)
        labelled = {component: texts for panel in page.panels() for component, texts in panel.labels().items()}

        def on_load(st: Session, request: gr.Request) -> dict:
            lang = _browser_language(request)
            words, settings = LABELS[lang], {**models.menus(api), **datasets.menus(api), **sign_in.ready()}
            return {state: replace(st, lang=lang),
                    **{component: gr.update(**{attr: words[key] for attr, key in texts.items()},
                                            **settings.get(component, {}))
                       for component, texts in labelled.items()}}

        ui.load(on_load, [state], [state, *labelled])
    return ui
