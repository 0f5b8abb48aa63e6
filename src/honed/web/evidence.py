"""Evidence for a person: the numbers behind a decision or a drift alarm as labelled, formatted
lines, and the whole record as indented JSON for those who want it. Everything returned is
plain text (the templates escape it)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

PSI_ALARM = 0.25  # the monitor's default: a PSI at or above this alarms
MEASURES = {"input_length_psi": "input length PSI", "output_psi": "output PSI",
            "new_vocabulary": "new vocabulary"}


def pretty(value: Any) -> str:
    """Indented JSON (any value JSON cannot hold shown as text)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def fmt(value: Any) -> str:
    """A short text for one value: numbers to 4 significant digits, pairs as intervals."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple) and len(value) == 2 and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return f"[{fmt(float(value[0]))}, {fmt(float(value[1]))}]"
    if isinstance(value, Mapping | list | tuple):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
        return text if len(text) <= 200 else text[:199] + "…"
    return str(value)


def p_value(value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _pair(evidence: Mapping[str, Any], first: str, second: str) -> str:
    return f"{fmt(evidence.get(first))} / {fmt(evidence.get(second))}"


def decision_items(evidence: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The key figures of a decision's evidence, then any other short field."""
    shown = {"metric", "n_control", "n_treatment", "mean_control", "mean_treatment", "diff",
             "ci", "p_value", "alpha", "srm_p_value", "srm_alarm", "requests", "breached",
             "reason", "last_result"}
    out: list[tuple[str, str]] = []
    if "reason" in evidence:
        out.append(("reason", str(evidence["reason"])))
    if "diff" in evidence:
        out.append(("difference", f"{_signed(evidence.get('diff'))} "
                                  f"{fmt(evidence.get('ci'))}"))
        out.append(("means (control / treatment)", _pair(evidence, "mean_control",
                                                         "mean_treatment")))
        out.append(("n (control / treatment)", _pair(evidence, "n_control", "n_treatment")))
        out.append(("always-valid p-value", f"{p_value(evidence.get('p_value'))} "
                                            f"(α {fmt(evidence.get('alpha'))})"))
    if "srm_p_value" in evidence:
        alarm = " — SRM ALARM" if evidence.get("srm_alarm") else ""
        out.append(("sample ratio p-value", p_value(evidence.get("srm_p_value")) + alarm))
    for check in evidence.get("breached") or ():
        if isinstance(check, Mapping):
            out.append(("breached", f"{check.get('guardrail')}: {fmt(check.get('value'))} "
                                    f"(n={fmt(check.get('n'))})"))
    out += [(key, fmt(value)) for key, value in sorted(evidence.items()) if key not in shown]
    return out


def _signed(value: Any) -> str:
    return "-" if value is None else f"{float(value):+.4f}"


def quality_items(evidence: Mapping[str, Any]) -> list[tuple[str, str]]:
    ph = evidence.get("page_hinkley") if isinstance(evidence.get("page_hinkley"), Mapping) else {}
    out = [("reference", fmt(evidence.get("reference"))),
           ("recent mean", f"{fmt(evidence.get('recent_mean'))} over "
                           f"{fmt(evidence.get('recent_n'))} requests"),
           ("mean", f"{fmt(evidence.get('mean'))} over {fmt(evidence.get('n'))} requests"),
           (f"{evidence.get('detector', 'cusum')} statistic / threshold",
            _pair(evidence, "statistic", "threshold"))]
    if ph:
        out.append(("Page-Hinkley statistic / threshold", _pair(ph, "statistic", "threshold")))
    return out


def inputs_items(evidence: Mapping[str, Any]) -> list[tuple[str, str]]:
    measures = evidence.get("measures") if isinstance(evidence.get("measures"), Mapping) else {}
    worst = evidence.get("worst")
    out = []
    for key, value in measures.items():
        if key == "new_vocabulary":
            text = "-" if value is None else f"{100 * float(value):.1f}% of words unseen"
        else:
            alarm = value is not None and float(value) >= PSI_ALARM
            text = fmt(value) + (" (worst)" if key == worst else "") + (
                f" ≥ {PSI_ALARM}" if alarm else "")
        out.append((MEASURES.get(key, str(key)), text))
    out.append(("requests compared", f"{fmt(evidence.get('n'))} (first and latest windows)"))
    return out


def alarm_items(kind: str, evidence: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A drift alarm's evidence: the quality detector's figures or each shift measure, then
    any other field."""
    if kind == "quality":
        out, known = quality_items(evidence), {"detector", "reference", "recent_mean",
                                               "recent_n", "mean", "n", "statistic",
                                               "threshold", "page_hinkley"}
    elif kind == "inputs":
        out, known = inputs_items(evidence), {"measures", "worst", "n"}
    else:
        out, known = [], set()
    skip = known | {"alarmed", "alarm_at", "shift", "reference_n", "direction", "delta"}
    return out + [(key, fmt(value)) for key, value in sorted(evidence.items())
                  if key not in skip]
