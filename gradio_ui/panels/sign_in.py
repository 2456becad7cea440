"""Sign in: user name and password; on success the main page and the jobs list show."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from gradio_ui.panels.jobs import jobs_table
from gradio_ui.session import Session
from gradio_ui.text import say
from serve_app.client import ApiError, Client

__all__ = ["SignIn", "build"]


@dataclass
class SignIn:
    box: gr.Column
    username: gr.Textbox
    password: gr.Textbox
    button: gr.Button
    note: gr.Markdown

    def labels(self) -> dict:
        return {self.username: {"label": "username"}, self.password: {"label": "password"},
                self.button: {"value": "login"}}

    def ready(self) -> dict:
        """Sign-in opens once the page has loaded: the load sets the session's language, and a sign-in
        finished before it would be overwritten by the load's copy of the session."""
        return {c: {"interactive": True} for c in (self.username, self.password, self.button)}

    def wire(self, page) -> None:
        api, state = page.api, page.state

        def on_login(name: str, secret: str, st: Session) -> dict:
            try:
                client = Client.login(api, name, secret)
                me = client.get("/v1/me")
            except ApiError as exc:
                return {self.note: say(st.lang, "login_failed", error=exc)}
            st = Session(lang=st.lang, tokens=client.tokens, user=me["username"], role=me["role"])
            return {state: st, self.box: gr.update(visible=False), page.main: gr.update(visible=True),
                    page.who: say(st.lang, "logged_in", user=me["username"], role=say(st.lang, f"role_{me['role']}")), self.note: "",
                    page.jobs.table: jobs_table(client, st.lang, st.named(api))}

        io = ([self.username, self.password, state],
              [state, self.box, page.main, page.who, self.note, page.jobs.table])
        self.button.click(on_login, *io)
        self.password.submit(on_login, *io)


def build(T: dict) -> SignIn:
    with gr.Column(visible=True) as box:
        username = gr.Textbox(label=T["username"], elem_id="username", interactive=False)
        password = gr.Textbox(label=T["password"], type="password", elem_id="password", interactive=False)
        button = gr.Button(T["login"], variant="primary", elem_id="login", interactive=False)
        note = gr.Markdown(elem_id="login-note")
    return SignIn(box, username, password, button, note)
