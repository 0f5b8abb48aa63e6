"""Per-user against per-request analysis of an online experiment, by simulation.

    python benchmarks/unit_sim.py [--quick] [--seed N] [--out PATH]

Users differ (each user's chance of a good answer is drawn once, 0.3 or 0.9 with equal odds)
and each makes several requests (1 + Poisson(9), so 10 on average), all sent to one arm by
sticky assignment, with a 0/1 feedback score each. Every simulated experiment is logged as
``honed serve`` logs it and analysed by ``honed.experiments.analyze``, the code ``honed
experiment check`` runs, once with ``unit="request"`` and once with ``unit="user"``:

- A/A (the same users' distribution in both arms): how often each analysis declares a winner
  (a false positive; the always-valid p-value makes one look at the end as valid as many);
- A/B (the treatment lifts every user's chance by 0.10): how often each finds the win.

Rates come with Wilson 95% intervals. ``--quick`` is a small smoke run that writes only with
``--out``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sim_common import machine, rate, write_report

from honed.experiments import Experiment, Metric, analyze

RESULTS = Path(__file__).resolve().parent / "results" / "unit-sim.json"
FULL = {"sims": 400, "users_per_arm": 300}
QUICK = {"sims": 20, "users_per_arm": 30}
USER_P = (0.3, 0.9)  # a user's chance of a good answer, drawn once per user
EXTRA_REQUESTS = 9.0  # each user makes 1 + Poisson(9) requests
LIFT = 0.10  # the A/B treatment's lift of every user's chance


def experiment(unit: str) -> Experiment:
    return Experiment(name="sim", prompt="p", control_ref="p@production", control_version=1,
                      treatment_ref="p@candidate", treatment_version=2, split=0.5,
                      metric=Metric("feedback"), guardrails=(), salt="s", created=0.0,
                      unit=unit)


def traffic(rng: np.random.Generator, users: int, lift: float) -> list[dict[str, Any]]:
    """One experiment's logged requests, in arrival order (users' requests interleaved)."""
    rows = []
    for arm, boost in (("control", 0.0), ("treatment", lift)):
        for u in range(users):
            p = min(1.0, float(rng.choice(USER_P)) + boost)
            for k in range(1 + int(rng.poisson(EXTRA_REQUESTS))):
                rows.append({"id": f"{arm}-{u}-{k}", "created": float(rng.random()),
                             "arm": arm, "user_id": f"{arm}-{u}", "output": "x",
                             "error": None, "latency_s": 0.1, "cost_usd": 0.0,
                             "feedback": [{"score": float(rng.random() < p), "label": None,
                                           "correction": None}]})
    return sorted(rows, key=lambda r: r["created"])


def simulate(rng: np.random.Generator, sims: int, users: int, lift: float) -> dict[str, Any]:
    decided = {"request": 0, "user": 0}
    for _ in range(sims):
        rows = traffic(rng, users, lift)
        for unit in decided:
            verdict = analyze(experiment(unit), rows, now=1.0).verdict.outcome
            decided[unit] += verdict in ("won", "lost") if lift == 0 else verdict == "won"
    return {unit: rate(k, sims) for unit, k in decided.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where to write the JSON (default: {RESULTS}; --quick: nowhere)")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    aa = simulate(rng, size["sims"], size["users_per_arm"], 0.0)
    ab = simulate(rng, size["sims"], size["users_per_arm"], LIFT)
    report = {
        "command": "python benchmarks/unit_sim.py" + (" --quick" if args.quick else "")
                   + (f" --seed {args.seed}" if args.seed else ""),
        "settings": {**size, "user_p": list(USER_P), "requests_per_user": "1 + Poisson(9)",
                     "lift_ab": LIFT, "alpha": 0.05, "checked": "once, at the end",
                     "seed": args.seed},
        "results": {"aa_false_positives": aa, "ab_power": ab},
        "runtime_s": round(time.perf_counter() - started, 2), "machine": machine()}
    out = write_report(report, args.out, args.quick, RESULTS)
    sys.stdout.write(
        f"A/A false positives: per request {aa['request']['rate']:.1%} "
        f"{aa['request']['ci95']}, per user {aa['user']['rate']:.1%} {aa['user']['ci95']}\n"
        f"A/B power (+{LIFT:.2f}): per request {ab['request']['rate']:.1%}, per user "
        f"{ab['user']['rate']:.1%}\n{report['runtime_s']} s"
        + (f", wrote {out}" if out else "") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
