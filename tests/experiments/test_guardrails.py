"""Guardrail syntax, units and the enough-data rule."""

from __future__ import annotations

import pytest

from honed.errors import ConfigError
from honed.experiments.guardrails import (
    MIN_GUARDRAIL_N,
    Guardrail,
    check_guardrail,
    parse_guardrail,
    parse_guardrails,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("latency_p95<2s", Guardrail("latency_p95", "<", 2.0)),
    ("latency_p95 < 800ms", Guardrail("latency_p95", "<", 0.8)),
    ("latency_p95<=1.5", Guardrail("latency_p95", "<=", 1.5)),
    ("error_rate<0.01", Guardrail("error_rate", "<", 0.01)),
    ("error_rate<2%", Guardrail("error_rate", "<", 0.02)),
    ("cost_per_request<0.002", Guardrail("cost_per_request", "<", 0.002)),
    ("cost_per_request<$0.002", Guardrail("cost_per_request", "<", 0.002)),
    ("cost_per_request<2e-3", Guardrail("cost_per_request", "<", 0.002)),
])
def test_parses_units(text: str, expected: Guardrail) -> None:
    parsed = parse_guardrail(text)
    assert parsed.metric == expected.metric and parsed.op == expected.op
    assert parsed.limit == pytest.approx(expected.limit)
    assert Guardrail.from_dict(parsed.to_dict()) == parsed


@pytest.mark.parametrize(("text", "says"), [
    ("latency<2s", "unknown guardrail metric 'latency'"),
    ("latency_p95>2s", "cannot read --guardrail"),
    ("latency_p95<2 minutes", "cannot read the limit"),
    ("error_rate<1.5", "at most 1"),
    ("error_rate<abc", "cannot read the limit"),
    ("", "cannot read --guardrail"),
])
def test_bad_syntax_names_the_flag_and_the_value(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        parse_guardrail(text)
    assert caught.value.field == "--guardrail"
    assert repr(text) in str(caught.value)


def test_one_limit_per_metric() -> None:
    with pytest.raises(ConfigError, match="error_rate more than once"):
        parse_guardrails(["error_rate<0.1", "error_rate<0.2"])
    assert len(parse_guardrails(["error_rate<0.1", "latency_p95<1s"])) == 2


def test_a_breach_needs_enough_data() -> None:
    rail = parse_guardrail("error_rate<0.01")
    assert check_guardrail(rail, 0.5, MIN_GUARDRAIL_N - 1).state == "pending"
    assert check_guardrail(rail, None, 500).state == "pending"
    assert check_guardrail(rail, 0.5, MIN_GUARDRAIL_N).breached
    assert check_guardrail(rail, 0.005, MIN_GUARDRAIL_N).state == "ok"
    assert not check_guardrail(parse_guardrail("error_rate<=0.01"), 0.01, 100).breached
    assert check_guardrail(rail, 0.01, 100).breached
