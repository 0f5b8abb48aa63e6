"""Plots as inline SVG: axes that cover the data, text escaped, no script or link."""

from __future__ import annotations

from honed.web.svg import Series, bar, chart, nice_ticks, time_ticks


def test_ticks_cover_the_data() -> None:
    assert nice_ticks(0, 1) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ticks = nice_ticks(3, 105)
    assert ticks[0] <= 3 and ticks[-1] >= 105 and len(ticks) <= 7
    assert nice_ticks(5, 5)[0] <= 5 <= nice_ticks(5, 5)[-1]
    day = 86400.0
    hours = time_ticks(1_800_000_000.0, 1_800_000_000.0 + day)
    assert hours[0] <= 1_800_000_000.0 and hours[-1] >= 1_800_000_000.0 + day
    assert all(t % 3600 == 0 for t in hours)


def test_chart_escapes_its_text() -> None:
    svg = str(chart([Series("<script>x</script>", [(0, 0.5), (10, 1.0)], "dotline",
                            tips=["<img src=x onerror=alert(1)>", "ok"])],
                    x_label="calls & <b>", y_label="score"))
    assert svg.startswith("<svg") and "<script>" not in svg and "<img" not in svg
    assert "&lt;script&gt;" in svg and "calls &amp; &lt;b&gt;" in svg
    assert "href" not in svg and svg.count("<circle") == 2


def test_empty_and_bars() -> None:
    assert "<svg" in str(chart([], x_label="x", y_label="y"))
    assert 'width="45.0"' in str(bar(0.5, width=90)) and 'width="0.0"' in str(bar(None))
