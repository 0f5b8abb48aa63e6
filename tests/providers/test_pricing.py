from __future__ import annotations

import pytest

from honed.providers.pricing import BUILTIN, cost_usd, is_known, lookup, split
from honed.task.task import Pricing
from honed.types import Usage

MILLION = Usage(1_000_000, 1_000_000)


def price(spec: str) -> tuple[float, float]:
    found = lookup(spec)
    assert found is not None, spec
    return found.input_per_mtok, found.output_per_mtok


@pytest.mark.parametrize(("spec", "expected"), [
    ("gpt-4o", (2.50, 10.0)),
    ("openai:gpt-4o-2024-08-06", (2.50, 10.0)),
    ("openai:gpt-4o-mini-2024-07-18", (0.15, 0.60)),
    ("openai:gpt-4.1", (2.0, 8.0)),
    ("openai:gpt-4.1-mini", (0.40, 1.60)),
    ("openai:gpt-4.1-nano-2025-04-14", (0.10, 0.40)),
    ("openai:o3-mini", (1.10, 4.40)),
    ("anthropic:claude-3-5-haiku-20241022", (0.80, 4.0)),
    ("anthropic:claude-3-5-sonnet-latest", (3.0, 15.0)),
    ("anthropic:claude-sonnet-4-20250514", (3.0, 15.0)),
    ("anthropic:claude-opus-4-20250514", (15.0, 75.0)),
    ("anthropic:claude-opus-4-5-20251101", (5.0, 25.0)),
    ("anthropic:claude-haiku-4-5", (1.0, 5.0)),
    ("openai:openai/gpt-4o-mini", (0.15, 0.60)),  # a router's vendor/ prefix
    ("openai:GPT-4o", (2.50, 10.0)),
])
def test_longest_prefix(spec: str, expected: tuple[float, float]) -> None:
    assert price(spec) == expected


def test_prefix_must_end_at_a_boundary() -> None:
    assert price("gpt-4o") != price("gpt-4")
    assert price("gpt-4.1") != price("gpt-4")
    assert lookup("gpt-4.5-preview") is None
    assert lookup("o1x") is None


def test_cost_is_per_million_tokens() -> None:
    assert cost_usd("openai:gpt-4o", MILLION) == pytest.approx(12.5)
    assert cost_usd("openai:gpt-4o-mini", Usage(2000, 500)) == pytest.approx(
        (2000 * 0.15 + 500 * 0.60) / 1e6)


@pytest.mark.parametrize("spec", ["local", "local:models/tiny.gguf", "fake",
                                  "fake:answer=x: y"])
def test_local_and_fake_are_free_and_known(spec: str) -> None:
    assert cost_usd(spec, MILLION) == 0.0
    assert is_known(spec)


def test_unknown_models_cost_nothing_but_are_flagged() -> None:
    assert cost_usd("openai:llama3.1:8b", MILLION) == 0.0
    assert not is_known("openai:llama3.1:8b")
    assert not is_known("anthropic:claude-next")
    assert is_known("openai:gpt-4o")


def test_overrides_by_spec_and_by_name() -> None:
    by_name = {"llama3.1:8b": Pricing(input_per_mtok=1, output_per_mtok=2)}
    assert cost_usd("openai:llama3.1:8b", MILLION, by_name) == 3.0
    assert is_known("openai:llama3.1:8b", by_name)
    both = {"gpt-4o": Pricing(input_per_mtok=1, output_per_mtok=1),
            "openai:gpt-4o": Pricing(input_per_mtok=2, output_per_mtok=2)}
    assert cost_usd("openai:gpt-4o", MILLION, both) == 4.0  # the full spec wins
    assert cost_usd("gpt-4o", MILLION, both) == 2.0
    assert cost_usd("local", MILLION, {"local": Pricing(input_per_mtok=1,
                                                        output_per_mtok=0)}) == 1.0


def test_split() -> None:
    assert split("openai:gpt-4o") == ("openai", "gpt-4o")
    assert split(" anthropic:claude-3-haiku ") == ("anthropic", "claude-3-haiku")
    assert split("local") == ("local", "")
    assert split("gpt-4o") == (None, "gpt-4o")
    assert split("llama3.1:8b") == (None, "llama3.1:8b")


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        BUILTIN["gpt-4o"] = (0.0, 0.0)  # type: ignore[index]
