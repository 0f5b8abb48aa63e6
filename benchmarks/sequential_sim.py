"""The sequential test (``honed.stats.sequential``) under continuous peeking, by simulation.

    python benchmarks/sequential_sim.py [--quick] [--seed N] [--tau T] [--out PATH]

Each simulated experiment sends requests one at a time to a fixed 50/50 split, alternating
control, treatment, control, ... (``--assignment random`` flips a fair coin per request
instead), up to 2,000 requests per arm. The mSPRT is checked after EVERY request, with the
library's defaults, and the experiment stops at its first rejection. It reports, with Wilson 95%
intervals:

- A/A (p = 0.70 in both arms): the false-positive rate of the mSPRT, and of a naive Welch t-test
  checked every 100 requests (and once, at the end, where it is valid);
- A/B (0.70 -> 0.75): the power within 2,000 requests per arm, the requests to a decision, and
  how often the confidence sequence covered the true difference all the way;
- the same A/A check with random assignment and with a bounded, non-binary metric (Beta(7, 3)
  scores, mean 0.70).

The test is the library's own vectorised form (``stream_log_lr``, ``halfwidth``), the one
``msprt`` runs. ``--quick`` is a small smoke run (a few seconds) that writes only with ``--out``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import t as student_t
from sim_common import machine, rate, write_report

from honed.stats.sequential import (
    DEFAULT_TAU,
    halfwidth,
    log_mixture_lr,
    moments,
)

RESULTS = Path(__file__).resolve().parent / "results" / "sequential-sim.json"
ALPHA, MIN_N = 0.05, 20
FULL = {"aa_sims": 2000, "ab_sims": 2000, "extra_sims": 1000, "n_per_arm": 2000}
QUICK = {"aa_sims": 200, "ab_sims": 100, "extra_sims": 100, "n_per_arm": 400}
NAIVE_EVERY = 100  # requests between looks of the naive t-test
CHUNK = 250  # experiments simulated at once


def welch_p(values: np.ndarray, is_t: np.ndarray, looks: np.ndarray) -> np.ndarray:
    """Welch's t-test p-value (as ``scipy.stats.ttest_ind(equal_var=False)``) after each
    request in ``looks`` (0-based indices), for every stream; 1.0 where it is undefined."""
    t = np.broadcast_to(is_t, values.shape)
    parts = []
    for mask in (~t, t):
        x = np.where(mask, values, 0.0)
        n = np.cumsum(mask, axis=-1, dtype=float)[:, looks]
        s, ss = np.cumsum(x, axis=-1)[:, looks], np.cumsum(x * x, axis=-1)[:, looks]
        with np.errstate(divide="ignore", invalid="ignore"):
            var = np.maximum(ss - s * s / n, 0.0) / (n - 1)
        parts.append((n, s / n, var / n))
    (n_c, m_c, q_c), (n_t, m_t, q_t) = parts
    with np.errstate(divide="ignore", invalid="ignore"):
        se2 = q_c + q_t
        df = se2 ** 2 / (q_c ** 2 / (n_c - 1) + q_t ** 2 / (n_t - 1))
        p = 2.0 * student_t.sf(np.abs(m_t - m_c) / np.sqrt(se2), df)
    return np.where(np.isfinite(p) & (n_c >= 2) & (n_t >= 2), p, 1.0)


def draw(rng: np.random.Generator, means: tuple[float, float], shape: tuple[int, int],
         is_t: np.ndarray, metric: str) -> np.ndarray:
    """Scores for ``shape`` (experiments x requests): Bernoulli, or Beta with mean ``p`` and
    concentration 10 (``metric="beta"``)."""
    p = np.where(is_t, means[1], means[0])
    p = np.broadcast_to(p, shape)
    if metric == "beta":
        return rng.beta(10 * p, 10 * (1 - p))
    return (rng.random(shape) < p).astype(float)


def run_chunk(rng: np.random.Generator, m: int, means: tuple[float, float], n_per_arm: int,
              assignment: str, metric: str, tau: float) -> dict[str, np.ndarray]:
    steps = 2 * n_per_arm
    if assignment == "random":
        is_t = rng.random((m, steps)) < 0.5
    else:
        is_t = np.broadcast_to(np.arange(steps) % 2 == 1, (m, steps))
    values = draw(rng, means, (m, steps), is_t, metric)
    n_c, m_c, v_c, n_t, m_t, v_t = moments(values, is_t)
    ready = (n_c >= MIN_N) & (n_t >= MIN_N)
    var = v_c / np.maximum(n_c, 1.0) + v_t / np.maximum(n_t, 1.0)
    diff = m_t - m_c
    log_lr = np.where(ready, log_mixture_lr(diff, var, tau), -np.inf)
    hit = log_lr >= math.log(1 / ALPHA)
    rejected = hit.any(axis=1)
    stop = np.where(rejected, np.argmax(hit, axis=1), steps - 1)  # index of the last request
    h = halfwidth(var, tau, ALPHA)
    truth = means[1] - means[0]
    missed = ready & (np.abs(diff - truth) > h)  # an interval that excludes the truth
    upto = np.arange(steps) <= stop[:, None]
    looks = np.arange(NAIVE_EVERY - 1, steps, NAIVE_EVERY)
    naive = welch_p(values, is_t, looks)
    return {"rejected": rejected, "stop": stop + 1, "up": diff[np.arange(m), stop] > 0,
            "covered": ~(missed & upto).any(axis=1), "naive_any": (naive < ALPHA).any(axis=1),
            "naive_end": naive[:, -1] < ALPHA}


def simulate(rng: np.random.Generator, sims: int, means: tuple[float, float], n_per_arm: int,
             *, assignment: str = "alternate", metric: str = "binary",
             tau: float = DEFAULT_TAU) -> dict[str, np.ndarray]:
    chunks = [run_chunk(rng, min(CHUNK, sims - i), means, n_per_arm, assignment, metric, tau)
              for i in range(0, sims, CHUNK)]
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def median_requests(stop: np.ndarray, rejected: np.ndarray) -> dict[str, Any]:
    decided = stop[rejected]
    censored = np.where(rejected, stop, np.inf)
    overall = float(np.median(censored))
    return {"median_requests_decided": float(np.median(decided)) if decided.size else None,
            "median_requests_per_arm_decided": float(np.median(decided)) / 2
            if decided.size else None,
            "p90_requests_decided": float(np.percentile(decided, 90)) if decided.size else None,
            "median_requests_all": overall if math.isfinite(overall) else None}


def aa_report(out: dict[str, np.ndarray], n_per_arm: int) -> dict[str, Any]:
    n = out["rejected"].size
    return {"msprt_every_request": rate(int(out["rejected"].sum()), n),
            "ci_covered_zero_throughout": rate(int(out["covered"].sum()), n),
            "naive_ttest_every_100": rate(int(out["naive_any"].sum()), n),
            "naive_ttest_once_at_end": rate(int(out["naive_end"].sum()), n),
            "n_per_arm": n_per_arm}


def ab_report(out: dict[str, np.ndarray], n_per_arm: int) -> dict[str, Any]:
    n = out["rejected"].size
    wrong = int((out["rejected"] & ~out["up"]).sum())
    return {"power": rate(int(out["rejected"].sum()), n), "wrong_direction": wrong,
            "ci_covered_truth_throughout": rate(int(out["covered"].sum()), n),
            **median_requests(out["stop"], out["rejected"]), "n_per_arm": n_per_arm}


def run(size: dict[str, int], seed: int, tau: float = DEFAULT_TAU) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n = size["n_per_arm"]
    aa = simulate(rng, size["aa_sims"], (0.70, 0.70), n, tau=tau)
    ab = simulate(rng, size["ab_sims"], (0.70, 0.75), n, tau=tau)
    aa_random = simulate(rng, size["extra_sims"], (0.70, 0.70), n, assignment="random", tau=tau)
    ab_random = simulate(rng, size["extra_sims"], (0.70, 0.75), n, assignment="random", tau=tau)
    aa_beta = simulate(rng, size["extra_sims"], (0.70, 0.70), n, metric="beta", tau=tau)
    return {"aa": aa_report(aa, n), "ab": ab_report(ab, n),
            "aa_random_assignment": aa_report(aa_random, n),
            "ab_random_assignment": ab_report(ab_random, n),
            "aa_beta_scores": aa_report(aa_beta, n)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tau", type=float, default=DEFAULT_TAU,
                        help=f"mixture scale to try (default: the library's, {DEFAULT_TAU})")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where to write the JSON (default: {RESULTS}; --quick: nowhere)")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    started, cpu_started = time.perf_counter(), time.process_time()
    results = run(size, args.seed, args.tau)
    fpr, power = results["aa"]["msprt_every_request"], results["ab"]["power"]
    report = {
        "command": "python benchmarks/sequential_sim.py" + (" --quick" if args.quick else "")
                   + (f" --seed {args.seed}" if args.seed else "")
                   + (f" --tau {args.tau:g}" if args.tau != DEFAULT_TAU else ""),
        "settings": {"alpha": ALPHA, "tau": args.tau, "min_n": MIN_N, "seed": args.seed,
                     "assignment": "alternating 50/50 (random 50/50 where named)",
                     "checked": "after every request", "naive_checked_every": NAIVE_EVERY,
                     "means_aa": [0.70, 0.70], "means_ab": [0.70, 0.75], **size},
        "targets": {"false_positive_rate_max": 0.05, "power_min": 0.7,
                    "false_positive_rate_met": fpr["rate"] <= 0.05,
                    "power_met": power["rate"] >= 0.7},
        "results": results, "runtime_s": round(time.perf_counter() - started, 2),
        "cpu_s": round(time.process_time() - cpu_started, 2),
        "machine": machine()}
    out = write_report(report, args.out, args.quick, RESULTS)
    naive = results["aa"]["naive_ttest_every_100"]
    sys.stdout.write(f"A/A false positives: mSPRT {fpr['rate']:.3%} {fpr['ci95']}, naive t-test "
                     f"every {NAIVE_EVERY} {naive['rate']:.3%} {naive['ci95']}\n"
                     f"power 0.70->0.75: {power['rate']:.3%} {power['ci95']}, median requests "
                     f"to a decision {results['ab']['median_requests_decided']}\n"
                     f"{report['runtime_s']} s" + (f", wrote {out}" if out else "") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
