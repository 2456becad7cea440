"""What one browser session holds: its own sign-in (so one person never sees another's work; the API
checks it too), the language it speaks, the conversation, the last upload and the job on screen."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from gradio_ui.text import say
from serve_app.client import ApiError, Client

__all__ = ["Session"]


@dataclass
class Session:
    lang: str = "en"
    tokens: dict = field(default_factory=dict)  # refreshed in place by the client
    user: str = ""
    role: str = ""
    session_id: Optional[str] = None  # the conversation
    plan: Optional[dict] = None  # its plan, once complete
    dataset: dict = field(default_factory=dict)  # the last upload: id, summary, images
    job_id: Optional[str] = None  # the job on screen
    restarted: Optional[str] = None  # a job the chat just started again: the job panel follows it next
    words: dict = field(default_factory=dict)  # {language: what tasks and job states are called in it}

    def named(self, api: str) -> dict:
        """The platform's names for tasks and job states (``task.<name>``, ``state.<name>``) in this
        session's language, asked for once."""
        if self.lang not in self.words:
            self.words[self.lang] = Client(api).vocabulary()["words"].get(self.lang, {})
        return self.words[self.lang]

    def client(self, api: str) -> Client:
        if not self.tokens:
            raise ApiError(401, say(self.lang, "need_login"))
        return Client(api, self.tokens)

    def error(self, exc: Exception) -> str:
        return say(self.lang, "error", error=exc)
