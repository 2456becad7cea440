"""The Train tab's conversation: upload a dataset (its health report shows), describe the model,
answer the platform's questions, and confirm (or put aside) the plan card."""
from __future__ import annotations

from dataclasses import dataclass, replace

import gradio as gr

from gradio_ui.render import dataset_report, drawn_answers, plan_card
from gradio_ui.session import Session
from gradio_ui.text import language_of, say
from serve_app.client import ApiError

__all__ = ["Train", "build"]


def _hidden() -> dict:
    return gr.update(visible=False)


@dataclass
class Train:
    tab: gr.Tab
    chatbot: gr.Chatbot
    message: gr.Textbox
    send: gr.Button
    new_chat: gr.Button
    plan: gr.Markdown
    plan_buttons: gr.Row
    confirm: gr.Button
    edit: gr.Button
    upload: gr.File
    report: gr.Markdown
    attach: gr.File

    def labels(self) -> dict:
        return {self.tab: {"label": "tab_train"}, self.chatbot: {"label": "chat"},
                self.message: {"label": "message", "placeholder": "message_hint"}, self.send: {"value": "send"},
                self.new_chat: {"value": "new_chat"}, self.confirm: {"value": "confirm"}, self.edit: {"value": "edit"},
                self.upload: {"label": "upload"}, self.attach: {"label": "attach"}}

    def wire(self, page) -> None:
        api, state = page.api, page.state

        def on_upload(path: str, st: Session) -> dict:
            if not path:
                return {}
            try:
                answer = st.client(api).upload_dataset(path, language=st.lang)
            except ApiError as exc:
                return {self.report: "", page.errors: st.error(exc)}
            report = answer["report"]
            st.dataset = {"id": answer["dataset_id"], "summary": report["summary"], "images": report.get("images")}
            return {state: st, self.report: dataset_report(st.lang, answer), page.errors: ""}

        def on_send(text: str, history: list, attached: list, st: Session) -> dict:
            text = (text or "").strip()
            if not text:
                return {}
            st.lang = language_of(text, st.lang)
            history = [*history, {"role": "user", "content": text}]
            try:
                answer = st.client(api).chat(text, st.session_id)
            except ApiError as exc:
                return {self.message: "", self.chatbot: [*history, {"role": "assistant", "content": st.error(exc)}],
                        state: st}
            st.session_id = answer["session_id"]
            if answer.get("reply") is not None:  # a command on a job, or a question about the plan: the plan stays
                history.append({"role": "assistant", "content": answer["reply"]})
                if answer["result"]["intent"].get("command") == "restart" and answer.get("job_id"):
                    st.restarted = answer["job_id"]
                return {self.message: "", state: st, page.errors: "", self.chatbot: history}
            st.plan = answer.get("plan")
            result = answer["result"]
            reply = "\n".join(result.get("questions") or [])
            if answer.get("plan_problem"):
                reply = f"{reply}\n⚠️ {answer['plan_problem']}".strip()
            out = {self.message: "", state: st, page.errors: ""}
            if answer.get("try_job"):
                history += self._tried(st, api, answer["try_job"], attached)
                return {**out, self.chatbot: history, self.attach: None, self.plan: _hidden(), self.plan_buttons: _hidden()}
            if not st.plan:
                history.append({"role": "assistant", "content": reply or result.get("status", "")})
                return {**out, self.chatbot: history, self.plan: _hidden(), self.plan_buttons: _hidden()}
            uploaded = st.dataset if st.dataset.get("id") == st.plan["config"]["dataset"]["uri"] else {}
            card = plan_card(st.lang, st.plan, uploaded.get("images"), uploaded.get("summary"), st.named(api))
            history.append({"role": "assistant", "content": reply or say(st.lang, "plan_ready")})
            return {**out, self.chatbot: history, self.plan: gr.update(value=card, visible=True),
                    self.plan_buttons: gr.update(visible=True)}

        chat_io = ([self.message, self.chatbot, self.attach, state],
                   [self.message, self.chatbot, state, self.plan, self.plan_buttons, self.attach, page.errors])
        def on_restarted(st: Session):
            """The job panel follows a job the chat started again, as it follows a confirmed plan's."""
            job, st.restarted = st.restarted, None
            if job:
                yield from page.job.follow(page, st, job)
            else:
                yield {state: st}  # nothing to follow: the panel stays as it is

        self.send.click(on_send, *chat_io).then(on_restarted, [state], page.job.outputs(page))
        self.message.submit(on_send, *chat_io).then(on_restarted, [state], page.job.outputs(page))
        self.upload.upload(on_upload, [self.upload, state], [state, self.report, page.errors])

        def on_new_chat(st: Session) -> dict:
            return {self.chatbot: [], state: replace(st, session_id=None, plan=None), self.plan: _hidden(),
                    self.plan_buttons: _hidden()}

        self.new_chat.click(on_new_chat, [state], [self.chatbot, state, self.plan, self.plan_buttons])
        self.edit.click(lambda: {self.plan: _hidden(), self.plan_buttons: _hidden()}, None, [self.plan, self.plan_buttons])

        def on_confirm(st: Session):
            if not st.session_id or not st.plan:
                yield {page.errors: st.error(ApiError(409, "there is no plan to confirm yet: describe the model first"))}
                return
            try:
                job = st.client(api).post("/v1/jobs", {"session_id": st.session_id})["job_id"]
            except ApiError as exc:
                yield {page.errors: st.error(exc)}
                return
            yield from page.job.follow(page, st, job)

        self.confirm.click(lambda: {self.plan_buttons: _hidden(), page.job.results: _hidden()}, None,
                           [self.plan_buttons, page.job.results]) \
            .then(on_confirm, [state], page.job.outputs(page))

    @staticmethod
    def _tried(st: Session, api: str, job: str, attached: list) -> list[dict]:
        """The chat's answer to "try it on these images": each attached image drawn with what job's
        model found, or how to attach them."""
        if not attached:
            return [{"role": "assistant", "content": say(st.lang, "attach_first")}]
        try:
            said = drawn_answers(st.client(api).predict(job, attached, draw=True))
        except ApiError as exc:
            return [{"role": "assistant", "content": st.error(exc)}]
        lines = "\n".join(f"- {line}" for _, line in said)
        return [{"role": "assistant", "content": f"{say(st.lang, 'tried', job=job)}\n{lines}"},
                *({"role": "assistant", "content": gr.Image(image, label=line)} for image, line in said)]


def build(T: dict, tab: gr.Tab) -> Train:
    with gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label=T["chat"], height=360, elem_id="chatbot")
            message = gr.Textbox(label=T["message"], placeholder=T["message_hint"], elem_id="message")
            attach = gr.File(label=T["attach"], file_count="multiple", file_types=["image"], height=90,
                             elem_id="chat-images")
            with gr.Row():
                send = gr.Button(T["send"], variant="primary", elem_id="send")
                new_chat = gr.Button(T["new_chat"], elem_id="new-chat")
            plan = gr.Markdown(visible=False, elem_id="plan-card")
            with gr.Row(visible=False) as plan_buttons:
                confirm = gr.Button(T["confirm"], variant="primary", elem_id="confirm")
                edit = gr.Button(T["edit"], elem_id="edit")
        with gr.Column(scale=2):
            upload = gr.File(label=T["upload"], file_types=[".zip", ".tar", ".gz", ".tgz"], elem_id="upload")
            report = gr.Markdown(elem_id="dataset-report")
    return Train(tab, chatbot, message, send, new_chat, plan, plan_buttons, confirm, edit, upload, report, attach)
