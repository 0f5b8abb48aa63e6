"""decide() and analyze(): every outcome, in order, from simulated data."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from honed.experiments import (
    BREACHED,
    CONTINUE,
    EXPIRED,
    LOST,
    WON,
    analyze,
    decide,
    parse_guardrail,
)
from honed.experiments.guardrails import check_guardrail

from .conftest import experiment, rows

NOW = 5_000.0


def _seq(decision: str) -> SimpleNamespace:
    return SimpleNamespace(decision=decision)


def _srm(alarm: bool = False) -> SimpleNamespace:
    return SimpleNamespace(alarm=alarm)


def test_a_clearly_better_treatment_wins() -> None:
    data = rows("control", 300, p_good=0.3, seed=1) + rows("treatment", 300, p_good=0.8, seed=2)
    analysis = analyze(experiment(), data, now=NOW)
    assert analysis.verdict.outcome == WON and analysis.verdict.final
    assert analysis.sequential.decision == "treatment_better"
    evidence = analysis.evidence()
    assert evidence["n_control"] == evidence["n_treatment"] == 300
    assert evidence["diff"] > 0.3 and evidence["ci"][0] > 0 and evidence["p_value"] < 0.05
    assert evidence["srm_alarm"] is False
    assert analysis.to_dict()["arms"]["treatment"]["requests"] == 300


def test_a_clearly_worse_treatment_loses() -> None:
    data = rows("control", 300, p_good=0.8, seed=3) + rows("treatment", 300, p_good=0.3, seed=4)
    assert analyze(experiment(), data, now=NOW).verdict.outcome == LOST


def test_equal_arms_continue_until_a_limit_expires_them() -> None:
    data = rows("control", 100, p_good=0.5, seed=5) + rows("treatment", 100, p_good=0.5, seed=6)
    assert analyze(experiment(), data, now=NOW).verdict.outcome == CONTINUE
    by_requests = analyze(experiment(max_requests=200), data, now=NOW).verdict
    assert by_requests.outcome == EXPIRED and "--max-requests 200" in by_requests.reason
    by_days = analyze(experiment(max_days=1.0), data, now=1_000.0 + 86_400).verdict
    assert by_days.outcome == EXPIRED and "--max-days 1" in by_days.reason
    assert analyze(experiment(max_days=1.0), data, now=1_000.0 + 86_399).verdict.outcome \
        == CONTINUE


def test_a_guardrail_breach_wins_over_everything_once_there_is_enough_data() -> None:
    rail = parse_guardrail("error_rate<0.05")
    control = rows("control", 300, p_good=0.3, seed=7)
    treatment = rows("treatment", 300, p_good=0.9, seed=8, error_rate=0.2)
    analysis = analyze(experiment(guardrails=(rail,)), control + treatment, now=NOW)
    assert analysis.verdict.outcome == BREACHED
    assert "error_rate<0.05" in analysis.verdict.reason
    assert analysis.evidence()["breached"][0]["metric"] == "error_rate"
    few = rows("treatment", 40, p_good=0.9, seed=8, error_rate=0.5)  # under 50: pending
    checks = analyze(experiment(guardrails=(rail,)), control + few, now=NOW).guardrails
    assert [c.state for c in checks] == ["pending"]


def test_latency_and_cost_guardrails() -> None:
    rails = (parse_guardrail("latency_p95<500ms"), parse_guardrail("cost_per_request<0.002"))
    control = rows("control", 60, p_good=0.5, seed=9)
    slow = rows("treatment", 60, p_good=0.5, seed=10, latency_s=0.9)
    pricey = rows("treatment", 60, p_good=0.5, seed=10, cost=0.01)
    assert [c.state for c in analyze(experiment(guardrails=rails), control + slow,
                                     now=NOW).guardrails] == ["breached", "ok"]
    assert [c.state for c in analyze(experiment(guardrails=rails), control + pricey,
                                     now=NOW).guardrails] == ["ok", "breached"]


def test_order_breach_then_loss_then_win_then_expiry() -> None:
    exp = experiment(max_requests=10)
    rail = parse_guardrail("error_rate<0.01")
    breach = [check_guardrail(rail, 0.5, 100)]
    assert decide(exp, sequential=_seq("treatment_better"), srm=_srm(), guardrails=breach,
                  requests=100, now=NOW).outcome == BREACHED
    assert decide(exp, sequential=_seq("control_better"), srm=_srm(), guardrails=[],
                  requests=100, now=NOW).outcome == LOST
    assert decide(exp, sequential=_seq("treatment_better"), srm=_srm(), guardrails=[],
                  requests=100, now=NOW).outcome == WON
    assert decide(exp, sequential=_seq("continue"), srm=_srm(), guardrails=[],
                  requests=100, now=NOW).outcome == EXPIRED
    assert decide(replace(exp, max_requests=None), sequential=_seq("continue"), srm=_srm(),
                  guardrails=[], requests=100, now=NOW).outcome == CONTINUE


def test_an_srm_alarm_holds_a_win_but_not_a_loss() -> None:
    exp = experiment()
    held = decide(exp, sequential=_seq("treatment_better"), srm=_srm(alarm=True),
                  guardrails=[], requests=100, now=NOW)
    assert held.outcome == CONTINUE and "SRM" in held.reason
    assert decide(exp, sequential=_seq("control_better"), srm=_srm(alarm=True),
                  guardrails=[], requests=100, now=NOW).outcome == LOST


def test_srm_is_measured_on_units_against_the_configured_split() -> None:
    # 10% split, but half the users landed in the treatment: the ratio is off
    data = rows("control", 200, p_good=0.3, seed=11) + rows("treatment", 200, p_good=0.9,
                                                            seed=12)
    analysis = analyze(experiment(split=0.1), data, now=NOW)
    assert analysis.srm.alarm and analysis.srm.observed == (200, 200)
    assert analysis.verdict.outcome == CONTINUE and "SRM" in analysis.verdict.reason


def test_no_data_at_all_continues() -> None:
    analysis = analyze(experiment(), [], now=NOW)
    assert analysis.verdict.outcome == CONTINUE and analysis.requests == 0
    assert analysis.to_dict()["sequential"]["n_control"] == 0


def _heavy_users(arm: str, users: int, per_user: int, seed: int) -> list[dict]:
    """An A/A arm where users differ (each user's quality is drawn once) and each makes
    ``per_user`` requests: requests are correlated within a user."""
    import random

    rng, out = random.Random(seed), []
    for u in range(users):
        p_user = rng.choice([0.1, 0.9])
        for k, row in enumerate(rows(arm, per_user, p_good=p_user, seed=seed * 1000 + u,
                                     prefix=f"u{u}-")):
            out.append({**row, "user_id": f"{arm}-{u}", "created": 1_000.0 + u * 100 + k})
    return out


def test_per_user_analysis_does_not_mistake_a_few_users_for_evidence() -> None:
    """Six users per arm, 60 requests each, the same quality on both arms: per request the
    test sees 360 'independent' observations a side and declares a difference that is only
    which users fell in which arm; per user it sees six a side and keeps waiting."""
    found = []
    for seed in range(20):
        data = _heavy_users("control", 6, 60, seed) + _heavy_users("treatment", 6, 60,
                                                                   seed + 100)
        per_request = analyze(experiment(unit="request"), data, now=NOW)
        per_user = analyze(experiment(unit="user"), data, now=NOW)
        assert per_user.evidence()["n_control"] == per_user.evidence()["n_treatment"] == 6
        assert per_user.verdict.outcome == CONTINUE and per_user.unit == "user"
        found.append(per_request.verdict.outcome in (WON, LOST))
    assert sum(found) >= 15  # per request, most of these A/A tests "decide" (all 20 here)


def test_the_unit_simulation_runs_quick(tmp_path) -> None:
    """``benchmarks/unit_sim.py --quick``: both analyses of the same logged traffic."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "unit_sim.py"
    out = tmp_path / "unit-sim.json"
    done = subprocess.run([sys.executable, str(script), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    aa, ab = report["results"]["aa_false_positives"], report["results"]["ab_power"]
    assert aa["user"]["n"] == aa["request"]["n"] == report["settings"]["sims"] == 20
    assert ab["request"]["rate"] >= ab["user"]["rate"]  # per request claims more, valid or not
    assert "per request" in done.stdout and report["machine"]["cpus"] >= 1
