"""What the templates get: the report data plus its plots (inline SVG) and the matrix's cell
details (JSON for the page's script). The drawing decisions live here and in the templates."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from honed.lifecycle.report.data import (
    CompareReport,
    FrontPoint,
    Matrix,
    RunReport,
    Step,
)
from honed.web.svg import PALETTE, Series, chart

SPLIT_COLORS = {"val": PALETTE[0], "train": "#94a3b8", "val-minibatch": PALETTE[5]}


def run_context(report: RunReport) -> dict[str, Any]:
    return {"report": report, "trajectory": trajectory_chart(report.trajectory),
            "front": front_charts(report.front),
            "matrix": matrix_payload(report.matrix) if report.matrix else None,
            "test_matrix": matrix_payload(report.test_matrix) if report.test_matrix else None}


def compare_context(report: CompareReport) -> dict[str, Any]:
    return {"compare": report, "trajectory": compare_chart(report),
            "matrix": matrix_payload(report.matrix) if report.matrix else None}


def _tip(step: Step) -> str:
    note = f" · {step.note}" if step.note else ""
    return (f"#{step.seq} {step.phase} on {step.split}: {step.score:.3f} (n={step.n}, "
            f"{step.rollouts} calls){' accepted' if step.accepted else ''}{note}")


def trajectory_chart(steps: tuple[Step, ...]) -> Markup | None:
    """Score against calls: every evaluation as a dot (by split, accepted ones larger) and the
    best-so-far as a staircase."""
    if not steps:
        return None
    series = []
    for split in dict.fromkeys(s.split for s in steps):
        mine = [s for s in steps if s.split == split]
        series.append(Series(f"{split} score", [(s.rollouts, s.score) for s in mine], "dots",
                             SPLIT_COLORS.get(split), [_tip(s) for s in mine],
                             [s.accepted for s in mine]))
    best = [(s.rollouts, s.best_so_far) for s in steps]
    series.append(Series("best so far (val)", best, "step", PALETTE[1]))
    return chart(series, x_label="calls (rollouts)", y_label="score", y_range=(0.0, 1.0),
                 title="score against calls, with the best so far")


def front_charts(points: tuple[FrontPoint, ...]) -> list[tuple[str, Markup]]:
    """Quality against prompt length, cost and latency (where they vary); the front as a line."""
    if len(points) < 2:
        return []
    axes = [("prompt tokens per call", "prompt_tokens"),
            ("cost per example (USD)", "cost_per_example"),
            ("latency p50 (s)", "latency_p50_s")]
    charts = []
    for label, key in axes:
        values = {getattr(p, key) for p in points}
        if len(values) < 2 and key != "prompt_tokens":
            continue
        on = sorted((p for p in points if p.on_front), key=lambda p: getattr(p, key))
        off = [p for p in points if not p.on_front]
        series = [Series("candidates", [(getattr(p, key), p.score) for p in off], "dots",
                         "#94a3b8", [f"{p.label}: {p.score:.3f}" for p in off]),
                  Series("Pareto front", [(getattr(p, key), p.score) for p in on], "dotline",
                         PALETTE[1], [f"{p.label}: {p.score:.3f}" for p in on],
                         [True] * len(on))]
        charts.append((f"val score against {label}",
                       chart(series, x_label=label, y_label="val score", y_range=(0.0, 1.0),
                             width=520, height=240)))
    return charts


def compare_chart(report: CompareReport) -> Markup | None:
    """The best-so-far of every run side on one chart."""
    series = [Series(side.label, [(s.rollouts, s.best_so_far) for s in side.run.trajectory],
                     "step") for side in report.sides if side.run and side.run.trajectory]
    if not series:
        return None
    return chart(series, x_label="calls (rollouts)", y_label="best val score so far",
                 y_range=(0.0, 1.0))


def matrix_payload(matrix: Matrix) -> dict[str, Any]:
    """The cells' details for the page's script (column labels, rows' inputs, cells)."""
    return {
        "columns": [c.label for c in matrix.columns],
        "rows": [{"id": r.example_id, "inputs": r.inputs} for r in matrix.rows],
        "cells": [[None if c is None else {
            "state": c.state, "score": c.score, "output": c.output, "error": c.error,
            "evals": [{"name": e.name, "score": e.score, "passed": e.passed,
                       "feedback": e.feedback, "category": e.category} for e in c.evals],
            "input_tokens": c.input_tokens, "output_tokens": c.output_tokens,
            "latency_s": c.latency_s, "cached": c.cached} for c in r.cells]
            for r in matrix.rows],
    }
