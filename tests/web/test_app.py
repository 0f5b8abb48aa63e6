"""The dashboard over HTTP (in process): every page, escaping, read-only without a key, admin
actions with a key (bearer or signed-in session with its CSRF token), the guards."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from honed.lifecycle.registries import open_registry
from honed.store import open_store
from honed.web.app import create_app
from honed.web.sample import HOSTILE
from honed.web.session import COOKIE

PAGES = ["/runs", "/runs?q=sentiment&sort=best_test&order=asc", "/runs/{run}",
         "/runs/{run}/views", "/compare?run={run}&run={other}",
         "/compare?run={run}&run=sentiment@candidate", "/registry", "/registry/sentiment",
         "/registry/sentiment?v=1", "/registry/sentiment/diff?a=1&b=2",
         "/registry/sentiment/promote?version=1", "/login", "/production",
         "/production?range=24h&prompt=sentiment", "/experiments", "/experiments/exp-000",
         "/experiments/exp-005", "/drift", "/drift/clear?prompt=sentiment-b", "/loop",
         "/panels/loop"]


def pages(home) -> list[str]:
    return [p.format(run=home.runs[0], other=home.runs[1]) for p in PAGES]


def test_every_page_answers_escaped_with_safe_headers(client, sample_home) -> None:
    for page in pages(sample_home):
        response = client.get(page)
        assert response.status_code == 200, (page, response.text[:300])
        html = response.text
        assert "<script>window.__pwned" not in html and "<img src" not in html, page
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "default-src 'self'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        scripts = re.findall(r"<script(?: [^>]*)?>", html)
        assert all("src=" in s or "application/json" in s for s in scripts), page
    run = client.get(f"/runs/{sample_home.runs[0]}").text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in run  # shown, as text
    feedback = client.get("/production").text
    assert "&lt;img src=&#34;x&#34; onerror" in feedback


def test_runs_search_filter_sort_and_fragment(client, sample_home) -> None:
    first, second = sample_home.runs
    page = client.get("/runs").text
    assert first in page and second in page and "<html" in page
    only = client.get("/runs", params={"optimizer": "mutate"}).text
    assert second in only and first not in only
    none = client.get("/runs", params={"q": "no-such-thing"}).text
    assert "No run matches" in none
    fragment = client.get("/runs", params={"q": first[-6:]}, headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="runs-table">')
    assert first in fragment.text and second not in fragment.text


def test_a_run_page_and_its_report_file(client, sample_home) -> None:
    run = sample_home.runs[0]
    page = client.get(f"/runs/{run}").text
    for view in ("summary", "trajectory", "front", "matrix", "diff", "evals"):
        assert f'id="{view}"' in page
    assert "data-events" not in page  # finished: nothing to watch
    download = client.get(f"/runs/{run}/report.html")
    assert download.status_code == 200 and "attachment" in download.headers[
        "content-disposition"]
    assert "sandbox" in download.headers["content-security-policy"]
    missing = client.get("/runs/no-such-run")
    assert missing.status_code == 404 and "no run" in missing.text


def test_events_of_a_finished_run(client, sample_home) -> None:
    with client.stream("GET", f"/runs/{sample_home.runs[0]}/events") as response:
        body = "".join(response.iter_text())
    assert "event: update" in body and "event: done" in body and '"finished"' in body


def test_read_only_without_an_admin_key(client, sample_home) -> None:
    confirm = client.get("/registry/sentiment/promote?version=1").text
    assert "Read-only" in confirm and 'id="confirm-form"' not in confirm
    assert client.post("/registry/sentiment/promote", data={"version": "1"}).status_code == 401
    serve = {"Authorization": f"Bearer {sample_home.keys['serve']}"}
    wrong = client.post("/registry/sentiment/promote", data={"version": "1"}, headers=serve)
    assert wrong.status_code == 403 and "scope" in wrong.text
    bad = client.post("/registry/sentiment/rollback", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert "production" not in open_registry(sample_home.home, backend="local").aliases(
        "sentiment")


def test_an_admin_bearer_key_promotes_and_rolls_back(client, sample_home) -> None:
    admin = {"Authorization": f"Bearer {sample_home.keys['admin']}"}
    for version in ("1", "2"):
        done = client.post("/registry/sentiment/promote", data={"version": version},
                           headers=admin, follow_redirects=False)
        assert done.status_code == 303 and "promoted" in done.headers["location"]
    registry = open_registry(sample_home.home, backend="local")
    assert registry.aliases("sentiment")["production"] == 2
    back = client.post("/registry/sentiment/rollback", headers=admin)
    assert back.status_code == 200 and "rolled sentiment back to version 1" in back.text
    assert registry.aliases("sentiment")["production"] == 1


def test_blocked_versions_need_force(client, sample_home) -> None:
    registry = open_registry(sample_home.home, backend="local")
    registry.set_tags("sentiment", 2, {"honed.blocked": "accuracy", "honed.gate": "FAIL"})
    admin = {"Authorization": f"Bearer {sample_home.keys['admin']}"}
    refused = client.post("/registry/sentiment/promote", data={"version": "2"}, headers=admin)
    assert refused.status_code == 409 and "accuracy" in refused.text
    forced = client.post("/registry/sentiment/promote", data={"version": "2", "force": "true"},
                         headers=admin, follow_redirects=False)
    assert forced.status_code == 303


def test_sign_in_opens_a_session_with_a_csrf_token(client, sample_home) -> None:
    wrong = client.post("/login", data={"key": "hnd_wrong", "next": "/registry"})
    assert wrong.status_code == 401 and "hnd_wrong" not in wrong.text
    serve = client.post("/login", data={"key": sample_home.keys["serve"]})
    assert serve.status_code == 403 and sample_home.keys["serve"] not in serve.text
    signed = client.post("/login", data={"key": sample_home.keys["admin"],
                                         "next": "https://elsewhere.example/"},
                         follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/registry"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert sample_home.keys["admin"] not in cookie
    confirm = client.get("/registry/sentiment/promote?version=2").text
    token = re.search(r'name="csrf" value="([^"]+)"', confirm).group(1)
    stale = client.post("/registry/sentiment/promote", data={"version": "2", "csrf": "x"})
    assert stale.status_code == 403
    done = client.post("/registry/sentiment/promote", data={"version": "2", "csrf": token})
    assert done.status_code == 200 and "promoted sentiment/2 to production" in done.text


def test_a_revoked_key_ends_its_session(client, sample_home) -> None:
    client.post("/login", data={"key": sample_home.keys["admin"]})
    assert "sign out" in client.get("/registry").text
    with open_store(home=sample_home.home) as store:
        admin = next(k for k in store.list_keys() if k.scope == "admin")
        store.revoke_key(admin.id)
    assert "sign in" in client.get("/registry").text
    assert client.post("/registry/sentiment/rollback").status_code == 401


def test_logout_and_unknown_hosts(client, sample_home) -> None:
    client.post("/login", data={"key": sample_home.keys["admin"]})
    client.post("/logout")
    assert client.cookies.get(COOKIE) is None
    assert client.get("/runs", headers={"host": "evil.example"}).status_code == 400
    assert client.get("/runs", headers={"host": "localhost:8788"}).status_code == 200


def test_production_numbers_are_the_logs(client, sample_home) -> None:
    page = client.get("/production").text
    with open_store(home=sample_home.home) as store:
        rows = store.requests()
    per_version = {v: sum(1 for r in rows if r["version"] == v) for v in (1, 2)}
    for version, n in per_version.items():
        assert re.search(rf"sentiment/{version}</a></td><td class=\"num\">{n}<", page)
    for chart in ("requests", "errors", "latency", "cost", "quality"):
        assert f'id="chart-{chart}"' in page
    assert HOSTILE not in page


def test_an_empty_home(tmp_path) -> None:
    app = create_app(tmp_path / "nothing")
    with TestClient(app, base_url="http://127.0.0.1") as http:
        assert "No runs yet" in http.get("/runs").text
        assert "No prompts registered yet" in http.get("/registry").text
        assert "No production log here yet" in http.get("/production").text
        assert "No production log here yet" in http.get("/panels/experiments").text
        assert "No production log here yet" in http.get("/drift").text
        assert http.get("/panels/nope").status_code == 404
        assert "pick two or more runs" in http.get("/compare?run=x").text
    assert not (tmp_path / "nothing").exists()  # reading creates no state


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5"])
def test_bound_hosts(tmp_path: Path, host: str) -> None:
    app = create_app(tmp_path, bind_host=host)
    with TestClient(app, base_url=f"http://{host}") as http:
        assert http.get("/runs").status_code == 200
