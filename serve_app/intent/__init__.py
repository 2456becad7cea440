"""Turn what a person writes (Korean or English) into a training intent: ``parse(message, history)``.

The offline parser is the default; with ``ANTHROPIC_API_KEY`` set, Claude parses and the result is
re-validated the same way (falling back to the offline parser when the call fails)."""
from __future__ import annotations

import os
from typing import Optional

from serve_app.intent._classes import singular
from serve_app.intent._conversation import parse_offline
from serve_app.intent._schema import DatasetMention, Hyperparameters, Intent, ModelMention, ParseResult, Resources
from visiontrain.settings import settings as env_settings

__all__ = ["DatasetMention", "Hyperparameters", "Intent", "ModelMention", "ParseResult", "Resources",
           "parse", "parse_offline", "singular"]


def parse(message: str, history: Optional[list] = None) -> ParseResult:
    """One conversation turn. ``history``: earlier user messages or ParseResults, oldest first."""
    if os.environ.get("ANTHROPIC_API_KEY") and env_settings().parser != "offline":
        from serve_app.intent._llm import parse_with_llm

        return parse_with_llm(message, history)
    return parse_offline(message, history)
