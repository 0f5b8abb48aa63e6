from pathlib import Path

import pytest

from honed.errors import DatasetError
from honed.task.dataset import carve, read_rows, to_examples


def test_jsonl_and_csv(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"text": "x", "label": "y"}\n\n', encoding="utf-8")
    (tmp_path / "b.csv").write_text("text,label\nx,y\n", encoding="utf-8")
    assert read_rows(tmp_path / "a.jsonl") == read_rows(tmp_path / "b.csv")


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.jsonl", b'{"a": 1}\n{oops\n', "invalid JSON"),
    ("list.jsonl", b"[1, 2]\n", "expected a JSON object"),
    ("latin.jsonl", '{"a": "caf\u00e9"}\n'.encode("latin-1"), "not UTF-8"),
    ("data.txt", b"hello", "unsupported dataset format"),
    ("ragged.csv", b"a,b\n1,2,3\n", "more cells"),
])
def test_bad_files_name_the_culprit(tmp_path: Path, name: str, content: bytes,
                                    message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetError) as info:
        read_rows(path)
    assert message in str(info.value) and name in str(info.value)


def test_line_number_reported(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\nnot json\n', encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        read_rows(path)
    assert "d.jsonl:3" in str(info.value)


def test_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        read_rows(tmp_path / "nope.jsonl")
    with pytest.raises(DatasetError, match="empty"):
        to_examples([], "x.jsonl")


def test_ids_are_stable_and_unique() -> None:
    rows = [{"t": "a"}, {"t": "a"}, {"t": "b"}]
    first, second = to_examples(rows, "s"), to_examples(rows, "s")
    assert [e.id for e in first] == [e.id for e in second]
    assert len({e.id for e in first}) == 3


def test_carve_is_seeded_and_disjoint() -> None:
    examples = to_examples([{"i": i} for i in range(50)], "s")
    rest, carved = carve(examples, 0.2, seed=3)
    assert len(carved) == 10 and len(rest) == 40
    assert not {e.id for e in rest} & {e.id for e in carved}
    assert carve(examples, 0.2, seed=3) == (rest, carved)
    assert carve(examples, 0.2, seed=4) != (rest, carved)
