"""The experiments, drift and loop pages over a real SQLite production log filled through the
store APIs: what each shows (read from the stored results, never measured again), their order,
the escaping of every text a user or a model controls, and clearing alarms behind an admin
confirmation."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from honed.experiments import Experiment, analyze
from honed.store import LogStore, open_store
from honed.store.experiments import ExperimentStore
from honed.store.monitor import MonitorStore
from honed.web.app import create_app
from honed.web.sample import HOSTILE, HOSTILE_IMG
from honed.web.sample_runtime import fill_alarms, fill_experiments, fill_loop, synthetic_traffic

NOW = time.time()
EVIL = f"{HOSTILE}{HOSTILE_IMG}"


def experiment_row(name: str, prompt: str = "sentiment", **extra: Any) -> dict[str, Any]:
    return {"name": name, "prompt": prompt, "control_ref": f"{prompt}@production",
            "control_version": 1, "treatment_ref": f"{prompt}@candidate",
            "treatment_version": 2, "split": 0.5, "metric": "feedback",
            "guardrails": [{"metric": "error_rate", "op": "<", "limit": 0.05}],
            "max_requests": None, "max_days": None, "task": None, "salt": f"s-{name}",
            "status": "running", "created": NOW - 7200, **extra}


def log_traffic(store: LogStore, rows: list[dict[str, Any]]) -> None:
    store.log_requests([{k: v for k, v in r.items() if k != "feedback"} for r in rows])
    for r in rows:
        for item in r["feedback"]:
            store.add_feedback(r["id"], score=item["score"])


@dataclass
class Log:
    home: Path
    store: LogStore
    admin: str
    serve: str
    results: dict[str, dict[str, Any]]


def build(home: Path) -> Log:
    """Three experiments (an old won one with a promotion that was rolled back, a newer
    running one with its traffic in the log, a running one with an SRM alarm on a prompt whose
    name is a script tag), two open alarms and a cleared one, two cycles of a loop."""
    store = open_store(home=home)
    es, rng = ExperimentStore.of(store), random.Random(7)
    results = {}
    for name, prompt, created, served, lift in (("won-one", "sentiment", NOW - 9000, None, 0.3),
                                                ("live-one", "sentiment", NOW - 3600, None, 0.0),
                                                ("skewed", EVIL, NOW - 1800, 0.9, 0.0)):
        row = experiment_row(name, prompt, created=created, split=0.5)
        traffic = synthetic_traffic(name, prompt, 300, now=created + 1700, days=0.02,
                                    rng=rng, split=0.5, served_split=served, lift=lift)
        if name == "live-one":
            log_traffic(store, traffic)
        es.create(row)
        results[name] = analyze(Experiment.from_row(row), traffic, now=created + 1750).to_dict()
        es.save_result(name, results[name])
    decision = es.conclude("won-one", "won", results["won-one"], {
        "prompt": "sentiment", "kind": "promote", "alias": "production", "from_version": 1,
        "to_version": 2, "evidence": {"diff": 0.25, "ci": [0.1, 0.4], "p_value": 0.001,
                                      "reason": f"the treatment is better {EVIL}"}},
        now=NOW - 7000)
    assert decision is not None
    es.undo(decision["id"], {"prompt": "sentiment", "kind": "rollback", "alias": "production",
                             "from_version": 2, "to_version": 1, "experiment": "won-one",
                             "evidence": {"undoes": decision["id"]}}, now=NOW - 6000)
    monitor = MonitorStore.of(store)
    monitor.raise_alarm({"prompt": "sentiment", "version": 1, "kind": "quality",
                         "detector": "cusum", "request_id": "r-9", "at": NOW - 100,
                         "evidence": {"detector": "cusum", "reference": 0.82,
                                      "recent_mean": 0.61, "recent_n": 120, "mean": 0.8,
                                      "n": 5200, "statistic": 8.4, "threshold": 7.75,
                                      "note": EVIL}})
    monitor.raise_alarm({"prompt": EVIL, "version": 2, "kind": "inputs",
                         "detector": f"psi:input_length_psi {EVIL}", "at": NOW - 50,
                         "evidence": {"n": 2000, "worst": "input_length_psi",
                                      "measures": {"input_length_psi": 0.31,
                                                   "new_vocabulary": 0.125,
                                                   "output_psi": 0.02}}})
    old = monitor.raise_alarm({"prompt": "sentiment", "version": 1, "kind": "inputs",
                               "detector": "psi:output_psi", "at": NOW - 5000,
                               "evidence": {"n": 2000, "worst": "output_psi",
                                            "measures": {"output_psi": 0.4}}})
    assert old is not None
    monitor.clear_alarms("sentiment", by="loop sentiment cycle 1", ids=[old["id"]])
    for cycle, steps in enumerate(LOOP_CYCLES, start=1):
        for k, (step, status, detail, calls) in enumerate(steps):
            monitor.add_event({"loop": "sentiment", "step": step, "status": status,
                               "cycle": cycle, "calls": calls, "cost_usd": calls * 0.001,
                               "detail": detail, "created": NOW - 3000 * (3 - cycle) + k})
    admin, serve = (store.create_key(scope, scope)[1] for scope in ("admin", "serve"))
    return Log(home, store, admin, serve, results)


LOOP_CYCLES = [
    [("trigger", "ok", {"reason": "alarm", "alarms": [1]}, 0),
     ("harvest", "ok", {"rows": 180, "train": 90, "val": 36, "test": 54}, 0),
     ("optimize", "ok", {"run_id": "run-1", "best_val": 0.82, "seed_val": 0.64}, 300),
     ("gate", "skipped", {"production_test": 0.61, "best_test": 0.62, "diff": 0.01,
                          "ci95": [-0.05, 0.07], "n": 54,
                          "reasons": [f"below min_diff {EVIL}"]}, 0)],
    [("trigger", "ok", {"reason": "schedule", "alarms": []}, 0),
     ("harvest", "ok", {"rows": 200, "train": 100, "val": 40, "test": 60}, 0),
     ("optimize", "ok", {"run_id": "run-2", "best_val": 0.9, "seed_val": 0.6}, 250),
     ("gate", "ok", {"production_test": 0.6, "best_test": 0.85, "diff": 0.25,
                     "ci95": [0.1, 0.4], "n": 60, "reasons": []}, 0),
     ("candidate", "ok", {"version": 7, "prompt": {"system": EVIL}}, 0),
     ("experiment", "ok", {"experiment": "live-one", "control": "sentiment@production",
                           "treatment": "sentiment/7"}, 0)],
]


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    built = build(tmp_path / "home")
    yield built
    built.store.close()


@pytest.fixture
def http(log: Log) -> Iterator[TestClient]:
    with TestClient(create_app(log.home), base_url="http://127.0.0.1") as client:
        yield client


def safe(html: str) -> str:
    """The page, after checking that no tag from the data survived escaping."""
    assert "<script>window" not in html and "<img src" not in html
    assert all("src=" in s for s in re.findall(r"<script(?: [^>]*)?>", html))
    return html


def test_experiments_running_first_with_their_last_check(http: TestClient, log: Log) -> None:
    page = safe(http.get("/experiments").text)
    assert re.findall(r'data-experiment="([^"]+)"', page) == ["skewed", "live-one", "won-one"]
    live = log.results["live-one"]
    seq, arms = live["sequential"], live["arms"]
    row = page[page.index('data-experiment="live-one"'):page.index('data-experiment="won-one"')]
    assert f"{seq['diff']:+.3f}" in row and f"[{seq['ci'][0]:.3f}, {seq['ci'][1]:.3f}]" in row
    assert f"{arms['control']['requests']} / {arms['treatment']['requests']}" in row
    assert f"{seq['mean_control']:.3f} / {seq['mean_treatment']:.3f}" in row
    assert f"as of {time.strftime('%H:%M', time.localtime(live['checked']))}" in row
    assert "error_rate&lt;0.05: " in row and "v1 vs v2" in row and "50%" in row
    # the SRM alarm is loud: a box at the top naming the experiment, and its row marked
    assert log.results["skewed"]["srm"]["alarm"] is True
    box = re.search(r'<div class="error-box srm-box" id="srm-alarms">(.*?)</div>', page, re.S)
    assert box is not None and "skewed" in box.group(1) and "live-one" not in box.group(1)
    assert 'class="experiment-row srm-alarm" data-experiment="skewed"' in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page  # the prompt, as text


def test_experiment_filters(http: TestClient) -> None:
    won = http.get("/experiments", params={"status": "won"}).text
    assert re.findall(r'data-experiment="([^"]+)"', won) == ["won-one"]
    by_prompt = http.get("/experiments", params={"prompt": EVIL}).text
    assert re.findall(r'data-experiment="([^"]+)"', safe(by_prompt)) == ["skewed"]
    assert "No experiment matches" in http.get("/experiments?status=breached").text


def test_an_experiment_page_with_its_history(http: TestClient, log: Log) -> None:
    page = safe(http.get("/experiments/live-one").text)
    seq = log.results["live-one"]["sequential"]
    assert f"{seq['diff']:+.3f}" in page and f"{seq['p_value']:.4f}" in page
    assert 'id="history" data-kind="cs"' in page and "<svg class=\"chart\"" in page
    assert 'class="band"' in page and "confidence sequence" in page
    assert "None yet: a decision is recorded when the experiment ends" in page


@pytest.mark.parametrize("unit", ["request", "user"])
def test_the_history_ends_where_the_decision_stands(log: Log, unit: str) -> None:
    """The plot and the decision replay the same observations in the same (arrival) order:
    the plot's last interval is the analysis' confidence sequence."""
    from honed.web.experiments_view import history

    es = ExperimentStore.of(log.store)
    row = {**es.get("live-one"), "unit": unit}
    analysis = analyze(Experiment.from_row(row), es.requests("live-one"), now=NOW)
    line = history(es, row, analysis.to_dict())
    assert line is not None and line.kind == "cs" and analysis.unit == unit
    assert line.observations == analysis.sequential.n_control + analysis.sequential.n_treatment
    _, diff, low, high = line.cs[-1]
    assert diff == pytest.approx(analysis.sequential.diff, abs=1e-12)
    assert (low, high) == pytest.approx(analysis.sequential.ci, abs=1e-12)


def test_a_long_history_is_not_replayed(http: TestClient,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import honed.web.experiments_view as view
    import honed.web.routes.experiments as route

    monkeypatch.setattr(view, "HISTORY_LIMIT", 100)
    monkeypatch.setattr(route, "HISTORY_LIMIT", 100)
    page = http.get("/experiments/live-one").text
    assert 'id="history-skipped"' in page and "More than 100 requests" in page
    assert 'id="history"' not in page and 'id="sequential"' in page


def test_the_history_is_read_not_measured(http: TestClient, log: Log) -> None:
    """An eval metric whose task file is gone: measuring would fail, the page does not; the
    plot uses the scores already stored and stores none."""
    es = ExperimentStore.of(log.store)
    es.create(experiment_row("by-eval", metric="eval:exact_match",
                             task="/no/such/task.yaml"))
    rows = synthetic_traffic("by-eval", "sentiment", 80, now=NOW, days=0.01,
                             rng=random.Random(1))
    log_traffic(log.store, rows)
    scored = [{"request_id": r["id"], "eval": "exact_match", "score": float(i % 2),
               "passed": bool(i % 2)} for i, r in enumerate(rows[:30])]
    es.add_scores(scored)
    page = safe(http.get("/experiments/by-eval").text)
    assert "Not checked yet" in page
    assert 'data-kind="means"' in page  # 30 scored: too few in each arm for the test
    assert len(es.scores("exact_match")) == 30


def test_decisions_with_their_evidence_and_undo(http: TestClient) -> None:
    page = safe(http.get("/experiments/won-one").text)
    promote = re.search(r'<tr id="decision-(\d+)" data-kind="promote">(.*?)</tr>', page, re.S)
    rollback = re.search(r'<tr id="decision-(\d+)" data-kind="rollback">', page)
    assert promote is not None and rollback is not None
    assert "+0.2500 [0.1, 0.4]" in promote.group(2) and "0.0010" in promote.group(2)
    assert "the treatment is better &lt;script&gt;" in promote.group(2)
    assert f'by <a href="#decision-{rollback.group(1)}">' in promote.group(2)
    assert "undone" in promote.group(2) and "all evidence" in promote.group(2)
    assert http.get("/experiments/nope").status_code == 404


def test_drift_open_alarms_first_with_readable_evidence(http: TestClient) -> None:
    page = safe(http.get("/drift").text)
    opened = page[page.index('id="open-alarms"'):page.index('id="cleared-alarms"')]
    cleared = page[page.index('id="cleared-alarms"'):]
    assert opened.count('class="alarm-row open"') == 2 and "alarm-row cleared" not in opened
    assert "0.61 over 120 requests" in opened and "8.4 / 7.75" in opened
    assert "0.31 (worst) ≥ 0.25" in opened and "12.5% of words unseen" in opened
    assert "psi:input_length_psi &lt;script&gt;" in opened
    assert "by loop sentiment cycle 1" in cleared and "0.4 (worst) ≥ 0.25" in cleared
    only = http.get("/drift", params={"prompt": "sentiment"}).text
    assert only.count('class="alarm-row open"') == 1


def test_cleared_alarms_come_a_page_at_a_time(tmp_path: Path) -> None:
    with open_store(home=tmp_path) as store:
        fill_alarms(store, 120, prompts=("a", "b"), open_alarms=2, hostile=False)
    with TestClient(create_app(tmp_path), base_url="http://127.0.0.1") as client:
        first, last = client.get("/drift").text, client.get("/drift?page=3").text
    assert first.count("alarm-row cleared") == 50 and last.count("alarm-row cleared") == 18
    assert "page 1 of 3" in first and 'rel="next"' in first and 'rel="next"' not in last


def test_clearing_an_alarm_is_an_admin_action_behind_a_confirmation(http: TestClient,
                                                                    log: Log) -> None:
    monitor = MonitorStore.of(log.store)
    [alarm] = monitor.alarms("sentiment", open_only=True)
    confirm = http.get("/drift/clear", params={"prompt": "sentiment", "alarm": alarm["id"]})
    assert "Read-only" in confirm.text and 'id="confirm-form"' not in confirm.text
    form = {"prompt": "sentiment", "alarm": str(alarm["id"])}
    assert http.post("/drift/clear", data=form).status_code == 401
    serve = {"Authorization": f"Bearer {log.serve}"}
    assert http.post("/drift/clear", data=form, headers=serve).status_code == 403
    assert monitor.alarms("sentiment", open_only=True) != []
    http.post("/login", data={"key": log.admin})
    confirm = http.get("/drift/clear", params={"prompt": "sentiment", "alarm": alarm["id"]})
    token = re.search(r'name="csrf" value="([^"]+)"', confirm.text).group(1)
    assert http.post("/drift/clear", data={**form, "csrf": "stale"}).status_code == 403
    done = http.post("/drift/clear", data={**form, "csrf": token})
    assert done.status_code == 200 and "cleared 1 alarm of sentiment" in done.text
    [row] = [a for a in monitor.alarms("sentiment") if a["id"] == alarm["id"]]
    assert row["cleared_by"].startswith("admin key ") and "(dashboard)" in row["cleared_by"]
    assert http.get("/drift/clear", params={"prompt": "sentiment"}).status_code == 404


def test_clearing_every_open_alarm_of_a_prompt(http: TestClient, log: Log) -> None:
    admin = {"Authorization": f"Bearer {log.admin}"}
    confirm = safe(http.get("/drift/clear", params={"prompt": EVIL}, headers=admin).text)
    assert 'id="confirm-form"' in confirm and "Clear 1 alarm" in confirm
    done = http.post("/drift/clear", data={"prompt": EVIL}, headers=admin,
                     follow_redirects=False)
    assert done.status_code == 303 and "cleared%201%20alarm" in done.headers["location"]
    assert MonitorStore.of(log.store).alarms(EVIL, open_only=True) == []
    bad = http.post("/drift/clear", data={"prompt": "x", "alarm": "one"}, headers=admin)
    assert bad.status_code == 422


def test_the_loop_state_and_its_cycles(http: TestClient) -> None:
    page = safe(http.get("/loop").text)
    card = page[page.index('data-loop="sentiment"'):page.index('id="cycles"')]
    assert '<a href="/experiments/live-one">live-one</a>' in card
    assert re.search(r"<th>cycle</th><td>2 ", card)
    assert "550 calls · $0.5500" in card  # both cycles are within 24 hours
    assert re.findall(r'data-cycle="(\d+)"', page) == ["2", "1"]
    second = page[page.index('data-cycle="2"'):page.index('data-cycle="1"')]
    assert 'class="step step-running" data-step="experiment"' in second
    assert 'class="step step-waiting" data-step="decide"' in second
    assert "test 0.600 → 0.850, diff +0.250 [0.1, 0.4] n=60" in second
    assert "val 0.600 → 0.900, 250 calls" in second and 'href="/runs/run-2"' in second
    first = page[page.index('data-cycle="1"'):]
    assert 'data-outcome="gate"' in first and "step step-skipped" in first
    assert "below min_diff &lt;script&gt;" in first and "not reached" in first
    assert "details of cycle 1" in first


def test_loop_pages_of_the_sample_and_unknown_loops(tmp_path: Path) -> None:
    from honed.loop.history import state
    from honed.web.routes.loop import loop_state

    with open_store(home=tmp_path) as store:
        assert fill_loop(store, "demo", 40, now=NOW) > 40 * 2  # over 40 hours
        fill_experiments(store, 12, traffic=60, now=NOW)
        monitor = MonitorStore.of(store)
        [item] = monitor.loops()
        read = loop_state(monitor, item, NOW).to_dict()  # the latest cycle and 24 hours
        assert read == state(monitor.events("demo"), NOW).to_dict()  # as from every event
        assert read["running_experiment"] == "loop-c40" and read["spent_calls_24h"] > 0
    with TestClient(create_app(tmp_path), base_url="http://127.0.0.1") as client:
        page = safe(client.get("/loop?loop=demo").text)
        assert len(re.findall(r'class="cycle-row"', page)) == 25 and "show older" in page
        more = client.get("/loop?loop=demo&show=50").text
        assert len(re.findall(r'class="cycle-row"', more)) == 40 and "show older" not in more
        assert "budget: " in more  # a budget stop sits in the harvest column
        assert client.get("/loop?loop=nope").status_code == 404
        listing = safe(client.get("/experiments").text)
        assert listing.count('class="experiment-row') == 12
        for status in ("won", "lost", "breached", "expired", "stopped"):
            assert f"status-{status}" in listing
        safe(client.get("/experiments/exp-000").text)


def test_old_addresses_and_empty_states(tmp_path: Path) -> None:
    with TestClient(create_app(tmp_path / "none"), base_url="http://127.0.0.1") as client:
        assert "No production log here yet" in client.get("/experiments").text
        assert "No production log here yet" in client.get("/drift").text
        assert "No production log here yet" in client.get("/loop").text
        assert client.get("/experiments/x").status_code == 404
    open_store(home=tmp_path).close()
    with TestClient(create_app(tmp_path), base_url="http://127.0.0.1") as client:
        assert "No experiments yet" in client.get("/experiments").text
        assert "No alarms yet" in client.get("/drift").text
        assert "No loop has run yet" in client.get("/loop").text
        moved = client.get("/panels/drift", follow_redirects=False)
        assert moved.status_code == 308 and moved.headers["location"] == "/drift"
        assert client.get("/panels/nope").status_code == 404


def test_a_rollback_on_probation_shows_in_its_cycle(tmp_path: Path) -> None:
    with open_store(home=tmp_path) as store:
        monitor = MonitorStore.of(store)
        for offset, step, status, detail in (
                (0, "trigger", "ok", {"reason": "alarm", "alarms": []}),
                (10, "decide", "ok", {"experiment": "e1", "kind": "promote",
                                      "from_version": 1, "to_version": 2}),
                (20, "rollback", "ok", {"to_version": 1, "reason":
                                        "error_rate<0.05 but v2 has 0.15 (n=80) <b>"})):
            monitor.add_event({"loop": "demo", "step": step, "status": status, "cycle": 1,
                               "created": NOW - 100 + offset, "detail": detail})
    with TestClient(create_app(tmp_path), base_url="http://127.0.0.1") as client:
        page = safe(client.get("/loop?loop=demo").text)
    assert "promote v1 → v2; rolled back to v1 on probation: error_rate&lt;0.05 but v2 " \
           "has 0.15 (n=80) &lt;b&gt;" in page
    assert 'data-outcome="rollback"' in page
