"""Guardrails: limits the treatment must hold while an experiment runs.

``latency_p95<2s`` (seconds, or ``ms``), ``error_rate<0.01`` (a fraction, or ``1%``),
``cost_per_request<0.002`` (USD, ``$`` optional); ``<`` or ``<=``. A breach is judged only
with enough data: at least ``MIN_GUARDRAIL_N`` treatment requests (successful ones for latency
and cost, all of them for the error rate); below that a guardrail is ``pending``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from honed.errors import ConfigError

MIN_GUARDRAIL_N = 50
METRICS = ("latency_p95", "error_rate", "cost_per_request")
UNITS = {"latency_p95": "s", "error_rate": "", "cost_per_request": "USD"}
_SYNTAX = re.compile(r"^\s*(?P<metric>[a-z_0-9]+)\s*(?P<op><=|<)\s*(?P<value>\S.*?)\s*$")
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_VALUES = {
    "latency_p95": re.compile(rf"^(?P<n>{_NUMBER})\s*(?P<unit>ms|s)?$"),
    "error_rate": re.compile(rf"^(?P<n>{_NUMBER})\s*(?P<unit>%)?$"),
    "cost_per_request": re.compile(rf"^\$?\s*(?P<n>{_NUMBER})\s*(?P<unit>usd|USD)?$"),
}
_FIXES = {
    "latency_p95": "write seconds or milliseconds, e.g. latency_p95<2s or latency_p95<800ms",
    "error_rate": "write a fraction or a percentage, e.g. error_rate<0.01 or error_rate<1%",
    "cost_per_request": "write USD per request, e.g. cost_per_request<0.002",
}
SYNTAX_FIX = ("write METRIC<LIMIT with METRIC one of latency_p95, error_rate, cost_per_request, "
              "e.g. --guardrail 'latency_p95<2s'")


@dataclass(frozen=True)
class Guardrail:
    """``metric op limit``: ``limit`` in seconds, a fraction, or USD."""

    metric: str
    op: str
    limit: float

    def holds(self, value: float) -> bool:
        return value < self.limit if self.op == "<" else value <= self.limit

    def __str__(self) -> str:
        unit = UNITS[self.metric]
        return f"{self.metric}{self.op}{self.limit:g}{unit if unit == 's' else ''}"

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "op": self.op, "limit": self.limit}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Guardrail:
        return cls(str(data["metric"]), str(data["op"]), float(data["limit"]))


@dataclass(frozen=True)
class GuardrailCheck:
    """One guardrail on the treatment: ``ok``, ``breached`` or ``pending`` (too little data)."""

    guardrail: Guardrail
    value: float | None
    n: int
    state: str

    @property
    def breached(self) -> bool:
        return self.state == "breached"

    def to_dict(self) -> dict[str, Any]:
        return {"guardrail": str(self.guardrail), **self.guardrail.to_dict(),
                "value": self.value, "n": self.n, "state": self.state,
                "min_n": MIN_GUARDRAIL_N}


def parse_guardrail(text: str, *, flag: str = "--guardrail") -> Guardrail:
    """``latency_p95<2s`` -> Guardrail; a ConfigError naming ``flag`` and the value when the
    syntax, the metric or the unit is wrong."""
    match = _SYNTAX.match(text)
    if match is None:
        raise ConfigError(f"cannot read {flag} {text!r}", field=flag, fix=SYNTAX_FIX)
    metric, op, raw = match.group("metric"), match.group("op"), match.group("value")
    if metric not in METRICS:
        raise ConfigError(f"unknown guardrail metric {metric!r} in {flag} {text!r}",
                          field=flag, fix=f"use one of: {', '.join(METRICS)}")
    value = _VALUES[metric].match(raw)
    if value is None:
        raise ConfigError(f"cannot read the limit {raw!r} in {flag} {text!r}", field=flag,
                          fix=_FIXES[metric])
    limit = float(value.group("n"))
    unit = value.group("unit")
    if unit == "ms":
        limit /= 1000.0
    elif unit == "%":
        limit /= 100.0
    if metric == "error_rate" and limit > 1:
        raise ConfigError(f"an error rate is at most 1, not {raw!r} in {flag} {text!r}",
                          field=flag, fix=_FIXES[metric])
    return Guardrail(metric, op, limit)


def parse_guardrails(texts: list[str] | tuple[str, ...], *,
                     flag: str = "--guardrail") -> tuple[Guardrail, ...]:
    """Several guardrails; the same metric twice is a ConfigError."""
    parsed = tuple(parse_guardrail(t, flag=flag) for t in texts)
    seen = [g.metric for g in parsed]
    twice = sorted({m for m in seen if seen.count(m) > 1})
    if twice:
        raise ConfigError(f"{flag} names {', '.join(twice)} more than once", field=flag,
                          fix="give each metric one limit")
    return parsed


def check_guardrail(guardrail: Guardrail, value: float | None, n: int) -> GuardrailCheck:
    if value is None or n < MIN_GUARDRAIL_N:
        return GuardrailCheck(guardrail, value, n, "pending")
    return GuardrailCheck(guardrail, value, n, "ok" if guardrail.holds(value) else "breached")
