"""Token prices: a small built-in table for common hosted models, overridable per task.

Prices are USD per million tokens (input, output). A model name matches the longest table prefix
that ends at a name boundary (``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``, while ``gpt-4o`` never
matches ``gpt-4``). The task's ``pricing:`` mapping, keyed by full spec (``openai:gpt-4o``) or by
bare model name (``gpt-4o``), wins over the table. ``local`` and ``fake`` models are free. Unknown
paid models cost 0; callers use ``is_known`` to warn about it.

The table is a convenience, not a bill: check your provider's price page and override with
``pricing:`` where it matters.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from honed.task.task import Pricing
from honed.types import Usage

FREE_PROVIDERS = frozenset({"local", "fake"})
PAID_PROVIDERS = frozenset({"openai", "anthropic"})
_BOUNDARY = "-@:_"

BUILTIN: Mapping[str, tuple[float, float]] = MappingProxyType({
    # OpenAI
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.0),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4": (30.0, 60.0),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.0, 60.0),
    "o1-mini": (1.10, 4.40),
    "o3": (2.0, 8.0),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    # Anthropic
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-3-5-sonnet": (3.0, 15.0),
    "claude-3-5-haiku": (0.80, 4.0),
    "claude-3-opus": (15.0, 75.0),
    "claude-3-haiku": (0.25, 1.25),
})


def split(spec_or_name: str) -> tuple[str | None, str]:
    """``openai:gpt-4o`` -> ``("openai", "gpt-4o")``; a bare name has no provider."""
    text = spec_or_name.strip()
    head, sep, rest = text.partition(":")
    provider = head.lower()
    if provider in FREE_PROVIDERS and (not sep or rest):
        return provider, rest
    if sep and provider in PAID_PROVIDERS:
        return provider, rest
    return None, text


def _builtin(name: str) -> Pricing | None:
    """Longest table prefix of ``name`` that ends at a boundary (vendor prefix ``x/`` ignored)."""
    name = name.rsplit("/", 1)[-1].lower()
    best = ""
    for prefix in BUILTIN:
        if len(prefix) > len(best) and name.startswith(prefix) and (
                len(name) == len(prefix) or name[len(prefix)] in _BOUNDARY):
            best = prefix
    if not best:
        return None
    input_price, output_price = BUILTIN[best]
    return Pricing(input_per_mtok=input_price, output_per_mtok=output_price)


def lookup(spec_or_name: str, overrides: Mapping[str, Pricing] | None = None) -> Pricing | None:
    """The price of a model: override by spec, override by name, free provider, built-in table."""
    provider, name = split(spec_or_name)
    for key in (spec_or_name.strip(), name):
        if overrides and key in overrides:
            return overrides[key]
    if provider in FREE_PROVIDERS:
        return Pricing(input_per_mtok=0.0, output_per_mtok=0.0)
    return _builtin(name)


def is_known(spec_or_name: str, overrides: Mapping[str, Pricing] | None = None) -> bool:
    """Whether ``cost_usd`` knows a real price for this model (free providers count as known)."""
    return lookup(spec_or_name, overrides) is not None


def cost_usd(spec_or_name: str, usage: Usage,
             overrides: Mapping[str, Pricing] | None = None) -> float:
    """USD cost of ``usage`` on this model; 0 for free and unknown models."""
    price = lookup(spec_or_name, overrides)
    if price is None:
        return 0.0
    return (usage.input_tokens * price.input_per_mtok
            + usage.output_tokens * price.output_per_mtok) / 1_000_000
