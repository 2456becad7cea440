"""The chat UI (Gradio), a client of the platform's HTTP API: sign in, upload a dataset, describe
the model, confirm the plan, watch it train, download the result. Each browser session holds its
own sign-in, so one person never sees another's work (the API checks it too)."""
from __future__ import annotations

import os
import tempfile
import time
from typing import Optional

import gradio as gr
import pandas as pd
import yaml

from serve_app.client import ApiError, Client
from gradio_ui.render import Progress, dataset_report, plan_card, result_summary, result_tables
from gradio_ui.text import LABELS, language_of, say

__all__ = ["build"]

DOWNLOADS = ["export/model.onnx", "weights/model.pt", "metrics.json", "history.json", "config.yaml"]
REFRESH_S = 1.0
CACHE_S = 86400  # files Gradio serves (downloads, pictures) are kept a day, swept every hour


def _client(api: str, state: dict) -> Client:
    if not state.get("tokens"):
        raise ApiError(401, say(state.get("lang", "en"), "need_login"))
    return Client(api, state["tokens"])


def _browser_language(request: Optional[gr.Request]) -> str:
    accept = (request.headers.get("accept-language", "") if request else "").lower()
    return "ko" if accept.startswith("ko") else "en"


def _jobs_table(client: Client) -> pd.DataFrame:
    rows = [{"job_id": j["job_id"], "owner": j.get("owner"), "model": j.get("model"), "state": j["state"],
             "message": j.get("message", "")} for j in client.get("/v1/jobs")]
    return pd.DataFrame(rows or {"job_id": [], "owner": [], "model": [], "state": [], "message": []})


def build(api: str) -> gr.Blocks:
    T = LABELS["en"]  # the first render; on load every label follows the browser's language
    with gr.Blocks(title="visiontrain", delete_cache=(3600, CACHE_S)) as ui:
        state = gr.State({})
        gr.Markdown("# visiontrain")
        with gr.Column(visible=True) as login_box:
            username = gr.Textbox(label=T["username"], elem_id="username")
            password = gr.Textbox(label=T["password"], type="password", elem_id="password")
            login = gr.Button(T["login"], variant="primary", elem_id="login")
            login_note = gr.Markdown(elem_id="login-note")
        with gr.Column(visible=False) as main_box:
            who = gr.Markdown(elem_id="who")
            with gr.Tabs():
                with gr.Tab(T["tab_train"], id="train") as tab_train:
                    with gr.Row():
                        with gr.Column(scale=3):
                            chatbot = gr.Chatbot(label=T["chat"], height=360, elem_id="chatbot")
                            message = gr.Textbox(label=T["message"], placeholder=T["message_hint"],
                                                 elem_id="message")
                            with gr.Row():
                                send = gr.Button(T["send"], variant="primary", elem_id="send")
                                new_chat = gr.Button(T["new_chat"], elem_id="new-chat")
                            plan = gr.Markdown(visible=False, elem_id="plan-card")
                            with gr.Row(visible=False) as plan_buttons:
                                confirm = gr.Button(T["confirm"], variant="primary", elem_id="confirm")
                                edit = gr.Button(T["edit"], elem_id="edit")
                        with gr.Column(scale=2):
                            upload = gr.File(label=T["upload"], file_types=[".zip", ".tar", ".gz", ".tgz"],
                                             elem_id="upload")
                            report = gr.Markdown(elem_id="dataset-report")
                    with gr.Group(visible=False) as progress_box:
                        status = gr.Markdown(elem_id="job-status")
                        with gr.Row():
                            loss_plot = gr.LinePlot(x="epoch", y="value", color="series", label=T["loss"],
                                                    elem_id="loss-plot")
                            metric_plot = gr.LinePlot(x="epoch", y="value", color="series", label=T["metric"],
                                                      elem_id="metric-plot")
                        stop = gr.Button(T["stop"], variant="stop", elem_id="stop")
                    with gr.Group(visible=False) as results_box:
                        summary = gr.Markdown(elem_id="result")
                        with gr.Row():
                            confusion = gr.Dataframe(label=T["confusion"], elem_id="confusion")
                            per_class = gr.Dataframe(label=T["per_class"], elem_id="per-class")
                        samples = gr.Gallery(label=T["samples"], columns=4, height=240, elem_id="samples")
                        downloads = gr.File(label=T["downloads"], file_count="multiple", elem_id="downloads")
                        rerun = gr.Code(label=T["config"], language="yaml", elem_id="rerun-config")
                with gr.Tab(T["tab_jobs"], id="jobs") as tab_jobs:
                    jobs = gr.Dataframe(elem_id="jobs-table", interactive=False)
                    with gr.Row():
                        refresh = gr.Button(T["refresh"], elem_id="refresh-jobs")
                        job_id = gr.Textbox(label=T["job_id"], elem_id="open-job-id")
                        open_job = gr.Button(T["open"], elem_id="open-job")
                with gr.Tab(T["tab_models"], id="models") as tab_models:
                    with gr.Row():
                        task = gr.Dropdown([""], value="", label=T["task"], elem_id="model-task")
                        query = gr.Textbox(label=T["query"], elem_id="model-query")
                        search = gr.Button(T["search"], elem_id="model-search")
                    models = gr.Dataframe(elem_id="models-table", interactive=False)
        errors = gr.Markdown(elem_id="errors")

        labelled = {username: {"label": "username"}, password: {"label": "password"}, login: {"value": "login"},
                    tab_train: {"label": "tab_train"}, tab_jobs: {"label": "tab_jobs"},
                    tab_models: {"label": "tab_models"}, chatbot: {"label": "chat"},
                    message: {"label": "message", "placeholder": "message_hint"}, send: {"value": "send"},
                    new_chat: {"value": "new_chat"}, confirm: {"value": "confirm"}, edit: {"value": "edit"},
                    upload: {"label": "upload"}, loss_plot: {"label": "loss"}, metric_plot: {"label": "metric"},
                    stop: {"value": "stop"}, confusion: {"label": "confusion"}, per_class: {"label": "per_class"},
                    downloads: {"label": "downloads"}, samples: {"label": "samples"}, rerun: {"label": "config"}, refresh: {"value": "refresh"},
                    job_id: {"label": "job_id"}, open_job: {"value": "open"}, task: {"label": "task"},
                    query: {"label": "query"}, search: {"value": "search"}}

        def on_load(st, request: gr.Request):
            lang = _browser_language(request)
            words = LABELS[lang]
            try:
                menus = {task: {"choices": ["", *Client(api).vocabulary()["tasks"]]}}  # the platform's names
            except ApiError:
                menus = {}  # the platform is not up yet: the menu fills at the next page load
            return [{**st, "lang": lang}] + [gr.update(**{attr: words[key] for attr, key in texts.items()},
                                                       **menus.get(component, {}))
                                             for component, texts in labelled.items()]

        ui.load(on_load, [state], [state, *labelled])

        def on_login(name, secret, st):
            lang = st.get("lang", "en")
            try:
                client = Client.login(api, name, secret)
                me = client.get("/v1/me")
                st = {"tokens": client.tokens, "user": me["username"], "role": me["role"], "lang": lang}
                return (st, gr.update(visible=False), gr.update(visible=True),
                        say(lang, "logged_in", user=me["username"], role=me["role"]), "", _jobs_table(client))
            except ApiError as exc:
                return st, gr.update(), gr.update(), "", say(lang, "login_failed", error=exc), gr.update()

        login.click(on_login, [username, password, state], [state, login_box, main_box, who, login_note, jobs])
        password.submit(on_login, [username, password, state], [state, login_box, main_box, who, login_note, jobs])

        def on_upload(path, st):
            if not path:
                return gr.update(), ""
            try:
                answer = _client(api, st).upload_dataset(path, language=st.get("lang", "en"))
                st["dataset"] = {"id": answer["dataset_id"], "summary": answer["report"]["summary"],
                                 "images": answer["report"].get("images")}
                return dataset_report(st.get("lang", "en"), answer), ""
            except ApiError as exc:
                return "", say(st.get("lang", "en"), "error", error=exc)

        upload.upload(on_upload, [upload, state], [report, errors])

        def on_send(text, history, st):
            text = (text or "").strip()
            if not text:
                return gr.update(), history, st, gr.update(), gr.update(), ""
            st["lang"] = language_of(text, st.get("lang", "en"))
            history = [*history, {"role": "user", "content": text}]
            try:
                answer = _client(api, st).chat(text, st.get("session_id"))
            except ApiError as exc:
                history.append({"role": "assistant", "content": say(st["lang"], "error", error=exc)})
                return "", history, st, gr.update(), gr.update(), ""
            st["session_id"], st["plan"] = answer["session_id"], answer.get("plan")
            result = answer["result"]
            reply = "\n".join(result.get("questions") or [])
            if answer.get("plan_problem"):
                reply = f"{reply}\n⚠️ {answer['plan_problem']}".strip()
            if st["plan"]:
                uploaded = st.get("dataset") if (st.get("dataset") or {}).get("id") == st["plan"]["config"]["dataset"]["uri"] else {}
                card = plan_card(st["lang"], st["plan"], uploaded.get("images"), uploaded.get("summary"))
                history.append({"role": "assistant", "content": reply or say(st["lang"], "plan_ready")})
                return "", history, st, gr.update(value=card, visible=True), gr.update(visible=True), ""
            history.append({"role": "assistant", "content": reply or result.get("status", "")})
            return "", history, st, gr.update(visible=False), gr.update(visible=False), ""

        chat_io = ([message, chatbot, state], [message, chatbot, state, plan, plan_buttons, errors])
        send.click(on_send, *chat_io)
        message.submit(on_send, *chat_io)

        def on_new_chat(st):
            st.pop("session_id", None)
            st.pop("plan", None)
            return [], st, gr.update(visible=False), gr.update(visible=False)

        new_chat.click(on_new_chat, [state], [chatbot, state, plan, plan_buttons])
        edit.click(lambda: (gr.update(visible=False), gr.update(visible=False)), None, [plan, plan_buttons])

        follow_outputs = [state, status, loss_plot, metric_plot, progress_box, summary, confusion, per_class,
                          samples, downloads, rerun, results_box, errors]

        def follow(st, job: str):
            """Yield the progress as the job's events arrive (at most once a second), then the results."""
            lang, client = st.get("lang", "en"), _client(api, st)
            st["job_id"] = job
            config = client.content(f"/v1/jobs/{job}/artifacts/config.yaml").decode()  # stored before submission
            progress = Progress(lang, job, int(yaml.safe_load(config)["hyperparameters"]["epochs"]))
            empty = gr.update(visible=False)
            shown = 0.0
            for kind, ev in client.events(job):
                if kind == "end":
                    break
                progress.add(kind, ev)
                # state changes and epochs at once; heartbeats and system samples at most once a second
                if kind == "job" or time.time() - shown >= REFRESH_S:
                    shown = time.time()
                    loss, metric = progress.curves()
                    yield (st, progress.status(), loss, metric, gr.update(visible=True), "", None, None, None, None, "",
                           empty, "")
            record = client.get(f"/v1/jobs/{job}")
            progress.state, progress.message = record["state"], record.get("message", "")
            loss, metric = progress.curves()
            names = client.get(f"/v1/jobs/{job}/artifacts")["artifacts"]
            metrics = client.get(f"/v1/jobs/{job}/artifacts/metrics.json") if "metrics.json" in names else None
            # Gradio copies what it serves into its own cache (emptied by age, CACHE_S) before it asks
            # for the next item, so this copy goes as soon as the results are shown.
            with tempfile.TemporaryDirectory(prefix=f"vt-ui-{job}-") as folder:
                def fetch(name: str) -> str:
                    path = os.path.join(folder, name.replace("/", "-") if name != "export/model.onnx" else "model.onnx")
                    with open(path, "wb") as f:
                        f.write(client.content(f"/v1/jobs/{job}/artifacts/{name}"))
                    return path

                files = [fetch(n) for n in DOWNLOADS if n in names]
                pictures = [fetch(n) for n in (metrics or {}).get("samples", []) if n in names]
                table, classes = result_tables(metrics)
                yield (st, progress.status(), loss, metric, gr.update(visible=True),
                       result_summary(lang, record, metrics), table, classes, pictures or None, files or None, config,
                       gr.update(visible=True), "")

        def on_confirm(st):
            lang = st.get("lang", "en")
            try:
                if not st.get("session_id") or not st.get("plan"):
                    raise ApiError(409, "there is no plan to confirm yet: describe the model first")
                job = _client(api, st).post("/v1/jobs", {"session_id": st["session_id"]})["job_id"]
                yield from follow(st, job)
            except ApiError as exc:
                yield (st, "", None, None, gr.update(), "", None, None, None, None, "", gr.update(),
                       say(lang, "error", error=exc))

        confirm.click(lambda: (gr.update(visible=False), gr.update(visible=False)), None, [plan_buttons, results_box]) \
            .then(on_confirm, [state], follow_outputs)

        def on_open(st, job):
            try:
                yield from follow(st, (job or "").strip())
            except ApiError as exc:
                yield (st, "", None, None, gr.update(), "", None, None, None, None, "", gr.update(),
                       say(st.get("lang", "en"), "error", error=exc))

        open_job.click(on_open, [state, job_id], follow_outputs)

        def on_stop(st):
            lang = st.get("lang", "en")
            if not st.get("job_id"):
                return say(lang, "no_job")
            try:
                _client(api, st).post(f"/v1/jobs/{st['job_id']}/stop")
                return say(lang, "stop_sent", job=st["job_id"])
            except ApiError as exc:
                return say(lang, "error", error=exc)

        stop.click(on_stop, [state], [errors])

        def on_refresh(st):
            try:
                return _jobs_table(_client(api, st)), ""
            except ApiError as exc:
                return gr.update(), say(st.get("lang", "en"), "error", error=exc)

        refresh.click(on_refresh, [state], [jobs, errors])

        def on_search(st, task_name, q):
            try:
                found = _client(api, st).get("/v1/models", task=task_name or None, q=q or None, limit=50)
                rows = [{"source": m["source"], "name": m["name"], "tasks": ", ".join(m.get("tasks", [])),
                         "params_m": round(m["params"] / 1e6, 1) if m.get("params") else None,
                         "image_size": m.get("default_image_size")} for m in found["models"]]
                return pd.DataFrame(rows), ""
            except ApiError as exc:
                return gr.update(), say(st.get("lang", "en"), "error", error=exc)

        search.click(on_search, [state, task, query], [models, errors])
        query.submit(on_search, [state, task, query], [models, errors])
    return ui
