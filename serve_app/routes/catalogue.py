"""What the platform knows: its vocabulary (tasks, dataset formats, model sources), the models it
can train, and the parser on its own (``/v1/parse``, without a conversation)."""
from typing import Any, Optional, Union

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from adapters import list_adapters
from serve_app.intent import ParseResult
from serve_app.routes.deps import current_user, platform
from train_jobs.config import TaskName
from train_jobs.data.formats import FORMATS
from visiontrain.messages import LANGUAGES, words
from visiontrain.tasks import TASKS

router = APIRouter(tags=["catalogue"])


class ParseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=4000)
    history: list[Union[str, dict[str, Any]]] = Field(default_factory=list, max_length=100)

    @field_validator("history")
    @classmethod
    def _earlier_results_are_results(cls, v: list) -> list:
        """Earlier answers (items with an ``intent``) must be ParseResults as this API returned them."""
        for n, item in enumerate(v):
            if isinstance(item, dict) and "intent" in item:
                try:
                    ParseResult.model_validate(item)
                except ValidationError as exc:
                    raise ValueError(f"history[{n}] has an 'intent' but is not a parse result this API returned "
                                     f"({exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}); send the "
                                     "results as they came back, or only the user's messages") from None
        return v


def _found(answer: dict) -> dict:
    if "error" in answer:
        raise HTTPException(status_code=404, detail=answer["error"])
    return answer


@router.get("/v1/vocabulary")
async def vocabulary() -> dict:
    """The names the platform knows, from their registries: tasks (with a summary), dataset formats
    (with the tasks each can hold and what it looks like) and model sources; and ``words``, what tasks
    and job states are called in each language (``task.<name>``, ``state.<name>``). Public: menus
    are built from it."""
    return {"tasks": TASKS.names(), "task_summaries": {t.name: t.summary for t in TASKS.items()},
            "words": {lang: words(lang) for lang in LANGUAGES},
            "sources": list_adapters(),
            "formats": [{"name": f.name, "tasks": list(f.tasks), "layout": f.layout, "writable": f.write is not None}
                        for f in FORMATS.items()]}


@router.post("/v1/parse", response_model=ParseResult)
async def parse_message(body: ParseRequest, user: dict = Depends(current_user), p=Depends(platform)) -> Response:
    return Response(await p.parser.parse.remote(body.message, body.history), media_type="application/json")


@router.get("/v1/models")
async def models(task: Optional[TaskName] = None, q: Optional[str] = Query(None, max_length=200),
                 source: Optional[str] = Query(None, max_length=50), limit: int = Query(20, ge=1, le=200),
                 offset: int = Query(0, ge=0), user: dict = Depends(current_user), p=Depends(platform)) -> dict:
    return _found(await p.registry.search.remote(task, q, source, limit, offset))


@router.get("/v1/models/{source}/{name:path}")
async def model(source: str, name: str, user: dict = Depends(current_user), p=Depends(platform)) -> dict:
    return _found(await p.registry.describe.remote(source, name))
