"""Experiments in the server: sticky routing by user, the log row's experiment and arm, the
cache of running experiments (no database read per request), the periodic check, and the
documented walkthrough against a real uvicorn server on loopback with the fake model: start by
the CLI, traffic from many users with feedback, ``honed experiment check``, ``honed rollback``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.live_server import serve_in_thread

from honed.cli.app import main
from honed.client import Client
from honed.experiments import ExperimentConfig, parse_metric
from honed.lifecycle.experiments import start_experiment, stop_experiment
from honed.lifecycle.registries import open_registry
from honed.lifecycle.registry import PRODUCTION, PromptRegistry
from honed.store.experiments import ExperimentStore
from honed.types import Candidate

TREATMENT_PREFIX = "Answer:"  # echo/2 says "Answer: ..."; echo/1 says "Say: ..."


@pytest.fixture
def registry(served: Any) -> Iterator[PromptRegistry]:
    """``echo`` v1 (@production, ``Say: {q}``) and v2 (@candidate, ``Answer: {q}``), both on
    the echoing fake model."""
    reg = open_registry(served.home, backend="local")
    v2 = reg.register("echo", Candidate({"system": "", "user": "Answer: {q}"}),
                      tags={"honed.model": "fake"})
    reg.set_alias("echo", "candidate", v2.version)
    yield reg
    reg.close()  # type: ignore[attr-defined]


def _start(served: Any, registry: PromptRegistry, split: float = 0.5,
           name: str = "exp") -> Any:
    config = ExperimentConfig(name, "echo@production", "echo@candidate",
                              parse_metric("feedback"), split=split)
    return start_experiment(served.store, registry, config)


def _complete(http: TestClient, served: Any, user: str | None, q: str,
              ref: str = "echo@production") -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": ref, "inputs": {"q": q}}
    if user is not None:
        body["user_id"] = user
    answer = http.post("/v1/complete", json=body, headers=served.auth())
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_users_stick_to_their_arm_and_the_log_records_it(
        make_app: Callable[..., Any], served: Any, registry: PromptRegistry) -> None:
    exp = _start(served, registry, split=0.3)
    seen: dict[str, set[int]] = {}
    with TestClient(make_app(experiment_check_s=None)) as http:
        for round_ in range(2):
            for i in range(150):
                answer = _complete(http, served, f"user-{i}", f"q{round_}-{i}")
                assert answer["experiment"] == "exp"
                assert answer["version"] == (2 if answer["arm"] == "treatment" else 1)
                prefix = TREATMENT_PREFIX if answer["arm"] == "treatment" else "Say:"
                assert answer["output"].startswith(prefix)
                seen.setdefault(f"user-{i}", set()).add(answer["version"])
        pinned = _complete(http, served, "user-1", "pinned", ref="echo/1")
        assert "experiment" not in pinned and pinned["version"] == 1
        other = http.post("/v1/complete", headers=served.auth(), json={
            "prompt": "sent@production", "inputs": {"text": "x", "choices": "a, b"},
            "user_id": "user-1"}).json()
        assert "experiment" not in other  # another prompt is never routed
    assert all(len(versions) == 1 for versions in seen.values())  # sticky
    treated = sum(versions == {2} for versions in seen.values())
    assert 0.15 < treated / 150 < 0.45  # 30% of users, within a generous tolerance
    rows = ExperimentStore.of(served.store).requests("exp")
    assert len(rows) == 300
    assert all(r["version"] == (2 if r["arm"] == "treatment" else 1) for r in rows)
    logged = {r["id"]: r for r in served.store.requests()}
    assert logged[pinned["id"]]["experiment"] is None and logged[pinned["id"]]["arm"] is None
    assert exp.salt


def test_requests_without_a_user_are_split_by_request(
        make_app: Callable[..., Any], served: Any, registry: PromptRegistry) -> None:
    _start(served, registry, split=0.5)
    with TestClient(make_app(experiment_check_s=None)) as http:
        arms = [_complete(http, served, None, f"q{i}")["arm"] for i in range(60)]
    assert {"control", "treatment"} == set(arms)


def test_chat_completions_are_routed_by_the_openai_user(
        make_app: Callable[..., Any], served: Any, registry: PromptRegistry) -> None:
    _start(served, registry, split=0.5)
    with TestClient(make_app(experiment_check_s=None)) as http:
        texts, arms = {}, {}
        for user in ("alice", "bob", "carol", "dave", "erin", "frank"):
            for turn in range(2):
                reply = http.post("/v1/chat/completions", headers=served.auth(), json={
                    "model": "honed:echo@production", "user": user,
                    "messages": [{"role": "user", "content": f"hi {turn}"}]})
                assert reply.status_code == 200, reply.text
                text = reply.json()["choices"][0]["message"]["content"]
                texts.setdefault(user, set()).add(text.split(":")[0])
                about = reply.json()["honed"]  # which experiment and arm answered
                assert about["experiment"] == reply.headers["x-honed-experiment"] == "exp"
                assert about["arm"] == reply.headers["x-honed-arm"]
                assert reply.headers["x-honed-version"] == str(about["version"])
                arms[reply.json()["id"]] = about["arm"]
    assert all(len(prefixes) == 1 for prefixes in texts.values())
    rows = ExperimentStore.of(served.store).requests("exp")
    assert len(rows) == 12 and {r["user_id"] for r in rows} == set(texts)
    assert {r["id"]: r["arm"] for r in rows} == arms  # (the salt is random: six users may
    # all land in one arm, so which arms appear is not asserted)


def test_running_experiments_are_cached_not_read_per_request(
        make_app: Callable[..., Any], served: Any, registry: PromptRegistry) -> None:
    _start(served, registry)
    app = make_app(experiment_check_s=None)
    router = app.state.service.router
    reads = []
    load = router._load

    def counting() -> Any:
        reads.append(time.monotonic())
        return load()

    router._load = counting
    with TestClient(app) as http:
        for i in range(50):
            _complete(http, served, f"u{i}", f"q{i}")
        assert len(reads) == 1  # one read for 50 requests within the TTL
        stop_experiment(served.store, "exp")  # as `honed experiment stop` in another process
        assert "experiment" in _complete(http, served, "u1", "still cached")
        router.invalidate()
        _complete(http, served, "u1", "reload starts")  # served from the old table meanwhile
        deadline = time.monotonic() + 10
        while "experiment" in _complete(http, served, "u1", f"after {time.monotonic()}"):
            assert time.monotonic() < deadline, "a stopped experiment was still routed"
            time.sleep(0.05)
    assert len(reads) == 2


def test_the_server_checks_experiments_periodically(
        make_app: Callable[..., Any], served: Any, registry: PromptRegistry) -> None:
    _start(served, registry)
    app = make_app(experiment_check_s=0.2)
    rng = random.Random(1)
    with TestClient(app) as http:
        _send_traffic(http.post, served, rng, users=300, p_control=0.2, p_treatment=0.9)
        deadline = time.monotonic() + 20
        while ExperimentStore.of(served.store).get("exp")["status"] == "running":
            assert time.monotonic() < deadline, "the periodic check did not decide"
            time.sleep(0.1)
        assert ExperimentStore.of(served.store).get("exp")["status"] == "won"
        assert registry.aliases("echo")[PRODUCTION] == 2
        after = _complete(http, served, "user-1", "after the win")
        assert "experiment" not in after and after["version"] == 2  # invalidated at once
    assert app.state.service.checker is None  # stopped with the app


def _send_traffic(post: Callable[..., Any], served: Any, rng: random.Random, *, users: int,
                  p_control: float, p_treatment: float, seed: str = "") -> None:
    """One request per user; the user likes an answer from the treatment's template with
    probability ``p_treatment``, else ``p_control``, and says so with a 0/1 score."""
    for i in range(users):
        answer = post("/v1/complete", json={"prompt": "echo@production",
                                            "inputs": {"q": f"{seed}q{i}"},
                                            "user_id": f"{seed}user-{i}"},
                      headers=served.auth()).json()
        p = p_treatment if answer["output"].startswith(TREATMENT_PREFIX) else p_control
        reply = post("/v1/feedback", json={"request_id": answer["id"],
                                           "score": float(rng.random() < p)},
                     headers=served.auth("feedback"))
        assert reply.status_code == 200, reply.text


# the walkthrough over real HTTP -----------------------------------------------------------------
@pytest.fixture
def live(make_app: Callable[..., Any]) -> Iterator[tuple[str, Any]]:
    """A uvicorn server on loopback (no periodic check: the CLI decides); its app."""
    app = make_app(experiment_check_s=None)
    app.state.service.router.ttl_s = 0.2  # so a stop by the CLI shows within the test
    with serve_in_thread(app) as url:
        yield url, app


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, f"honed {' '.join(args)} exited {code}\n{out}\n{err}"
    return out


def _http_traffic(url: str, served: Any, **options: Any) -> None:
    with Client(url, served.keys["admin"]) as api:
        def post(path: str, *, json: dict[str, Any], headers: Any) -> Any:
            body = dict(json)
            if path == "/v1/complete":
                answer = api.complete(body.pop("prompt"), user_id=body.pop("user_id"),
                                      **body["inputs"])
                return _Reply(answer)
            return _Reply(api.feedback(body["request_id"], score=body["score"]))

        _send_traffic(post, served, random.Random(options.pop("seed_n", 0)), **options)


class _Reply:
    status_code, text = 200, ""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def json(self) -> dict[str, Any]:
        return self.data


def test_walkthrough_a_better_treatment_is_promoted_and_rolled_back(
        live: tuple[str, Any], served: Any, registry: PromptRegistry,
        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    url, _ = live
    out = _cli(capsys, "experiment", "start", "better", "--control", "echo@production",
               "--treatment", "echo@candidate", "--split", "0.5", "--metric", "feedback",
               "--guardrail", "error_rate<0.05", "--guardrail", "latency_p95<2s")
    assert "started experiment better" in out
    _http_traffic(url, served, users=300, p_control=0.2, p_treatment=0.9)
    out = _cli(capsys, "experiment", "check")
    assert "better: won -> promote echo@production 1 -> 2" in out
    assert registry.aliases("echo")[PRODUCTION] == 2
    status = json.loads(_cli(capsys, "experiment", "status", "better", "--json"))
    [decision] = status["decisions"]
    assert decision["kind"] == "promote" and decision["evidence"]["p_value"] < 0.05
    assert status["analysis"]["srm"]["alarm"] is False
    assert {c["state"] for c in status["analysis"]["guardrails"]} == {"ok"}
    with Client(url, served.keys["serve"]) as api:
        deadline = time.monotonic() + 10
        while "experiment" in (answer := api.complete("echo@production", q="later",
                                                      user_id="user-1")):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert answer["version"] == 2  # production is the winner now
    out = _cli(capsys, "rollback", "echo")
    assert "rolled back echo@production: version 2 -> 1" in out
    assert registry.aliases("echo")[PRODUCTION] == 1
    kinds = [d["kind"] for d in ExperimentStore.of(served.store).decisions(prompt="echo")]
    assert kinds == ["rollback", "promote"]


def test_walkthrough_a_worse_treatment_leaves_production_and_stops_routing(
        live: tuple[str, Any], served: Any, registry: PromptRegistry,
        capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = live
    _cli(capsys, "experiment", "start", "worse", "--control", "echo@production",
         "--treatment", "echo@candidate", "--split", "0.5", "--metric", "feedback")
    _http_traffic(url, served, users=300, p_control=0.9, p_treatment=0.2, seed_n=2)
    out = _cli(capsys, "experiment", "check", "worse")
    assert "worse: lost -> keep echo@production 1 -> 1" in out
    assert registry.aliases("echo")[PRODUCTION] == 1
    with Client(url, served.keys["serve"]) as api:
        deadline = time.monotonic() + 10  # the server rereads its table after its TTL
        while "experiment" in api.complete("echo@production", q=f"{time.monotonic()}",
                                           user_id="user-1"):
            assert time.monotonic() < deadline, "a lost experiment was still routed"
            time.sleep(0.05)
        answers = [api.complete("echo@production", q=f"after {i}", user_id=f"user-{i}")
                   for i in range(40)]
    assert all("experiment" not in a and a["version"] == 1 for a in answers)
