"""Drift: the detectors alarm on a drop and stay quiet on steady data (seeded), their state
round-trips through JSON, the simulation's vectorised form is theirs; PSI, OOV and features."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from honed.stats.drift import (
    CUSUM_THRESHOLD,
    PSI_MAJOR,
    PSI_MODERATE,
    Cusum,
    PageHinkley,
    input_features,
    oov_rate,
    psi,
    psi_categorical,
    psi_level,
    reference_mean,
)

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _bench() -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module("drift_sim")


def _scores(seed: int, segments: list[tuple[float, int]]) -> list[float]:
    rng = np.random.default_rng(seed)
    return np.concatenate([(rng.random(n) < p) for p, n in segments]).astype(float).tolist()


def _first_alarm(detector: Cusum | PageHinkley, scores: list[float]) -> int | None:
    for x in scores:
        if detector.update(x):
            return detector.alarm_at
    return None


# detectors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: Cusum(0.8), lambda: PageHinkley(0.8)])
def test_detectors_find_a_drop_and_stay_quiet_on_steady_data(make) -> None:  # type: ignore[no-untyped-def]
    quiet = sum(_first_alarm(make(), _scores(s, [(0.8, 3000)])) is not None for s in range(40))
    assert quiet <= 2
    delays = [_first_alarm(make(), _scores(100 + s, [(0.8, 500), (0.7, 1500)])) for s in range(40)]
    assert all(d is not None and d > 500 for d in delays)
    assert np.median([d - 500 for d in delays if d is not None]) < 400


def test_alarm_stays_until_reset() -> None:
    cusum = Cusum(0.9, shift=0.2, threshold=2.0)  # a failure adds log(0.3 / 0.1) = 1.1
    assert [cusum.update(x) for x in [0.0, 0.0, 0.0]] == [False, True, True]
    assert cusum.alarm_at == 2 and cusum.alarmed
    assert cusum.update(1.0) and cusum.alarm_at == 2  # a pass does not clear it
    cusum.reset()
    assert (cusum.statistic, cusum.alarmed, cusum.n, cusum.alarm_at) == (0.0, False, 0, None)
    assert not cusum.update(1.0)


def test_cusum_statistic_is_the_bernoulli_log_likelihood_ratio() -> None:
    cusum = Cusum(0.8, shift=0.1)
    cusum.update(0.0)
    assert cusum.statistic == pytest.approx(np.log(0.3 / 0.2))
    cusum.update(1.0)  # log(0.7 / 0.8) < 0, less than the failure added
    assert cusum.statistic == pytest.approx(np.log(0.3 / 0.2) + np.log(0.7 / 0.8))
    for _ in range(20):
        cusum.update(1.0)
    assert cusum.statistic == 0.0  # never below zero
    cusum.update(0.5)  # a fractional score: half a pass, half a failure
    assert cusum.statistic == pytest.approx(0.5 * np.log(0.7 / 0.8) + 0.5 * np.log(0.3 / 0.2))
    assert cusum.threshold == CUSUM_THRESHOLD


def test_evidence_says_what_a_user_needs() -> None:
    cusum = Cusum(0.8)
    _first_alarm(cusum, _scores(1, [(0.8, 300), (0.55, 400)]))
    ev = cusum.evidence()
    assert ev["detector"] == "cusum" and ev["alarmed"] and ev["reference"] == 0.8
    assert ev["statistic"] >= ev["threshold"] == CUSUM_THRESHOLD
    assert ev["recent_n"] > 0 and ev["recent_mean"] < 0.7 < ev["mean"] <= 0.8
    assert ev["n"] == ev["alarm_at"] and ev["shift"] == 0.1
    json.dumps(ev)
    fresh = PageHinkley().evidence()
    assert fresh["recent_mean"] is None and fresh["mean"] is None and fresh["n"] == 0


@pytest.mark.parametrize("make", [lambda: Cusum(0.7, shift=0.05, threshold=5.0),
                                  lambda: PageHinkley(delta=0.02, threshold=8.0),
                                  lambda: PageHinkley(0.3, direction="up")])
def test_state_round_trips_through_json_mid_stream(make) -> None:  # type: ignore[no-untyped-def]
    scores = _scores(5, [(0.7, 400), (0.5, 300)])
    whole, half = make(), make()
    for x in scores:
        whole.update(x)
    for x in scores[:350]:
        half.update(x)
    restored = type(half).from_state(json.loads(json.dumps(half.to_state())))
    assert restored.to_state() == half.to_state()
    for x in scores[350:]:
        restored.update(x)
    assert restored.to_state() == whole.to_state()
    assert restored.evidence() == whole.evidence()


def test_bad_state_is_refused() -> None:
    with pytest.raises(ValueError, match="not a cusum state"):
        Cusum.from_state(PageHinkley().to_state())
    state = Cusum(0.8).to_state()
    del state["low"]
    with pytest.raises(ValueError, match="low"):
        Cusum.from_state(state)


def test_page_hinkley_directions_and_running_mean() -> None:
    up = PageHinkley(0.3, direction="up", delta=0.05, threshold=10.0)
    assert _first_alarm(up, _scores(2, [(0.3, 300), (0.6, 300)])) is not None
    assert _first_alarm(PageHinkley(0.3, direction="up"), _scores(2, [(0.3, 2000)])) is None
    running = PageHinkley(threshold=20.0)  # no reference: the running mean
    found = _first_alarm(running, _scores(3, [(0.9, 1000), (0.5, 1000)]))
    assert found is not None and found > 1000
    assert PageHinkley(delta=0.0, threshold=5.0).update(1e6) is False  # any finite number


@pytest.mark.parametrize("bad", [1.2, -0.01, float("nan"), float("inf"), "x", None])
def test_cusum_refuses_scores_outside_the_unit_interval(bad: object) -> None:
    with pytest.raises(ValueError, match="score"):
        Cusum(0.8).update(bad)  # type: ignore[arg-type]
    if bad not in (1.2, -0.01):
        with pytest.raises(ValueError, match="score"):
            PageHinkley().update(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "culprit"), [
    ({"reference": 0.05}, "reference"), ({"reference": 0.8, "shift": 0.0}, "shift"),
    ({"reference": 1.5}, "reference"), ({"reference": 0.8, "threshold": -1}, "threshold")])
def test_cusum_refuses_bad_settings(kwargs: dict, culprit: str) -> None:
    with pytest.raises(ValueError, match=culprit):
        Cusum(**kwargs)


def test_page_hinkley_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="direction"):
        PageHinkley(direction="sideways")
    with pytest.raises(ValueError, match="delta"):
        PageHinkley(delta=-0.1)


def test_a_reference_of_all_passes_stays_usable() -> None:
    ref = reference_mean([1.0] * 998)
    assert ref == pytest.approx(999 / 1000)
    cusum = Cusum(ref)
    assert not cusum.update(0.0)  # one failure is not yet an alarm
    assert Cusum(1.0).update(1.0) is False
    assert reference_mean([0.0, 1.0] * 500, lower_by_se=1.0) == pytest.approx(
        0.5 - np.sqrt(0.25 / 1000))
    with pytest.raises(ValueError, match=r"scores\[1\]"):
        reference_mean([1.0, 2.0])
    with pytest.raises(ValueError, match="scores"):
        reference_mean([])


def test_vectorised_simulation_matches_update() -> None:
    bench = _bench()
    scores = np.array([_scores(s, [(0.8, 300), (0.6, 300)]) for s in range(6)])
    for make in (lambda: Cusum(0.8), lambda: PageHinkley(0.8)):
        det = make()
        vectorised = bench.first_alarm(det.increment(scores), det.threshold)
        for row, expected in zip(scores, vectorised, strict=True):
            got = _first_alarm(make(), row.tolist())
            assert (np.inf if got is None else got) == expected


def test_the_simulation_script_runs_quick(tmp_path: Path) -> None:
    out = tmp_path / "drift-sim.json"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "drift_sim.py"), "--quick", "--out",
                           str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    for name in ("cusum", "page_hinkley"):
        steady = report["results"][name]["false_alarms_steady"]
        assert steady["n"] == report["settings"]["streams"]["steady"]
        assert steady["ci95"][0] <= steady["rate"] <= steady["ci95"][1]
        drop = report["results"][name]["drop_from_start"]
        assert drop["p95"]["value"] is not None and drop["median"] <= drop["p95"]["value"]
    assert len(report["results"]["other_references"]) == 12
    assert report["settings"]["cusum"]["threshold"] == CUSUM_THRESHOLD


# input shift -----------------------------------------------------------------------------------
def test_psi_is_zero_on_identical_samples_and_large_on_shifted_ones() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=5000).tolist()
    assert psi(ref, ref) == 0.0
    assert psi(ref, rng.normal(size=5000).tolist()) < PSI_MODERATE
    assert psi(ref, rng.normal(0.4, 1, size=5000).tolist()) > PSI_MODERATE  # about 0.4 ** 2
    assert psi(ref, rng.normal(1.0, 1, size=5000).tolist()) > PSI_MAJOR
    assert psi(ref, [100.0] * 50) > PSI_MAJOR  # all beyond the reference's range


def test_psi_with_ties_and_few_distinct_values() -> None:
    ref = [3.0] * 500 + [4.0] * 500
    assert psi(ref, ref) == 0.0
    assert psi(ref, [3.0] * 900 + [4.0] * 100) > PSI_MAJOR
    assert psi([5.0] * 100, [5.0] * 10) == 0.0


def test_psi_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="current"):
        psi([1.0, 2.0], [])
    with pytest.raises(ValueError, match=r"reference\[1\]"):
        psi([1.0, float("nan")], [1.0])
    with pytest.raises(ValueError, match="bins"):
        psi([1.0], [1.0], bins=1)
    with pytest.raises(ValueError, match="numbers"):
        psi(["a"], [1.0])  # type: ignore[list-item]


def test_psi_categorical() -> None:
    labels = ["pos"] * 60 + ["neg"] * 40
    assert psi_categorical(labels, labels) == 0.0
    assert psi_categorical(labels, ["pos"] * 58 + ["neg"] * 42) < PSI_MODERATE
    assert psi_categorical(labels, ["pos"] * 20 + ["neg"] * 80) > PSI_MAJOR
    assert psi_categorical(labels, labels[:50] + ["other"] * 50) > PSI_MAJOR  # a new label
    with pytest.raises(ValueError, match="non-empty"):
        psi_categorical([], labels)


def test_psi_levels() -> None:
    assert [psi_level(v) for v in (0.0, 0.099, 0.1, 0.2, 0.25, 3.0)] == [
        "stable", "stable", "moderate", "moderate", "major", "major"]


def test_input_features() -> None:
    feats = input_features("Order 42 arrived\nmerci, très bien")
    assert feats["chars"] == 33.0 and feats["words"] == 6.0 and feats["lines"] == 2.0
    assert feats["digit_share"] == pytest.approx(2 / 33)
    assert feats["non_ascii_share"] == pytest.approx(1 / 33)
    assert input_features("") == {"chars": 0.0, "words": 0.0, "lines": 0.0,
                                  "digit_share": 0.0, "non_ascii_share": 0.0}


def test_oov_rate() -> None:
    reference = ["Where is my order?", "cancel my order please"]
    assert oov_rate(reference, ["where is my ORDER"]) == 0.0
    assert oov_rate(reference, ["where is my parcel", "refund now"]) == pytest.approx(3 / 6)
    assert oov_rate(reference, ["", "!!"]) == 0.0
    assert oov_rate([], ["anything at all"]) == 1.0
