"""honed's own routes: complete, prompt lookup, feedback, health and metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from honed.lifecycle.prompt import prompt_payload
from honed.server.auth import AdminKey, FeedbackKey, ServeKey
from honed.server.metrics import CONTENT_TYPE
from honed.server.service import Service

router = APIRouter()


class CompleteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(description="NAME@ALIAS or NAME/VERSION")
    inputs: dict[str, Any] = Field(default_factory=dict)
    user_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: str
    score: float | None = None
    label: str | None = None
    correction: str | None = None
    comment: str | None = None


def service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request, _: AdminKey) -> PlainTextResponse:
    return PlainTextResponse(service(request).metrics.render(), media_type=CONTENT_TYPE)


@router.post("/v1/complete")
async def complete(body: CompleteBody, request: Request,
                   _: ServeKey) -> dict[str, Any]:
    served = await service(request).complete(body.prompt, body.inputs, user_id=body.user_id,
                                             metadata=body.metadata)
    return served.to_dict()


@router.get("/v1/prompts/{ref:path}")
async def get_prompt(ref: str, request: Request,
                     _: ServeKey) -> dict[str, Any]:
    return prompt_payload(service(request).prompt(ref))


@router.post("/v1/feedback")
async def feedback(body: FeedbackBody, request: Request,
                   _: FeedbackKey) -> dict[str, Any]:
    feedback_id = await asyncio.to_thread(
        service(request).feedback, body.request_id, score=body.score, label=body.label,
        correction=body.correction, comment=body.comment)
    return {"id": feedback_id, "request_id": body.request_id}
