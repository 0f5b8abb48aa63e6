"""What the dashboard shows of an online experiment, read from its stored row: the last check's
result (arms, the sequential test, the sample-ratio check, guardrails, the verdict) as it was
saved, never measured again on page load; and its history, the difference's confidence sequence
replayed over the logged requests in the order they arrived (their stored scores for an eval
metric), or the arms' running means while the test has too few observations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

RUNNING = "running"
MAX_POINTS = 240  # points drawn on a plot; the replay itself uses every observation
HISTORY_LIMIT = 20_000  # requests replayed on a page load at most (beyond: no plot)


@dataclass(frozen=True)
class GuardrailView:
    guardrail: str
    value: str
    n: int | None
    state: str  # ok | breached | pending | unchecked


@dataclass(frozen=True)
class ExperimentView:
    """One experiment as its row and last check hold it (absent numbers are None)."""

    name: str
    prompt: str
    status: str
    control: str
    treatment: str
    split: float
    metric: str
    unit: str  # of observation: user | request
    created: float
    ended: float | None
    checked: float | None
    requests: dict[str, int | None]
    n: dict[str, int | None]
    means: dict[str, float | None]
    diff: float | None
    ci: tuple[float, float] | None
    p_value: float | None
    alpha: float | None
    srm_p: float | None
    srm_alarm: bool
    srm_observed: list[int]
    srm_expected: list[float]
    guardrails: list[GuardrailView]
    verdict: str
    reason: str
    arms: dict[str, dict[str, Any]] = field(default_factory=dict)
    row: Mapping[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.status == RUNNING


def guardrail_value(metric: str, value: Any) -> str:
    """A guardrail's measured value in its unit."""
    if value is None:
        return "-"
    value = float(value)
    if metric == "latency_p95":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if metric == "error_rate":
        return f"{100 * value:.2f}%"
    return f"${value:.5f}"


def _guardrails(row: Mapping[str, Any], result: Mapping[str, Any]) -> list[GuardrailView]:
    checked = result.get("guardrails")
    if checked:
        return [GuardrailView(str(g.get("guardrail", g.get("metric", "?"))),
                              guardrail_value(str(g.get("metric")), g.get("value")),
                              g.get("n"), str(g.get("state", "pending"))) for g in checked]
    from honed.experiments.guardrails import Guardrail

    out = []
    for g in row.get("guardrails") or ():
        try:
            text = str(Guardrail.from_dict(g))
        except (KeyError, TypeError, ValueError):
            text = str(g)
        out.append(GuardrailView(text, "-", None, "unchecked"))
    return out


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def experiment_view(row: Mapping[str, Any]) -> ExperimentView:
    """The view of a stored experiment row (``ExperimentStore`` decodes its JSON)."""
    result = row.get("result") if isinstance(row.get("result"), Mapping) else {}
    seq = result.get("sequential") or {}
    srm = result.get("srm") or {}
    arms = {arm: dict(stats) for arm, stats in (result.get("arms") or {}).items()}
    verdict = result.get("verdict") or {}
    ci = seq.get("ci")
    return ExperimentView(
        name=str(row["name"]), prompt=str(row["prompt"]), status=str(row["status"]),
        control=f"{row['control_ref']} → v{row['control_version']}",
        treatment=f"{row['treatment_ref']} → v{row['treatment_version']}",
        split=float(row["split"]), metric=str(row["metric"]),
        unit=str(row.get("unit") or "request"), created=float(row["created"]),
        ended=_number(row.get("ended")), checked=_number(result.get("checked")),
        requests={arm: arms.get(arm, {}).get("requests") for arm in ("control", "treatment")},
        n={"control": seq.get("n_control"), "treatment": seq.get("n_treatment")},
        means={"control": _number(seq.get("mean_control")),
               "treatment": _number(seq.get("mean_treatment"))},
        diff=_number(seq.get("diff")),
        ci=(float(ci[0]), float(ci[1])) if isinstance(ci, list | tuple) and len(ci) == 2
        else None,
        p_value=_number(seq.get("p_value")), alpha=_number(seq.get("alpha")),
        srm_p=_number(srm.get("p_value")), srm_alarm=bool(srm.get("alarm")),
        srm_observed=list(srm.get("observed") or []),
        srm_expected=list(srm.get("expected_share") or []),
        guardrails=_guardrails(row, result), verdict=str(verdict.get("outcome") or ""),
        reason=str(verdict.get("reason") or ""), arms=arms, row=row)


def ordered(views: Sequence[ExperimentView]) -> list[ExperimentView]:
    """Running experiments first, then the others; newest first within each."""
    return sorted(views, key=lambda v: (not v.running, -v.created, v.name))


# history ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timeline:
    """``cs``: (time, difference, low, high) of the confidence sequence after each observation
    once both arms have ``min_n``; ``means``: per arm, (time, running mean)."""

    kind: str  # cs | means | skipped (more than HISTORY_LIMIT requests: not replayed)
    observations: int
    cs: list[tuple[float, float, float, float]] = field(default_factory=list)
    means: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


def _thin(count: int, limit: int = MAX_POINTS) -> list[int]:
    if count <= limit:
        return list(range(count))
    step = (count - 1) / (limit - 1)
    return sorted({round(i * step) for i in range(limit)})


def timeline(obs: Sequence[tuple[float, bool, float]], *, alpha: float, tau: float,
             min_n: int) -> Timeline | None:
    """The confidence sequence after each observation (the running intersection, as the
    test keeps it), or the running means while an arm has fewer than ``min_n``."""
    import numpy as np

    from honed.stats.sequential import halfwidth, moments

    if not obs:
        return None
    times = np.array([o[0] for o in obs])
    is_t = np.array([o[1] for o in obs])
    n_c, m_c, v_c, n_t, m_t, v_t = moments(np.array([o[2] for o in obs]), is_t)
    ready = np.flatnonzero((n_c >= min_n) & (n_t >= min_n))
    if ready.size == 0:
        means = {}
        for arm, mask, mean in (("control", ~is_t, m_c), ("treatment", is_t, m_t)):
            where = np.flatnonzero(mask)
            means[arm] = [(float(times[i]), float(mean[i])) for i in where[_thin(where.size)]]
        return Timeline("means", len(obs), means=means)
    diff = (m_t - m_c)[ready]
    half = halfwidth(v_c[ready] / n_c[ready] + v_t[ready] / n_t[ready], tau, alpha)
    low, high, points = -1.0, 1.0, []
    for d, h in zip(diff.tolist(), half.tolist(), strict=True):
        if max(low, d - h) <= min(high, d + h):  # an interval that would empty it is skipped
            low, high = max(low, d - h), min(high, d + h)
        points.append((d, low, high))
    picked = _thin(len(points))
    return Timeline("cs", len(obs), cs=[(float(times[ready[i]]), *points[i]) for i in picked])


def timeline_chart(line: Timeline) -> Markup:
    from honed.web.svg import PALETTE, Band, Series, chart, clock, time_ticks

    if line.kind == "cs":
        return chart([Series("difference (treatment − control)",
                             [(t, d) for t, d, _, _ in line.cs], "line", PALETTE[0])],
                     bands=[Band("95% confidence sequence", [(t, lo, hi) for t, _, lo, hi
                                                             in line.cs], PALETTE[0])],
                     rule=0.0, x_label="time", y_label="difference", width=720, height=240,
                     x_format=clock, x_ticks=time_ticks,
                     title="the difference and its confidence sequence over time")
    series = [Series(arm, points, "line", PALETTE[i]) for i, (arm, points)
              in enumerate(line.means.items()) if points]
    return chart(series, x_label="time", y_label="running mean", width=720, height=240,
                 y_range=(0.0, 1.0), x_format=clock, x_ticks=time_ticks,
                 title="each arm's running mean over time")


def history(es: Any, row: Mapping[str, Any], result: Mapping[str, Any] | None
            ) -> Timeline | None:
    """The experiment's history from the log: its requests (and, for an eval metric, their
    stored scores; nothing is scored here) replayed in arrival order, per request or per user
    as the experiment is analysed; ``skipped`` beyond ``HISTORY_LIMIT`` requests, to keep a
    page load cheap."""
    from honed.experiments.metrics import observations
    from honed.experiments.model import parse_metric
    from honed.stats.sequential import DEFAULT_TAU

    seq = (result or {}).get("sequential") or {}
    rows = es.metric_rows(str(row["name"]), limit=HISTORY_LIMIT + 1)
    if len(rows) > HISTORY_LIMIT:
        return Timeline("skipped", 0)
    metric = str(row["metric"])
    scores = None
    if metric.startswith("eval:") and rows:
        scores = es.scores(metric.partition(":")[2], [r["id"] for r in rows])
    obs = observations(rows, parse_metric(metric), scores, unit=row.get("unit") or "request")
    return timeline([(t, arm == "treatment", value) for t, arm, value in obs],
                    alpha=float(seq.get("alpha") or 0.05),
                    tau=float(seq.get("tau") or DEFAULT_TAU), min_n=int(seq.get("min_n") or 20))
