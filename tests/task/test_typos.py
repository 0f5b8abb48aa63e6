"""Property: a task file with one misspelt key names that key, its line, and the nearest key."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honed.errors import ConfigError
from honed.task.config import load_task

TASK = """name: t
model: fake
tracking: none
prompt:
  system: Classify.
  user: '{text}'
data:
  train: data/train.jsonl
evals:
  - type: exact_match
    expected: '{label}'
"""
# (the line a key of that section goes on, the keys valid there, the ones the file has)
SECTIONS = {"": (1, ["name", "description", "model", "judge_model", "reflection_model", "prompt",
                     "data", "evals", "output", "target", "pricing", "gates", "tracking"]),
            "prompt": (5, ["system", "user", "demos", "registry"]),
            "data": (8, ["train", "val", "test", "split", "id_field"])}


@st.composite
def typos(draw: st.DrawFn) -> tuple[str, str, str]:
    """(section, a misspelling of one of its keys, that key)."""
    section = draw(st.sampled_from(sorted(SECTIONS)))
    word = draw(st.sampled_from(SECTIONS[section][1]))
    i = draw(st.integers(0, len(word) - 1))
    edit = draw(st.sampled_from(["drop", "swap", "add"]))
    if edit == "drop":
        wrong = word[:i] + word[i + 1:]
    elif edit == "swap" and i + 1 < len(word):
        wrong = word[:i] + word[i + 1] + word[i] + word[i + 2:]
    else:
        wrong = word[:i] + draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz_")) + word[i:]
    return section, wrong, word


@settings(max_examples=150, derandomize=True, database=None, deadline=None)
@given(case=typos())
def test_one_typo_is_named_with_the_nearest_key(tmp_path_factory: pytest.TempPathFactory,
                                                case: tuple[str, str, str]) -> None:
    section, wrong, word = case
    line, valid = SECTIONS[section]
    if wrong in valid or len(wrong) < 3:
        return
    lines = TASK.splitlines(keepends=True)
    indent = "  " if section else ""
    lines.insert(line - 1, f"{indent}{wrong}: x\n")
    path = tmp_path_factory.mktemp("typo") / "task.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_task(path)
    text = str(info.value)
    field = f"{section}.{wrong}" if section else wrong
    assert text.startswith(f"{path}:{line} ({field}): unknown field {wrong!r}"), text
    assert "fix: did you mean" in text or "valid here:" in text, text
    if len(word) >= 5:
        assert f"fix: did you mean {word!r}?" in text, text
