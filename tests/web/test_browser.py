"""The dashboard and the standalone report in a real browser (headless Chromium): every page,
the filters, the compare view, promote behind sign-in, the live view of a running optimization.
Nothing may run from the data (prompts and outputs hold script tags) and no request may leave
the page's origin. Screenshots go to the test's tmp_path."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from honed.lifecycle.registries import open_registry
from honed.tracking.store import RunStore
from honed.web.app import create_app
from honed.web.sample import run_sample, write_task

Home = Server = Any  # the types of the fixtures of this folder's conftest


class Watched:
    """A page with every request, console error and page error it saw recorded."""

    def __init__(self, browser: Any, origin: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.origin, self.requests, self.errors = origin, [], []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path: str) -> Any:
        self.page.goto(self.origin + path)  # returns once the page and its assets have loaded
        return self.page

    def check(self) -> None:
        """Nothing ran from the data, nothing failed, nothing left the origin."""
        assert self.page.evaluate("window.__pwned") is None
        assert self.errors == []
        assert all(u.startswith(self.origin) or u.startswith("data:")
                   for u in self.requests), self.requests

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(chromium: Any, live_server: Server) -> Iterator[Watched]:
    page = Watched(chromium, live_server.url)
    yield page
    page.close()


def test_every_page_in_a_browser(watched: Watched, sample_home: Home, tmp_path: Path) -> None:
    run, other = sample_home.runs
    for index, path in enumerate(["/runs", f"/runs/{run}", f"/compare?run={run}&run={other}",
                                  "/registry", "/registry/sentiment",
                                  "/registry/sentiment/promote?version=2", "/production",
                                  "/experiments", "/experiments/exp-000", "/drift", "/loop",
                                  "/login"]):
        page = watched.open(path)
        page.screenshot(path=str(tmp_path / f"page-{index}.png"), full_page=True)
        assert page.locator("nav.top").is_visible()
        watched.check()
    page = watched.open(f"/runs/{run}")
    assert page.locator("#summary").is_visible() and page.locator("svg.chart").count() >= 2


def test_run_filters_and_compare(watched: Watched, sample_home: Home, tmp_path: Path) -> None:
    first, second = sample_home.runs
    page = watched.open("/runs")
    assert page.locator("tr.run-row").count() == 2
    rows = page.locator("tr.run-row")
    page.fill("input[name=q]", first[-6:])  # htmx swaps the table, the URL follows
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(first[-6:]))
    assert page.locator(f"tr[data-run='{first}']").is_visible()
    page.fill("input[name=q]", "")
    expect(rows).to_have_count(2)
    page.select_option("select[name=optimizer]", "mutate")
    expect(rows).to_have_count(1)
    assert page.locator(f"tr[data-run='{second}']").is_visible()
    page.select_option("select[name=optimizer]", "")
    expect(rows).to_have_count(2)
    page.check(f"input[value='{first}']")
    page.check(f"input[value='{second}']")
    page.click("#compare-selected")
    page.wait_for_load_state()
    assert "/compare" in page.url and page.locator("h1").inner_text() == "Compare 2 prompts"
    assert page.locator("#matrix th.col").count() == 2
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    watched.check()


def filter_checks(page: Any, view: str) -> None:
    """The filters of the matrix ``view`` (a CSS selector) hide and show its rows only."""
    rows = page.locator(f"{view} tr.example")
    total = rows.count()
    failing = page.locator(f"{view} tr.example[data-failing='1']").count()
    differs = page.locator(f"{view} tr.example[data-differs='1']").count()
    assert 0 < differs <= failing < total
    page.check(f"{view} input.f-failing")
    assert page.locator(f"{view} tr.example:visible").count() == failing
    assert page.locator(f"{view} .shown-count").inner_text() == str(failing)
    page.check(f"{view} input.f-differs")
    assert page.locator(f"{view} tr.example:visible").count() <= differs
    page.uncheck(f"{view} input.f-failing")
    page.uncheck(f"{view} input.f-differs")
    assert page.locator(f"{view} tr.example:visible").count() == total


def matrix_checks(page: Any) -> None:
    """The matrix filters and a cell's details, on a run's page: the val matrix, then the
    held-out one (seed and best on test), whose filters leave the val matrix alone."""
    filter_checks(page, "#matrix")
    # the example whose output is a script tag: its cell shows the tag as text
    hostile = page.locator("#matrix tr.example", has_text="broke at once")
    hostile.locator("td.cell.fail").first.click()
    detail = page.locator("#matrix .detail")
    assert detail.is_visible()
    assert "<script>window.__pwned = 1</script>" in detail.inner_text()
    assert "exact_match" in detail.inner_text() and "input: text" in detail.inner_text()
    assert page.locator("#test-matrix th.col").all_inner_texts()[0].startswith("seed")
    val_rows = page.locator("#matrix tr.example:visible").count()
    page.check("#test-matrix input.f-failing")
    assert page.locator("#matrix tr.example:visible").count() == val_rows
    page.uncheck("#test-matrix input.f-failing")
    filter_checks(page, "#test-matrix")
    page.locator("#test-matrix td.cell").first.click()
    assert page.locator("#test-matrix .detail").is_visible()


def test_matrix_in_the_dashboard(watched: Watched, sample_home: Home, tmp_path: Path) -> None:
    page = watched.open(f"/runs/{sample_home.runs[0]}")
    matrix_checks(page)
    page.screenshot(path=str(tmp_path / "matrix.png"), full_page=True)
    watched.check()


def test_the_standalone_report(chromium: Any, sample_home: Home, tmp_path: Path) -> None:
    from honed.lifecycle.report.build import build_report
    from honed.web.document import report_html

    path = tmp_path / "report.html"
    path.write_text(report_html(build_report([sample_home.runs[0]], sample_home.home)))
    watched = Watched(chromium, path.as_uri())
    try:
        page = watched.open("")
        matrix_checks(page)
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        watched.check()
        assert set(watched.requests) == {path.as_uri()}  # the file and nothing else
    finally:
        watched.close()


def test_promote_needs_an_admin_sign_in(watched: Watched, sample_home: Home,
                                        tmp_path: Path) -> None:
    page = watched.open("/registry/sentiment")
    page.locator("tr[data-version='2'] a.promote-link").click()
    page.wait_for_load_state()
    assert "Read-only" in page.inner_text("main")
    page.click("#sign-in")
    page.fill("input[name=key]", "hnd_not_a_key")
    page.click("#login-form button")
    assert "unknown or revoked key" in page.inner_text("#login-error")
    assert watched.errors == ["Failed to load resource: the server responded with a status of "
                              "401 (Unauthorized)"]
    watched.errors.clear()
    page.fill("input[name=key]", sample_home.keys["admin"])
    page.click("#login-form button")
    page.wait_for_url("**/registry/sentiment/promote?version=2")  # back where it started
    page.click("#confirm")
    page.wait_for_load_state()
    assert "promoted sentiment/2 to production" in page.inner_text("#done")
    page.screenshot(path=str(tmp_path / "promoted.png"), full_page=True)
    registry = open_registry(sample_home.home, backend="local")
    assert registry.aliases("sentiment")["production"] == 2
    page.select_option("select[name=a]", "2")  # htmx: the diff between two versions
    page.select_option("select[name=b]", "1")
    expect(page.locator("#diff > h3")).to_have_text("sentiment/2 → sentiment/1")
    watched.check()


def test_experiments_drift_and_loop(watched: Watched, sample_home: Home,
                                    tmp_path: Path) -> None:
    page = watched.open("/experiments")
    assert page.locator("#srm-alarms").is_visible()  # the sample's exp-001 is skewed
    assert page.locator("tr.experiment-row").count() == 12
    page.click("tr[data-experiment='exp-000'] a")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().startswith("exp-000")
    assert page.locator("#history svg.chart polygon.band").count() == 1
    page.screenshot(path=str(tmp_path / "experiment.png"), full_page=True)
    watched.check()
    page = watched.open("/experiments/exp-004")  # stopped: the reason holds an img tag
    assert '<img src="x"' in page.locator("#decisions dl.evidence").first.inner_text()
    page.locator("#decisions details summary").first.click()
    assert "last_result" in page.locator("#decisions details pre").first.inner_text()
    watched.check()
    page = watched.open("/loop")
    assert page.locator("tr.cycle-row").count() == 12
    page.locator("tr.cycle-row[data-cycle='10'] + tr details summary").click()
    detail = page.locator("tr.cycle-row[data-cycle='10'] + tr details pre").first
    assert detail.is_visible() and "<script>window.__pwned = 1</script>" in page.locator(
        "tr.cycle-row[data-cycle='10'] + tr details").inner_text()
    page.screenshot(path=str(tmp_path / "loop.png"), full_page=True)
    watched.check()
    page = watched.open("/drift")
    opened = page.locator("tr.alarm-row.open").count()
    page.locator("tr.alarm-row.open a.clear-link").first.click()
    page.wait_for_load_state()
    assert "Read-only" in page.inner_text("main")
    page.click("#sign-in")
    page.fill("input[name=key]", sample_home.keys["admin"])
    page.click("#login-form button")
    page.wait_for_url("**/drift/clear?**")  # back at the confirmation
    page.click("#confirm")
    page.wait_for_load_state()
    assert "cleared 1 alarm" in page.inner_text("#done")
    page = watched.open("/drift")
    assert page.locator("tr.alarm-row.open").count() == opened - 1
    page.screenshot(path=str(tmp_path / "drift.png"), full_page=True)
    watched.check()


def _running_run(home: Path, deadline: float) -> str:
    """The id of the run that has started in ``home`` (waits for its row)."""
    while time.monotonic() < deadline:
        if (home / "runs.sqlite").exists():
            store = RunStore(home / "runs.sqlite")
            try:
                rows = store.runs(None, 1)
            finally:
                store.close()
            if rows and rows[0].status == "running":
                return rows[0].id
        time.sleep(0.05)
    raise AssertionError("the optimization did not start")


def test_live_view_of_a_running_optimization(chromium: Any, serve: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    task = write_task(tmp_path)
    done: dict[str, Any] = {}

    def optimize() -> None:
        done["result"] = asyncio.run(run_sample(task, home=home, max_calls=150,
                                                latency_s=0.2))

    worker = threading.Thread(target=optimize, daemon=True)
    worker.start()
    with serve(create_app(home, poll_s=0.1)) as server:
        run = _running_run(home, time.monotonic() + 30)
        watched = Watched(chromium, server.url)
        try:
            page = watched.page
            page.goto(f"{server.url}/runs/{run}")
            assert page.locator("#live .badge").first.inner_text() == "running"
            assert page.locator("#live[data-events]").count() == 1
            live = page.locator("#live")
            expect(live).not_to_have_attribute("data-updates", "0", timeout=20_000)
            page.screenshot(path=str(tmp_path / "live-running.png"), full_page=True)
            expect(live).to_have_attribute("data-done", "1", timeout=60_000)
            worker.join(timeout=30)
            assert page.locator("#live .badge").first.inner_text() == "finished"
            assert page.locator("#live #matrix tr.example").count() == 10
            best = f"{done['result']['best']['val']['score']:.3f}"
            assert best in page.inner_text("#summary")
            page.screenshot(path=str(tmp_path / "live-finished.png"), full_page=True)
            watched.check()
        finally:
            watched.close()
