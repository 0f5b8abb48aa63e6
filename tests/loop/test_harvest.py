"""The cycle's data: the frozen test part is chosen by the input alone, so a row that was test
once is test in every later cycle, whatever else was harvested."""

from __future__ import annotations

from pathlib import Path

from honed.loop.config import LoopConfig
from honed.loop.harvest import split_rows


def config(**harvest: float) -> LoopConfig:
    return LoopConfig(prompt="support", task=Path("t.yaml"), harvest=harvest)  # type: ignore[arg-type]


def rows(n: int, start: int = 0) -> list[dict[str, str]]:
    return [{"text": f"request {i}", "label": "a" if i % 2 else "b"} for i in range(start, n)]


def test_the_test_part_is_frozen_across_cycles() -> None:
    _, _, first = split_rows(rows(300), "label", config())
    train, val, later = split_rows(rows(600, start=100), "label", config())
    first_inputs = {r["text"] for r in first if int(r["text"].split()[1]) >= 100}
    assert first_inputs <= {r["text"] for r in later}  # still test
    assert not first_inputs & {r["text"] for r in train + val}  # never trained on
    assert 0.2 < len(later) / 500 < 0.4


def test_the_label_does_not_move_a_row() -> None:
    same = [{"text": "x", "label": "a"}]
    other = [{"text": "x", "label": "b"}]
    assert [len(p) for p in split_rows(same, "label", config())] == [
        len(p) for p in split_rows(other, "label", config())]


def test_shares() -> None:
    train, val, test = split_rows(rows(2000), "label", config(test_share=0.5, val_share=0.5))
    assert abs(len(test) - 1000) < 100 and abs(len(val) - 500) < 80
    assert len(train) + len(val) + len(test) == 2000
