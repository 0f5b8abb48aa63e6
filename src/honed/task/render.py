"""Turn a Candidate and an Example into chat messages (demos become user/assistant turns)."""

from __future__ import annotations

from collections.abc import Mapping

from honed.task.template import render
from honed.types import Candidate, Example, Message


def render_messages(candidate: Candidate, example: Example, demos: Mapping[str, Example],
                    target: str) -> tuple[Message, ...]:
    messages: list[Message] = []
    if candidate.system.strip():
        messages.append(Message("system", render(candidate.system, example.fields)))
    for demo_id in candidate.demos:
        demo = demos[demo_id]
        messages.append(Message("user", render(candidate.user, demo.fields)))
        messages.append(Message("assistant", render(target, demo.fields)))
    messages.append(Message("user", render(candidate.user, example.fields)))
    return tuple(messages)


def prompt_text(messages: tuple[Message, ...]) -> str:
    return "\n\n".join(f"[{m.role}]\n{m.content}" for m in messages)
