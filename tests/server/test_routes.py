"""The app's routes through ``TestClient``: auth, errors, complete -> log row, feedback,
prompt lookup, metrics, limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

BODY = {"prompt": "sent@production", "inputs": {"text": "meh", "choices": "positive, negative"}}


def test_healthz_is_open(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"},
                                     {"Authorization": "Basic abc"}])
def test_without_a_valid_key_it_is_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/v1/complete", json=BODY, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_a_revoked_key_is_401(client: TestClient, served: Any) -> None:
    key_id, key = served.store.create_key("serve", "gone")
    served.store.revoke_key(key_id)
    response = client.post("/v1/complete", json=BODY, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401


def test_the_wrong_scope_is_403_and_admin_may_do_all(client: TestClient, served: Any) -> None:
    assert client.post("/v1/complete", json=BODY,
                       headers=served.auth("feedback")).status_code == 403
    assert client.post("/v1/feedback", json={"request_id": "x", "score": 1},
                       headers=served.auth("serve")).status_code == 403
    assert client.get("/metrics", headers=served.auth("serve")).status_code == 403
    assert client.post("/v1/complete", json=BODY, headers=served.auth("admin")).status_code == 200


def test_complete_answers_and_logs_the_request(client: TestClient, served: Any) -> None:
    response = client.post("/v1/complete", json={**BODY, "user_id": "u1",
                                                 "metadata": {"ab": "x"}},
                           headers=served.auth())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["output"] == "positive" and body["prompt"] == "sent" and body["version"] == 1
    assert set(body) == {"id", "output", "prompt", "version", "latency_s", "input_tokens",
                         "output_tokens", "cost_usd"}
    assert body["input_tokens"] > 0 and body["cost_usd"] == 0.0
    [row] = served.store.requests()
    assert row["id"] == body["id"] and row["output"] == "positive"
    assert row["alias"] == "production" and row["version"] == 1 and row["user_id"] == "u1"
    assert row["inputs"] == BODY["inputs"] and row["metadata"] == {"ab": "x"}


def test_the_model_recorded_on_a_version_wins(client: TestClient, served: Any) -> None:
    response = client.post("/v1/complete", json={"prompt": "echo/1", "inputs": {"q": "hi"}},
                           headers=served.auth())
    assert response.json()["output"] == "Say: hi"  # fake echoes; the override would say positive


def test_a_missing_input_is_422_naming_it(client: TestClient, served: Any) -> None:
    response = client.post("/v1/complete", json={"prompt": "sent@production",
                                                 "inputs": {"text": "x"}},
                           headers=served.auth())
    assert response.status_code == 422
    assert "'choices'" in response.json()["error"]["message"]
    assert served.store.requests() == []


@pytest.mark.parametrize(("ref", "named"), [("nope@production", "nope"),
                                            ("sent@staging", "staging"), ("sent/9", "9")])
def test_an_unknown_prompt_is_404_naming_it(client: TestClient, served: Any, ref: str,
                                           named: str) -> None:
    response = client.post("/v1/complete", json={"prompt": ref, "inputs": {}},
                           headers=served.auth())
    assert response.status_code == 404
    assert named in response.json()["error"]["message"]
    assert client.get(f"/v1/prompts/{ref}", headers=served.auth()).status_code == 404


def test_a_malformed_ref_or_body_is_422(client: TestClient, served: Any) -> None:
    assert client.post("/v1/complete", json={"prompt": "no such thing!", "inputs": {}},
                       headers=served.auth()).status_code == 422
    response = client.post("/v1/complete", json={"inputs": {}}, headers=served.auth())
    assert response.status_code == 422 and "prompt" in response.json()["error"]["message"]


def test_the_prompt_route_gives_template_demos_and_variables(client: TestClient,
                                                             served: Any) -> None:
    body = client.get("/v1/prompts/sent@production", headers=served.auth()).json()
    assert body["template"] == {"system": "Classify as {choices}.", "user": "Review: {text}"}
    assert body["version"] == 1 and body["aliases"] == ["production"]
    assert body["demos"] == ["d1", "d2"] and body["demo_rows"]["d2"]["label"] == "negative"
    assert body["variables"] == ["choices", "text"]
    assert client.get("/v1/prompts/sent/1", headers=served.auth()).json() == body


def test_feedback_is_stored_and_an_unknown_request_is_404(client: TestClient,
                                                          served: Any) -> None:
    request_id = client.post("/v1/complete", json=BODY, headers=served.auth()).json()["id"]
    response = client.post("/v1/feedback", json={"request_id": request_id, "score": 0.5,
                                                  "label": "ok", "comment": "fine"},
                           headers=served.auth("feedback"))
    assert response.status_code == 200, response.text
    [row] = served.store.requests()
    [feedback] = row["feedback"]
    assert feedback["score"] == 0.5 and feedback["label"] == "ok"
    assert client.post("/v1/feedback", json={"request_id": "req_nope", "score": 1},
                       headers=served.auth("feedback")).status_code == 404
    assert client.post("/v1/feedback", json={"request_id": request_id, "comment": "only"},
                       headers=served.auth("feedback")).status_code == 422


def test_metrics_count_requests_tokens_and_latency(client: TestClient, served: Any) -> None:
    for _ in range(2):
        client.post("/v1/complete", json=BODY, headers=served.auth())
    text = client.get("/metrics", headers=served.auth("admin")).text
    assert 'honed_requests_total{prompt="sent",version="1"} 2' in text
    assert 'honed_errors_total{prompt="sent",version="1"} 0' in text
    assert 'honed_tokens_total{prompt="sent",version="1",kind="input"}' in text
    assert 'honed_request_latency_seconds_bucket{prompt="sent",version="1",le="+Inf"} 2' in text
    assert 'honed_request_latency_seconds_count{prompt="sent",version="1"} 2' in text
    assert "# TYPE honed_request_latency_seconds histogram" in text


def test_metrics_count_error_answers_by_status(client: TestClient, served: Any) -> None:
    client.post("/v1/complete", json=BODY)  # no key
    client.post("/v1/complete", json={**BODY, "prompt": "nothing@production"},
                headers=served.auth())
    client.post("/v1/complete", json={"prompt": "sent@production", "inputs": {}},
                headers=served.auth())
    text = client.get("/metrics", headers=served.auth("admin")).text
    assert "# TYPE honed_error_answers_total counter" in text
    assert 'honed_error_answers_total{status="401",code="missing_key"} 1' in text
    assert any(line.startswith('honed_error_answers_total{status="404"')
               for line in text.splitlines())
    assert any(line.startswith('honed_error_answers_total{status="422"')
               for line in text.splitlines())


def test_a_body_over_the_limit_is_413(make_app: Callable[..., Any], served: Any) -> None:
    with TestClient(make_app(max_body_bytes=1000)) as http:
        big = {"prompt": "sent@production", "inputs": {"text": "x" * 2000, "choices": "a"}}
        response = http.post("/v1/complete", json=big, headers=served.auth())
        assert response.status_code == 413
        assert http.post("/v1/complete", json=BODY, headers=served.auth()).status_code == 200


def test_a_key_over_its_rate_is_429_with_retry_after(make_app: Callable[..., Any],
                                                    served: Any) -> None:
    with TestClient(make_app(rate_per_minute=2, burst=2)) as http:
        codes = [http.post("/v1/complete", json=BODY, headers=served.auth()).status_code
                 for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = http.post("/v1/complete", json=BODY, headers=served.auth())
        assert int(limited.headers["retry-after"]) >= 1
        # another key has its own bucket
        assert http.post("/v1/complete", json=BODY,
                         headers=served.auth("admin")).status_code == 200


def test_a_failing_model_is_logged_and_answered_without_details(
        make_app: Callable[..., Any], served: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from honed.errors import AuthError
    from honed.server.models import ModelPool

    canary = "CanaryProviderKey0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", canary)

    async def fail(self: Any, prompt: Any, messages: Any) -> Any:  # a provider echoing keys
        raise AuthError(f"invalid key sk-secret-123 (OPENAI_API_KEY={canary})")

    monkeypatch.setattr(ModelPool, "complete", fail)
    with caplog.at_level("DEBUG"), TestClient(make_app()) as http:
        response = http.post("/v1/complete", json=BODY, headers=served.auth())
    assert response.status_code == 502
    assert "sk-secret" not in response.text and "Traceback" not in response.text
    assert canary not in response.text
    [row] = served.store.requests()
    assert row["error"] and row["output"] is None
    assert canary not in row["error"] and "sk-secret-123" not in row["error"]
    assert canary not in caplog.text and "sk-secret-123" not in caplog.text
    stored = b"".join(p.read_bytes() for p in served.home.glob("serve.sqlite*"))
    assert canary.encode() not in stored
