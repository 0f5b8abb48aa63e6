"""Demos written inline in the task file, and tasks without a demo answer template."""

import asyncio
import json
from pathlib import Path

import pytest

from honed import Task
from honed.cli.app import main
from honed.engine.session import open_engine
from honed.errors import ConfigError
from honed.lifecycle.apply import write_optimized
from honed.providers.fake import FakeModel
from honed.task.config import load_splits, load_task
from honed.task.dataset import to_examples
from honed.task.render import render_messages
from honed.types import Candidate


def inline_task(demos: list, **extra) -> Task:
    return Task(name="t", model="fake", prompt={"user": "{text}", "demos": demos},
                data={"train": [{"text": f"t{i}", "label": "a"} for i in range(10)]},
                evals=[{"type": "exact_match", "expected": "{label}"}], **extra)


def test_inline_demos_have_dataset_ids() -> None:
    rows = [{"text": "hi", "label": "b"}, {"text": "hi", "label": "b"}, {"label": "c", "text": "x"}]
    train_id = to_examples([{"text": "t0", "label": "a"}], "s")[0].id
    task = inline_task([*rows, train_id])
    expected = [ex.id for ex in to_examples(rows, "s")] + [train_id]
    assert task.seed_candidate().demos == tuple(expected)
    assert expected[1] == f"{expected[0]}-2"  # duplicates numbered as in a dataset
    assert {k: dict(v.fields) for k, v in task.demo_rows().items()} == dict(
        zip(expected[:3], rows, strict=True))
    load_splits(task)  # the train id and the inline rows are all known


def test_inline_demo_ids_follow_id_field() -> None:
    task = Task(name="t", model="fake", prompt={"user": "{text}", "demos": [
        {"id": 7, "text": "hi", "label": "b"}]},
        data={"train": [{"id": i, "text": f"t{i}", "label": "a"} for i in range(10)],
              "id_field": "id"}, evals=[{"type": "exact_match", "expected": "{label}"}])
    assert task.seed_candidate().demos == ("7",)


def test_inline_demo_missing_a_field_is_named() -> None:
    task = inline_task([{"text": "hi", "label": "b"}, {"text": "no label"}])
    with pytest.raises(ConfigError) as info:
        load_splits(task)
    text = str(info.value)
    assert "prompt.demos.1" in text and "no field 'label'" in text and "text, label" in text


def test_unknown_demo_id_is_named() -> None:
    with pytest.raises(ConfigError, match=r"prompt\.demos\.0.*'nope' is not in the train"):
        load_splits(inline_task(["nope"]))


def test_demos_must_be_ids_or_rows(make_task) -> None:
    path = make_task(make_task().read_text().replace(
        "  user: '{text}'\n", "  user: '{text}'\n  demos: [3]\n"))
    with pytest.raises(ConfigError) as info:
        load_task(path)
    text = str(info.value)
    assert "prompt.demos.0" in text and "valid string or a valid dictionary" in text
    assert "more problem" not in text


# A QA task scored only by `contains`: nothing says what a demo's answer is.
QA = dict(name="qa", model="fake", prompt={"user": "Q: {question}"},
          data={"train": [{"question": f"q{i}", "answer": f"a{i}"} for i in range(10)]},
          evals=[{"type": "contains", "value": "{answer}"}])


def test_contains_only_task_has_no_target() -> None:
    task = Task(**QA)
    assert task.target_template() is None
    load_splits(task)  # no demos: fine
    with pytest.raises(ConfigError) as info:
        task.demo_target_or_error()
    text = str(info.value)
    assert "(target)" in text and 'target: "{answer}"' in text and "question, answer" in text
    assert Task(**QA, target="{answer}").demo_target_or_error() == "{answer}"


def test_demos_without_a_target_fail_at_load() -> None:
    task = Task(**{**QA, "prompt": {"user": "Q: {question}",
                                    "demos": [{"question": "q", "answer": "a"}]}})
    with pytest.raises(ConfigError, match=r'target: "\{answer\}"'):
        load_splits(task)


# -- optimize-style round trip: demos written as rows survive the dataset changing ----------------
def _messages(task: Task, candidate: Candidate) -> list:
    splits = load_splits(task)

    async def go() -> list:
        async with open_engine(task, splits, model=FakeModel()) as engine:
            return [engine.request(candidate, ex).messages for ex in splits.test]

    return asyncio.run(go())


@pytest.mark.parametrize("pass_rows", [True, False])
def test_optimized_task_keeps_its_demos(make_task, pass_rows: bool) -> None:
    path = make_task(make_task().read_text().replace("name: t", "# a comment\nname: t  # same"))
    task = load_task(path)
    splits = load_splits(task)
    demos = (splits.train[4], splits.train[0])
    best = task.seed_candidate().with_components(system="Be terse.").with_demos(
        tuple(ex.id for ex in demos))
    before = _messages(task, best)
    rows = {ex.id: ex for ex in demos} if pass_rows else None
    out = write_optimized(task, best, "run1", {"val": (0.5, 0.7)}, rows)
    text = out.read_text()
    assert "# a comment" in text and "name: t  # same" in text
    assert "  demos:\n    - text: terrible service\n      label: negative\n" in text

    train = Path(task.base_dir) / "data" / "train.jsonl"  # the demo rows leave the dataset
    kept = [json.loads(line) for line in train.read_text().splitlines()]
    kept = [r for r in kept if r not in [dict(ex.fields) for ex in demos]]
    train.write_text("".join(json.dumps(r) + "\n" for r in kept))
    optimized = load_task(out)
    assert optimized.seed_candidate() == best
    assert _messages(optimized, optimized.seed_candidate()) == before
    assert any(len(m) == 6 for m in before)  # system, two demo turns each, the input
    same = render_messages(best, splits.test[0], {ex.id: ex for ex in demos}, "{label}")
    assert before[0] == same
    assert main(["eval", str(out), "--json", "--no-cache"]) == 0


def test_a_demo_id_no_row_backs_is_refused_not_written(make_task) -> None:
    task = load_task(make_task())
    best = task.seed_candidate().with_demos(("gone-id",))
    with pytest.raises(ConfigError, match="gone-id"):
        write_optimized(task, best, "r", {})
    assert not (Path(task.source).parent / "task.optimized.yaml").exists()
