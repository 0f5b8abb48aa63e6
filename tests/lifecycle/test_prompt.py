"""``Prompt``: a registered version rendered for an application, demos included."""

from __future__ import annotations

from pathlib import Path

import pytest

from honed.errors import ConfigError
from honed.lifecycle.prompt import Prompt, load_prompt
from honed.lifecycle.registries import open_registry
from honed.lifecycle.registry import DEMO_TARGET_TAG
from honed.types import Candidate

ROWS = {"d1": {"text": "I love it", "label": "positive"},
        "d2": {"text": "awful", "label": "negative"}}


def register(home: Path, *, target: str | None = "{label}") -> None:
    registry = open_registry(home, backend="local")
    candidate = Candidate({"system": "Classify as {choices}.", "user": "Review: {text}"},
                          ("d1", "d2"))
    tags = {DEMO_TARGET_TAG: target} if target else {}
    version = registry.register("sent", candidate, tags=tags, demo_rows=ROWS)
    registry.set_alias("sent", "production", version.version)


def test_render_gives_the_messages_honed_evaluated(tmp_path: Path) -> None:
    register(tmp_path)
    prompt = load_prompt("sent@production", home=tmp_path)
    assert prompt.version == 1 and "production" in prompt.aliases
    assert prompt.render(text="meh", choices="positive, negative") == [
        {"role": "system", "content": "Classify as positive, negative."},
        {"role": "user", "content": "Review: I love it"},
        {"role": "assistant", "content": "positive"},
        {"role": "user", "content": "Review: awful"},
        {"role": "assistant", "content": "negative"},
        {"role": "user", "content": "Review: meh"},
    ]
    assert prompt.format(text="meh", choices="a, b") == (
        "Classify as a, b.\n\nReview: I love it\n\npositive\n\nReview: awful\n\nnegative"
        "\n\nReview: meh")
    assert load_prompt("sent/1", home=tmp_path) == prompt


def test_a_missing_input_names_it(tmp_path: Path) -> None:
    register(tmp_path)
    with pytest.raises(ConfigError, match="'choices'") as info:
        load_prompt("sent@production", home=tmp_path).render(text="x")
    assert info.value.fix == "pass choices=..."


def test_demos_without_an_answer_template_are_refused(tmp_path: Path) -> None:
    register(tmp_path, target=None)
    prompt = load_prompt("sent@production", home=tmp_path)
    with pytest.raises(ConfigError, match="answer template"):
        prompt.render(text="x", choices="y")


def test_a_prompt_without_demos_needs_no_template() -> None:
    prompt = Prompt("p", 3, Candidate({"system": "", "user": "Q: {q}"}))
    assert prompt.render(q="2+2?") == [{"role": "user", "content": "Q: 2+2?"}]
    assert prompt.format(q="2+2?") == "Q: 2+2?"
