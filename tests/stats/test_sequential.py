"""The mSPRT: valid under continuous peeking (by simulation), the batch and incremental forms
agree, the state round-trips through JSON, and bad or degenerate data give sane answers."""

from __future__ import annotations

import importlib
import itertools
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy import stats

from honed.stats.sequential import (
    DEFAULT_TAU,
    SequentialMonitor,
    SequentialResult,
    msprt,
    naive_ttest_p,
    stream_log_lr,
)

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _bench(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)


def _bernoulli(rng: np.random.Generator, p: float, n: int) -> list[float]:
    return (rng.random(n) < p).astype(float).tolist()


def _merged(control: list[float], treatment: list[float]) -> list[tuple[str, float]]:
    """Each arm spread evenly over one stream, control first on ties (what msprt replays)."""
    nc, nt = len(control), len(treatment)
    keyed = [((i + 1) * nt, 0, "control", x) for i, x in enumerate(control)]
    keyed += [((j + 1) * nc, 1, "treatment", x) for j, x in enumerate(treatment)]
    return [(arm, x) for _, _, arm, x in sorted(keyed)]


def _fed(pairs: list[tuple[str, float]], **settings: float) -> SequentialMonitor:
    monitor = SequentialMonitor(**settings)  # type: ignore[arg-type]
    for arm, x in pairs:
        monitor.add(arm, x)
    return monitor


# valid under continuous peeking -------------------------------------------------------------
def test_aa_false_positive_rate_holds_when_checked_after_every_request() -> None:
    rng = np.random.default_rng(7)
    streams, steps = 400, 1200
    values = (rng.random((streams, steps)) < 0.6).astype(float)
    is_t = np.arange(steps) % 2 == 1
    rejected = (stream_log_lr(values, is_t) >= math.log(20)).any(axis=1)
    assert rejected.mean() <= 0.05
    # the naive t-test, looked at every 50 requests on the same streams, does not hold 5%
    looks = np.arange(49, steps, 50)
    naive = _bench("sequential_sim").welch_p(values, is_t, looks)
    assert (naive < 0.05).any(axis=1).mean() > 0.10


def test_power_and_coverage_of_the_confidence_sequence() -> None:
    rng = np.random.default_rng(3)
    truth, found, covered = 0.15, 0, 0
    for _ in range(150):
        res = msprt(_bernoulli(rng, 0.5, 400), _bernoulli(rng, 0.65, 400))
        covered += res.ci[0] <= truth <= res.ci[1]
        found += res.decision == "treatment_better"
    assert covered >= 0.95 * 150
    assert found >= 0.8 * 150


def test_the_vectorised_form_matches_the_monitor() -> None:
    rng = np.random.default_rng(11)
    values = rng.random(300)
    is_t = rng.random(300) < 0.5
    path = stream_log_lr(values, is_t)
    monitor, best = SequentialMonitor(), -math.inf
    for x, t, expected in zip(values, is_t, path, strict=True):
        monitor.add("treatment" if t else "control", float(x))
        best = max(best, float(expected))
    assert monitor.result().p_value == pytest.approx(min(1.0, math.exp(-best)), rel=1e-12)


# batch and incremental forms ------------------------------------------------------------------
@pytest.mark.parametrize(("nc", "nt", "pt"), [(200, 200, 0.8), (150, 260, 0.75), (90, 40, 0.5)])
def test_batch_equals_monitor_fed_in_merged_order(nc: int, nt: int, pt: float) -> None:
    rng = np.random.default_rng(nc + nt)
    control, treatment = _bernoulli(rng, 0.6, nc), rng.uniform(0, 1, nt).round(3).tolist()
    treatment = [min(1.0, x + pt - 0.5) for x in treatment]
    batch = msprt(control, treatment, min_n=25)
    incremental = _fed(_merged(control, treatment), min_n=25).result()
    assert incremental.n_control == batch.n_control == nc
    assert incremental.n_treatment == batch.n_treatment == nt
    assert incremental.diff == pytest.approx(batch.diff, abs=1e-12)
    assert incremental.p_value == pytest.approx(batch.p_value, rel=1e-9)
    assert incremental.ci == pytest.approx(batch.ci, abs=1e-12)
    assert incremental.decision == batch.decision


def test_batch_in_arrival_order_equals_the_monitor_fed_as_they_arrived() -> None:
    """A bursty arrival (the treatment's values in runs) replayed as it came, not evenly."""
    rng = np.random.default_rng(7)
    flags = rng.random(700) < np.where(np.arange(700) < 350, 0.2, 0.8)  # treatment late
    values = np.where(flags, _bernoulli(rng, 0.7, 700), _bernoulli(rng, 0.6, 700))
    stream = [("treatment" if t else "control", float(x))
              for t, x in zip(flags, values, strict=True)]
    control = [x for arm, x in stream if arm == "control"]
    treatment = [x for arm, x in stream if arm == "treatment"]
    batch = msprt(control, treatment, order=flags.tolist())
    incremental = _fed(stream).result()
    assert incremental.p_value == pytest.approx(batch.p_value, rel=1e-9)
    assert incremental.ci == pytest.approx(batch.ci, abs=1e-12)
    assert msprt(control, treatment).ci != pytest.approx(batch.ci, abs=1e-6)  # the path matters
    with pytest.raises(ValueError, match="order must flag 700 observations"):
        msprt(control, treatment, order=flags.tolist()[:-1])
    with pytest.raises(ValueError, match="of them the treatment's"):
        msprt(control, treatment, order=(~flags).tolist())


def test_running_min_p_is_monotone_and_intervals_are_nested() -> None:
    rng = np.random.default_rng(5)
    monitor = SequentialMonitor()
    ps, cis = [], []
    for c, t in zip(_bernoulli(rng, 0.7, 1500), _bernoulli(rng, 0.78, 1500), strict=True):
        monitor.add("control", c)
        monitor.add("treatment", t)
        res = monitor.result()
        ps.append(res.p_value)
        cis.append(res.ci)
    assert all(a >= b for a, b in itertools.pairwise(ps))
    assert all(a[0] <= b[0] and a[1] >= b[1] for a, b in itertools.pairwise(cis))
    assert ps[0] == 1.0 and ps[-1] < 0.05 and cis[-1][0] > 0
    assert monitor.result().decision == "treatment_better"


def test_state_round_trips_through_json_mid_stream() -> None:
    rng = np.random.default_rng(9)
    first = _merged(_bernoulli(rng, 0.7, 60), _bernoulli(rng, 0.6, 60))
    rest = _merged(_bernoulli(rng, 0.7, 80), _bernoulli(rng, 0.6, 80))
    whole = _fed(first + rest, tau=0.08, alpha=0.1, min_n=10)
    half = _fed(first, tau=0.08, alpha=0.1, min_n=10)
    restored = SequentialMonitor.from_state(json.loads(json.dumps(half.to_state())))
    assert restored.result() == half.result()
    for arm, x in rest:
        restored.add(arm, x)
    assert restored.result() == whole.result()
    assert (restored.tau, restored.alpha, restored.min_n) == (0.08, 0.1, 10)


def test_bad_state_is_refused_by_name() -> None:
    state = SequentialMonitor().to_state()
    del state["sum_treatment"]
    with pytest.raises(ValueError, match="sum_treatment"):
        SequentialMonitor.from_state(state)
    with pytest.raises(ValueError, match="n_control"):
        SequentialMonitor.from_state({**SequentialMonitor().to_state(), "n_control": 2.5})


# edge cases ------------------------------------------------------------------------------------
def test_empty_and_short_arms_continue() -> None:
    for control, treatment in (([], []), ([1.0], []), ([0.0], [1.0]), ([1.0] * 19, [0.0] * 40)):
        res = msprt(control, treatment)
        assert (res.p_value, res.ci, res.decision) == (1.0, (-1.0, 1.0), "continue")
    empty = msprt([], [])
    assert (empty.n_control, empty.mean_control, empty.diff) == (0, 0.0, 0.0)
    assert SequentialMonitor().result() == empty


def test_constant_and_extreme_data() -> None:
    same = msprt([0.5] * 100, [0.5] * 100)
    assert same.p_value == 1.0 and same.decision == "continue"
    assert same.ci[0] < 0 < same.ci[1]
    ones = msprt([1.0] * 300, [1.0] * 300)
    assert ones.p_value == 1.0 and math.isfinite(ones.ci[0])
    split = msprt([0.0] * 20, [1.0] * 20)
    assert split.decision == "treatment_better" and 0 < split.ci[0] <= split.ci[1] <= 1.0
    assert 0 < split.p_value < 1e-6
    worse = msprt([1.0] * 20, [0.0] * 20)
    assert worse.decision == "control_better" and worse.ci[1] < 0
    huge = msprt([0.0] * 200_000, [1.0] * 200_000)
    assert 0 < huge.p_value < 1e-300


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), float("inf")])
def test_values_outside_the_unit_interval_are_refused_by_name(bad: float) -> None:
    with pytest.raises(ValueError, match=r"treatment\[2\] = .* (outside|not a number)"):
        msprt([0.5] * 30, [0.5, 0.5, bad])
    with pytest.raises(ValueError, match="control value"):
        SequentialMonitor().add("control", bad)


def test_junk_is_refused() -> None:
    with pytest.raises(ValueError, match="'x'"):
        msprt(["x"], [0.5])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="None"):
        SequentialMonitor().add("treatment", None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'variant'"):
        SequentialMonitor().add("variant", 0.5)
    with pytest.raises(ValueError, match="shape"):
        msprt([[0.5]], [0.5])  # type: ignore[list-item]


@pytest.mark.parametrize(("kwargs", "culprit"), [({"alpha": 0.0}, "alpha"), ({"alpha": 1.2},
                         "alpha"), ({"tau": 0.0}, "tau"), ({"tau": float("nan")}, "tau"),
                         ({"min_n": 0}, "min_n"), ({"min_n": 2.5}, "min_n")])
def test_bad_settings_are_refused(kwargs: dict[str, float], culprit: str) -> None:
    with pytest.raises(ValueError, match=culprit):
        msprt([0.5], [0.5], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=culprit):
        SequentialMonitor(**kwargs)  # type: ignore[arg-type]


def test_result_serialises_with_its_decision() -> None:
    res = msprt([0.0] * 30, [1.0] * 30)
    data = json.loads(json.dumps(res.to_dict()))
    assert data["decision"] == "treatment_better" and data["tau"] == DEFAULT_TAU
    assert data["ci"] == list(res.ci) and data["n_treatment"] == 30
    held = SequentialResult(5, 5, 0.5, 0.5, 0.0, 0.01, (-0.1, 0.2), 0.05)  # zero in the interval
    assert held.decision == "control_better"


# the naive comparator -------------------------------------------------------------------------
def test_naive_ttest_is_welch_from_scipy() -> None:
    rng = np.random.default_rng(2)
    c, t = rng.random(40), rng.random(55) + 0.1
    expected = stats.ttest_ind(t, c, equal_var=False).pvalue
    assert naive_ttest_p(c.tolist(), t.tolist()) == pytest.approx(expected)
    assert naive_ttest_p([1.0], [0.0, 1.0]) == 1.0
    assert naive_ttest_p([1.0, 1.0], [1.0, 1.0]) == 1.0


def test_the_simulation_welch_matches_the_comparator() -> None:
    rng = np.random.default_rng(4)
    values = (rng.random((3, 400)) < 0.7).astype(float)
    is_t = np.arange(400) % 2 == 1
    looks = np.array([9, 99, 399])
    got = _bench("sequential_sim").welch_p(values, is_t, looks)
    for s in range(3):
        for j, look in enumerate(looks):
            upto = values[s, : look + 1]
            mask = is_t[: look + 1]
            assert got[s, j] == pytest.approx(naive_ttest_p(upto[~mask], upto[mask]), rel=1e-9)


def test_the_simulation_script_runs_quick(tmp_path: Path) -> None:
    out = tmp_path / "sequential-sim.json"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "sequential_sim.py"), "--quick",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    aa, ab = report["results"]["aa"], report["results"]["ab"]
    assert aa["msprt_every_request"]["n"] == report["settings"]["aa_sims"]
    low, high = aa["msprt_every_request"]["ci95"]
    assert 0 <= low <= aa["msprt_every_request"]["rate"] <= high <= 1
    assert aa["naive_ttest_every_100"]["rate"] > aa["msprt_every_request"]["rate"]
    assert ab["power"]["n"] == report["settings"]["ab_sims"] and ab["wrong_direction"] == 0
    assert report["settings"]["tau"] == DEFAULT_TAU and report["runtime_s"] > 0
    assert report["machine"]["cpus"] >= 1
