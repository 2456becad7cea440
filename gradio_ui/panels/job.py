"""One job on screen, under the conversation: its step, epoch bar, curves and system use while it
runs (with Stop), then its metrics, tables, sample predictions, downloads and the config to rerun it;
a succeeded job's model can be tried there on your own images ("Try it")."""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass

import gradio as gr
import yaml
from gradio_ui.render import Progress, drawn_answers, result_summary, result_tables
from gradio_ui.session import Session
from gradio_ui.text import say
from serve_app.client import ApiError

__all__ = ["DOWNLOADS", "Job", "build"]

DOWNLOADS = ["export/model.onnx", "weights/model.pt", "metrics.json", "history.json", "config.yaml"]
SERVER_SET = ("job_id", "owner", "storage")  # config fields the API sets itself: not part of a config to rerun
REFRESH_S = 1.0


@dataclass
class Job:
    progress: gr.Group
    status: gr.Markdown
    loss_plot: gr.LinePlot
    metric_plot: gr.LinePlot
    stop: gr.Button
    results: gr.Group
    summary: gr.Markdown
    confusion: gr.Dataframe
    per_class: gr.Dataframe
    samples: gr.Gallery
    downloads: gr.File
    rerun: gr.Code
    try_box: gr.Group
    try_images: gr.File
    try_drawn: gr.Gallery
    try_answers: gr.Markdown

    def labels(self) -> dict:
        return {self.loss_plot: {"label": "loss"}, self.metric_plot: {"label": "metric"}, self.stop: {"value": "stop"},
                self.confusion: {"label": "confusion"}, self.per_class: {"label": "per_class"},
                self.samples: {"label": "samples"}, self.downloads: {"label": "downloads"},
                self.rerun: {"label": "config"}, self.try_images: {"label": "try_it"},
                self.try_drawn: {"label": "try_drawn"}}

    def outputs(self, page) -> list:
        """What ``follow`` updates."""
        return [page.state, self.progress, self.status, self.loss_plot, self.metric_plot, self.stop, self.results,
                self.summary, self.confusion, self.per_class, self.samples, self.downloads, self.rerun, self.try_box,
                self.try_drawn, self.try_answers, page.errors]

    def follow(self, page, st: Session, job: str):
        """Updates as the job's events arrive (at most once a second, state changes and epochs at
        once), then its results. Answers ``{component: update}``; errors become a sentence."""
        try:
            yield from self._follow(page, st, job)
        except ApiError as exc:
            yield {page.errors: st.error(exc)}

    def _follow(self, page, st: Session, job: str):
        client = st.client(page.api)
        st.job_id = job
        config = client.content(f"/v1/jobs/{job}/artifacts/config.yaml").decode()  # stored before submission
        progress = Progress(st.lang, job, int(yaml.safe_load(config)["hyperparameters"]["epochs"]), st.named(page.api))
        loss, metric = progress.curves()  # none yet: hidden
        running = not client.get(f"/v1/jobs/{job}")["ended"]  # Stop only while it is queued or running
        yield {page.state: st, self.results: gr.update(visible=False), self.progress: gr.update(visible=True),
               self.stop: gr.update(visible=running), self.status: progress.status(), page.errors: "",
               self.try_drawn: None, self.try_answers: "", self.loss_plot: gr.update(**loss),
               self.metric_plot: gr.update(**metric)}
        shown = 0.0
        for kind, ev in client.events(job, language=st.lang):
            if kind == "end":
                break
            progress.add(kind, ev)
            if kind == "job" or time.time() - shown >= REFRESH_S:
                shown = time.time()
                loss, metric = progress.curves()
                yield {self.status: progress.status(), self.loss_plot: gr.update(**loss),
                       self.metric_plot: gr.update(**metric)}
        record = client.get(f"/v1/jobs/{job}", language=st.lang)
        progress.state, progress.message = record["state"], record["message"]
        loss, metric = progress.curves()
        names = client.get(f"/v1/jobs/{job}/artifacts")["artifacts"]
        metrics = client.get(f"/v1/jobs/{job}/artifacts/metrics.json") if "metrics.json" in names else None
        tracking = client.get(f"/v1/jobs/{job}/artifacts/tracking.json") if "tracking.json" in names else None
        # Gradio copies what it serves into its own cache (emptied by age) before it asks for the
        # next update, so this copy goes as soon as the results are shown.
        with tempfile.TemporaryDirectory(prefix=f"vt-ui-{job}-") as folder:
            def fetch(name: str) -> str:
                local = name.replace("/", "-") if name != "export/model.onnx" else "model.onnx"
                return client.save_artifact(job, name, os.path.join(folder, local))

            files = [fetch(n) for n in DOWNLOADS if n in names]
            samples = (metrics or {}).get("samples", [])
            captions = (metrics or {}).get("sample_captions") or [None] * len(samples)  # "true → predicted ✓/✗"
            pictures = [(fetch(n), caption) for n, caption in zip(samples, captions) if n in names]
            table, classes = result_tables(st.lang, metrics)
            yield {self.status: progress.status(), self.loss_plot: gr.update(**loss), self.metric_plot: gr.update(**metric),
                   self.stop: gr.update(visible=False), self.summary: result_summary(st.lang, record, metrics, st.named(page.api), tracking),
                   self.confusion: table, self.per_class: classes, self.samples: pictures or None,
                   self.downloads: files or None, self.rerun: _rerun(config), self.results: gr.update(visible=True),
                   self.try_box: gr.update(visible=record["state"] == "succeeded")}

    def wire(self, page) -> None:
        api, state = page.api, page.state

        def on_stop(st: Session) -> dict:
            if not st.job_id:
                return {page.errors: say(st.lang, "no_job")}
            try:
                st.client(api).post(f"/v1/jobs/{st.job_id}/stop")
                return {page.errors: say(st.lang, "stop_sent", job=st.job_id)}
            except ApiError as exc:
                return {page.errors: st.error(exc)}

        self.stop.click(on_stop, [state], [page.errors])

        def on_try(paths: list, st: Session) -> dict:
            if not paths:
                return {}
            if not st.job_id:
                return {page.errors: say(st.lang, "no_job")}
            try:
                said = drawn_answers(st.client(api).predict(st.job_id, paths, draw=True))
            except ApiError as exc:
                return {page.errors: st.error(exc)}
            return {self.try_drawn: said, self.try_answers: "\n".join(f"- {line}" for _, line in said), page.errors: ""}

        self.try_images.upload(on_try, [self.try_images, state], [self.try_drawn, self.try_answers, page.errors])


def _rerun(config: str) -> str:
    """The job's config as a user submits it again: without what the API sets (its folder on the server)."""
    kept = {k: v for k, v in yaml.safe_load(config).items() if k not in SERVER_SET}
    return yaml.safe_dump(kept, sort_keys=False, allow_unicode=True)


def build(T: dict) -> Job:
    with gr.Group(visible=False) as progress:
        status = gr.Markdown(elem_id="job-status")
        with gr.Row():
            loss_plot = gr.LinePlot(x="epoch", y="value", color="series", label=T["loss"], elem_id="loss-plot")
            metric_plot = gr.LinePlot(x="epoch", y="value", color="series", label=T["metric"], elem_id="metric-plot")
        stop = gr.Button(T["stop"], variant="stop", elem_id="stop")
    with gr.Group(visible=False) as results:
        summary = gr.Markdown(elem_id="result")
        with gr.Row():
            confusion = gr.Dataframe(label=T["confusion"], elem_id="confusion")
            per_class = gr.Dataframe(label=T["per_class"], elem_id="per-class")
        samples = gr.Gallery(label=T["samples"], columns=4, height="auto", object_fit="contain", elem_id="samples")
        downloads = gr.File(label=T["downloads"], file_count="multiple", elem_id="downloads")
        rerun = gr.Code(label=T["config"], language="yaml", elem_id="rerun-config")
        with gr.Group(visible=False) as try_box:
            try_images = gr.File(label=T["try_it"], file_count="multiple", file_types=["image"], elem_id="try-images")
            try_drawn = gr.Gallery(label=T["try_drawn"], columns=4, height=240, elem_id="try-drawn")
            try_answers = gr.Markdown(elem_id="try-answers")
    return Job(progress, status, loss_plot, metric_plot, stop, results, summary, confusion, per_class, samples,
               downloads, rerun, try_box, try_images, try_drawn, try_answers)
