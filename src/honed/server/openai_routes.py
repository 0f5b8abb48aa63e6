"""``POST /v1/chat/completions``: OpenAI's chat API over registered prompts.

``model: "honed:NAME@ALIAS"`` (or ``honed:NAME/VERSION``) picks the prompt. Its variables come
from ``inputs`` (the OpenAI SDK's ``extra_body={"inputs": {...}}`` arrives as a top-level key),
or, when the template has a single variable, from the last user message.

The answer is OpenAI's, plus a ``honed`` object (``completion.model_extra["honed"]`` in the SDK)
and ``X-Honed-*`` headers naming the prompt version that answered and, when an experiment routed
the request, the experiment and arm.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from honed.server.auth import ServeKey
from honed.server.errors import ApiError
from honed.server.routes import service

router = APIRouter()
PREFIX = "honed:"


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="allow")  # sampling parameters are the prompt's own
    model: str
    messages: list[dict[str, Any]] = Field(default_factory=list)
    inputs: dict[str, Any] | None = None
    user: str | None = None
    metadata: dict[str, Any] | None = None


def _text(content: Any) -> str:
    """A message's content: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _inputs(body: ChatBody, variables: list[str]) -> dict[str, Any]:
    if body.inputs is not None:
        return dict(body.inputs)
    last = next((m for m in reversed(body.messages) if m.get("role") == "user"), None)
    if len(variables) == 1 and last is not None:
        return {variables[0]: _text(last.get("content"))}
    if not variables:
        return {}
    raise ApiError(422, f"the prompt needs {', '.join(map(repr, variables))}: pass them as "
                        "extra_body={'inputs': {...}}", code="bad_inputs")


@router.post("/v1/chat/completions")
async def chat_completions(body: ChatBody, request: Request, response: Response,
                           _: ServeKey) -> dict[str, Any]:
    if not body.model.startswith(PREFIX):
        raise ApiError(404, f"model {body.model!r} is not a honed prompt: use "
                            f"'{PREFIX}NAME@ALIAS'", code="model_not_found")
    ref = body.model[len(PREFIX):]
    svc = service(request)
    prompt = svc.prompt(ref)
    served = await svc.complete(ref, _inputs(body, prompt.variables), user_id=body.user,
                                metadata=body.metadata)
    about = {key: value for key, value in served.to_dict().items()
             if key in ("prompt", "version", "experiment", "arm")}
    response.headers.update({f"x-honed-{key}": str(value) for key, value in about.items()})
    return {
        "id": served.id, "object": "chat.completion", "created": int(served.created),
        "model": body.model,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": served.output}}],
        "usage": {"prompt_tokens": served.input_tokens,
                  "completion_tokens": served.output_tokens,
                  "total_tokens": served.input_tokens + served.output_tokens},
        "honed": about,
    }
