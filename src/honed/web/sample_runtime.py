"""Sample online experiments, drift alarms and loop cycles for demos, tests and benchmarks of the
dashboard, written through the store APIs (``ExperimentStore``, ``MonitorStore``).

Every experiment's stored result is a real analysis (``honed.experiments.analyze``) of
synthetic traffic; ``traffic`` logs that traffic (requests with their arm, and feedback) for
the first experiment, so its page can draw its history. Text a user or a model controls (prompt
names, reasons, evidence, loop details) holds HTML and script tags where it can reach a page.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from honed.web.sample import HOSTILE, HOSTILE_IMG

STATUS_CYCLE = ("won", "lost", "breached", "expired", "stopped", "won", "lost", "expired")
LIFTS = {"won": 0.3, "lost": -0.3}  # of the treatment's quality, per final status
GUARDRAILS = ({"metric": "latency_p95", "op": "<", "limit": 2.0},
              {"metric": "error_rate", "op": "<", "limit": 0.05})


def synthetic_traffic(name: str, prompt: str, n: int, *, now: float, days: float,
                      rng: random.Random, split: float = 0.3, served_split: float | None = None,
                      lift: float = 0.1, treatment_errors: float = 0.01
                      ) -> list[dict[str, Any]]:
    """``n`` requests of an experiment over the last ``days``, oldest first, as the store's
    rows (``arm``, ``experiment``) with a ``feedback`` list (a score on about 3 in 5).
    ``served_split``: the share actually sent to the treatment (unlike ``split``: an SRM)."""
    share = split if served_split is None else served_split
    rows = []
    for i in range(n):
        treated = rng.random() < share
        failed = rng.random() < (treatment_errors if treated else 0.01)
        quality = 0.62 + (lift if treated else 0.0)
        row = {"id": f"{name}-r{i:05d}", "created": now - days * 86400 * (1 - i / max(1, n)),
               "prompt": prompt, "version": 2 if treated else 1,
               "alias": "production", "inputs": {"text": f"request {i}"},
               "output": None if failed else "positive",
               "error": "provider timed out" if failed else None,
               "latency_s": rng.uniform(0.1, 1.2), "cost_usd": 0.0002,
               "user_id": f"{name}-u{i}", "arm": "treatment" if treated else "control",
               "experiment": name, "feedback": []}
        if not failed and rng.random() < 0.6:
            row["feedback"].append({"score": 1.0 if rng.random() < quality else 0.0,
                                    "label": None, "correction": None})
        rows.append(row)
    return rows


def _experiment_row(name: str, prompt: str, i: int, created: float) -> dict[str, Any]:
    return {"name": name, "prompt": prompt, "control_ref": f"{prompt}@production",
            "control_version": 1 + i % 3, "treatment_ref": f"{prompt}@candidate",
            "treatment_version": 2 + i % 3, "split": 0.3, "metric": "feedback",
            "guardrails": list(GUARDRAILS[:1 + i % 2]), "max_requests": 5000,
            "max_days": 14.0, "task": None, "salt": f"salt-{i}", "status": "running",
            "created": created}


def _analysis(row: dict[str, Any], traffic: Sequence[dict[str, Any]], checked: float,
              status: str | None) -> dict[str, Any]:
    """A real analysis of ``traffic``; with a ``status``, its verdict is that status."""
    from honed.experiments import Experiment, analyze

    result = analyze(Experiment.from_row(row), traffic, now=checked).to_dict()
    if status is not None:  # an ended one: its verdict is its status
        reason = {"won": "the treatment is better (sequential test)",
                  "lost": "the control is better (sequential test)",
                  "breached": f"guardrail breached: error_rate<0.05 {HOSTILE}",
                  "expired": "reached 5000 of --max-requests 5000 without a decision"}[status]
        result["verdict"] = {"outcome": status, "reason": reason, "final": True}
    return result


def _log_traffic(log_store: Any, traffic: Sequence[dict[str, Any]], hostile: bool) -> None:
    rows = [{k: v for k, v in r.items() if k != "feedback"} for r in traffic]
    for start in range(0, len(rows), 1000):
        log_store.log_requests(rows[start:start + 1000])
    for i, r in enumerate(traffic):
        for item in r["feedback"]:
            log_store.add_feedback(r["id"], score=item["score"],
                                   comment=HOSTILE_IMG if hostile and i % 20 == 0 else None)


def _conclude(es: Any, row: dict[str, Any], status: str, result: dict[str, Any],
              ended: float) -> dict[str, Any] | None:
    seq = result["sequential"]
    evidence = {"metric": "feedback", "n_control": seq["n_control"],
                "n_treatment": seq["n_treatment"], "mean_control": seq["mean_control"],
                "mean_treatment": seq["mean_treatment"], "diff": seq["diff"],
                "ci": seq["ci"], "p_value": seq["p_value"], "alpha": seq["alpha"],
                "srm_p_value": result["srm"]["p_value"], "srm_alarm": result["srm"]["alarm"],
                "breached": [g for g in result["guardrails"] if g["state"] == "breached"],
                "reason": result["verdict"]["reason"]}
    kind = {"won": "promote", "stopped": "stop"}.get(status, "keep")
    if status == "stopped":
        evidence = {"reason": f"stopped by hand {HOSTILE_IMG}", "last_result": result}
    decision = {"prompt": row["prompt"], "kind": kind, "alias": "production",
                "from_version": row["control_version"],
                "to_version": row["treatment_version"] if kind == "promote"
                else row["control_version"], "evidence": evidence}
    return es.conclude(row["name"], status, None if status == "stopped" else result,
                       decision, now=ended)


def fill_experiments(log_store: Any, n: int, *, prompt: str = "sentiment", running: int = 3,
                     traffic: int = 0, now: float | None = None, seed: int = 0,
                     hostile: bool = True) -> list[str]:
    """``n`` experiments, the newest ``running`` of them running (the second of those with a
    sample-ratio mismatch), the others ended with every status and decision (the newest won
    one promoted, then rolled back). ``traffic`` > 0 logs that many requests of the newest
    experiment. Returns the names, newest first."""
    from honed.store.experiments import ExperimentStore

    es, rng = ExperimentStore.of(log_store), random.Random(seed)
    now = time.time() if now is None else now
    prompts = [prompt, f"{prompt}-b", f"{HOSTILE} prompt" if hostile else "support"]
    names, undo = [], True
    for i in range(n):
        name, created = f"exp-{i:03d}", now - (i + 1) * 3600.0
        row = _experiment_row(name, prompts[i % len(prompts)] if i else prompt, i, created)
        status = None if i < running else STATUS_CYCLE[i % len(STATUS_CYCLE)]
        size = traffic if i == 0 and traffic else 60 + (i * 37) % 340
        rows = synthetic_traffic(name, row["prompt"], size, now=created + 3000, days=0.03,
                                 rng=rng, served_split=0.6 if i == 1 else None,
                                 lift=LIFTS.get(status or "", (0.0, 0.05, -0.05)[i % 3]),
                                 treatment_errors=0.2 if status == "breached" else 0.01)
        if i == 0 and traffic:
            _log_traffic(log_store, rows, hostile)
        es.create(row)
        result = _analysis(row, rows, created + 3100, None if status == "stopped" else status)
        if status in (None, "stopped"):  # the last check of a running one
            es.save_result(name, result)
        if status is not None:
            decision = _conclude(es, row, status, result, created + 3200)
            if decision is not None and decision["kind"] == "promote" and undo:
                es.undo(decision["id"], {**{k: decision[k] for k in ("prompt", "alias")},
                                         "kind": "rollback", "experiment": name,
                                         "from_version": decision["to_version"],
                                         "to_version": decision["from_version"],
                                         "evidence": {"undoes": decision["id"],
                                                      "reason": "rolled back by hand"}},
                        now=created + 3300)
                undo = False
        names.append(name)
    return names


def _alarm_evidence(kind: str, i: int, rng: random.Random, hostile: bool) -> dict[str, Any]:
    if kind == "quality":
        evidence: dict[str, Any] = {
            "detector": "cusum", "reference": 0.82, "recent_mean": round(rng.uniform(0.5, 0.7), 4),
            "recent_n": 80 + i % 200, "mean": 0.79, "n": 5000 + i, "statistic": 8.1 + i % 3,
            "threshold": 7.75, "alarmed": True, "shift": 0.1, "reference_n": 5000,
            "page_hinkley": {"detector": "page_hinkley", "statistic": 3.2, "threshold": 5.0}}
    else:
        measures = {"input_length_psi": round(rng.uniform(0.05, 0.6), 4),
                    "new_vocabulary": round(rng.uniform(0.0, 0.3), 4),
                    "output_psi": round(rng.uniform(0.0, 0.4), 4)}
        worst = max(("input_length_psi", "output_psi"), key=lambda k: measures[k])
        evidence = {"n": 2000 + i, "measures": measures, "worst": worst}
    if hostile and i % 7 == 0:
        evidence["note"] = f"{HOSTILE} {HOSTILE_IMG}"
    return evidence


def fill_alarms(log_store: Any, n: int, *, prompts: Sequence[str] = ("sentiment",),
                open_alarms: int = 4, now: float | None = None, seed: int = 0,
                hostile: bool = True) -> list[int]:
    """``n`` drift alarms through ``MonitorStore.raise_alarm``: all but the last
    ``open_alarms`` cleared (by a user or a loop), a quality and an input-shift alarm in turn
    over the prompts and versions 1-3. Returns the ids of the open ones."""
    from honed.store.monitor import MonitorStore

    store, rng = MonitorStore.of(log_store), random.Random(seed)
    now = time.time() if now is None else now
    names = list(prompts) + ([f"{HOSTILE} drift"] if hostile else [])
    opened: list[int] = []
    for i in range(n):
        kind = "quality" if i % 2 == 0 else "inputs"
        evidence = _alarm_evidence(kind, i, rng, hostile)
        detector = "cusum" if kind == "quality" else f"psi:{evidence['worst']}"
        if hostile and i == n - 1:
            detector = f"{detector} {HOSTILE}"
        prompt = names[(i // 2) % len(names)]
        version = 1 + (i // (2 * len(names))) % 3
        if i >= n - open_alarms:  # open ones: one per prompt, version and kind
            version = 10 + i
        alarm = store.raise_alarm({"prompt": prompt, "version": version, "kind": kind,
                                   "detector": detector, "request_id": f"req-{seed}-{i:06d}",
                                   "at": now - (n - i) * 600.0, "evidence": evidence})
        if alarm is None:
            continue
        if i < n - open_alarms:
            by = "user" if i % 3 else f"loop {prompt} cycle {i // 3}"
            store.clear_alarms(prompt, by=by, ids=[alarm["id"]])
        else:
            opened.append(int(alarm["id"]))
    return opened


Step = tuple[str, str, dict[str, Any], int, float]  # step, status, detail, calls, cost


def _gate(cycle: int, passed: bool, note: str) -> Step:
    detail = {"production_test": 0.61, "best_test": 0.79 if passed else 0.62,
              "diff": 0.18 if passed else 0.01, "ci95": [0.08, 0.27], "n": 54,
              "min_diff": 0.02, "registered": 4 + cycle,
              "reasons": [] if passed else [f"the difference 0.01 is below min_diff 0.02{note}"]}
    return ("gate", "ok" if passed else "skipped", detail, 0, 0.0)


def _decide(cycle: int, name: str, promoted: bool, note: str) -> Step:
    return ("decide", "ok", {"experiment": name, "kind": "promote" if promoted else "keep",
                             "status": "won" if promoted else "lost", "from_version": 3,
                             "to_version": 4 + cycle if promoted else 3,
                             "evidence": {"diff": 0.06 if promoted else -0.04, "p_value": 0.01,
                                          "reason": f"sequential test{note}"}}, 0, 0.0)


def _cycle_events(cycle: int, shape: str, hostile: bool) -> list[Step]:
    """The steps of one cycle of ``shape`` (see ``SHAPES``; ``running``: no decision yet)."""
    note = f" {HOSTILE}" if hostile and cycle % 5 == 0 else ""
    steps: list[Step] = [("trigger", "ok", {"reason": "alarm" if cycle % 2 else "schedule",
                                            "alarms": [cycle] if cycle % 2 else []}, 0, 0.0)]
    harvest = {"rows": 180 + cycle % 50, "train": 90, "val": 36, "test": 54, "requests": 600}
    if shape == "budget":
        return [*steps, ("budget", "skipped", {"calls_left_24h": 12, "spent_usd_24h": 0.97},
                         0, 0.0)]
    if shape == "harvest":
        return [*steps, ("harvest", "skipped", {**harvest, "rows": 12, "min_rows": 40}, 0,
                         0.0)]
    steps.append(("harvest", "ok", harvest, 0, 0.0))
    if shape == "failed":
        return [*steps, ("optimize", "failed",
                         {"error": f"ProviderError: the model answered 503{note}"}, 40, 0.01)]
    steps.append(("optimize", "ok", {"run_id": f"2026-run-{cycle:04d}", "production_version": 3,
                                     "best_val": 0.82, "seed_val": 0.64, "stopped": "budget"},
                  300, 0.12))
    if shape == "gate":
        return [*steps, _gate(cycle, False, note)]
    name = f"loop-c{cycle}"
    steps += [_gate(cycle, True, note),
              ("candidate", "ok", {"version": 4 + cycle,
                                   "prompt": {"system": f"Classify the review.{note}"}}, 0, 0.0),
              ("experiment", "ok", {"experiment": name, "control": "sentiment@production",
                                    "treatment": f"sentiment/{4 + cycle}"}, 0, 0.0)]
    if shape == "running":
        return steps
    return [*steps, _decide(cycle, name, shape == "promote", note)]


SHAPES = ("promote", "keep", "gate", "harvest", "failed", "keep", "budget", "promote")


def fill_loop(log_store: Any, loop: str, cycles: int, *, now: float | None = None,
              every_s: float = 3600.0, hostile: bool = True,
              max_events: int | None = None) -> int:
    """``cycles`` cycles of a loop through ``MonitorStore.add_event``, one every ``every_s``
    up to now, of every shape (promoted, kept, stopped at each step); the latest one's
    experiment is still running. ``max_events``: stop after that many (the oldest cycles are
    left out). Returns how many events were written."""
    from honed.store.monitor import MonitorStore

    store = MonitorStore.of(log_store)
    now = time.time() if now is None else now
    planned = [(cycle, _cycle_events(cycle, "running" if cycle == cycles
                                     else SHAPES[cycle % len(SHAPES)], hostile))
               for cycle in range(1, cycles + 1)]
    while max_events is not None and len(planned) > 1 and sum(
            len(steps) for _, steps in planned) > max_events:
        planned.pop(0)
    written = 0
    for cycle, steps in planned:
        start = now - (cycles - cycle + 1) * every_s
        for k, (step, status, detail, calls, cost) in enumerate(steps):
            store.add_event({"loop": loop, "step": step, "status": status, "cycle": cycle,
                             "calls": calls, "cost_usd": cost, "detail": detail,
                             "created": start + k * 60.0})
            written += 1
    return written
