from pathlib import Path

import pytest

from honed.errors import DatasetError
from honed.task.dataset import carve, read_rows, to_examples


def test_jsonl_and_csv(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"text": "x", "label": "y"}\n\n', encoding="utf-8")
    (tmp_path / "b.csv").write_text("text,label\nx,y\n", encoding="utf-8")
    assert read_rows(tmp_path / "a.jsonl") == read_rows(tmp_path / "b.csv")


def assert_names_culprit(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    """Reading the file raises a DatasetError naming the file and the problem."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetError) as info:
        read_rows(path)
    assert message in str(info.value) and name in str(info.value)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.jsonl", b'{"a": 1}\n{oops\n', "invalid JSON"),
    ("list.jsonl", b"[1, 2]\n", "expected a JSON object"),
    ("latin.jsonl", '{"a": "caf\u00e9"}\n'.encode("latin-1"), "not UTF-8"),
    ("data.txt", b"hello", "unsupported dataset format"),
    ("ragged.csv", b"a,b\n1,2,3\n", "more cells"),
])
def test_bad_files_name_the_culprit(tmp_path: Path, name: str, content: bytes,
                                    message: str) -> None:
    assert_names_culprit(tmp_path, name, content, message)


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


def test_line_separators_inside_json_strings(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a\u2028b\u0085c\u2029d"}\r\n\n{"text": "e"}\n', encoding="utf-8")
    assert [r["text"] for r in read_rows(path)] == ["a\u2028b\u0085c\u2029d", "e"]


def test_csv_keeps_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('text,label\r\n"two\nlines\u2028here",a\r\n\r\nb,c\r\n', encoding="utf-8")
    assert read_rows(path) == [{"text": "two\nlines\u2028here", "label": "a"},
                               {"text": "b", "label": "c"}]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_byte_order_marks(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes('{"text": "café"}\n'.encode(encoding))
    assert read_rows(path) == [{"text": "café"}]


def test_nan_infinity_and_nested_values_load(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": NaN, "b": Infinity, "c": {"d": [1, null]}}\n', encoding="utf-8")
    row = read_rows(path)[0]
    assert row["a"] != row["a"] and row["b"] == float("inf") and row["c"] == {"d": [1, None]}
    assert to_examples([row], "s")[0].id == to_examples([row], "s")[0].id


@pytest.mark.parametrize(("name", "content", "message"), [
    ("dup.jsonl", b'{"text": "a", "text": "b"}\n', "duplicate key 'text'"),
    ("dup.json", b'[{"a": 1}, {"a": 1, "a": 2}]', "duplicate key 'a'"),
    ("huge.jsonl", b'{"a": 1' + b"0" * 5000 + b"}\n", "invalid JSON"),
    ("deep.jsonl", b"[" * 100_000 + b"\n", "invalid JSON"),
    ("broken.json", b'[{"a": 1}, {"a"', "invalid JSON"),
    ("object.json", b'{"rows": []}', "must be a list of objects, not an object"),
    ("mixed.json", b'[{"a": 1}, [1, 2]]', "item 2 is a list, not an object"),
    ("utf16.jsonl", '{"text": "x"}\n'.encode("utf-16-le"), "UTF-16 without a byte-order mark"),
    ("latin.csv", "text\ncafé\n".encode("latin-1"), "looks like Latin-1"),
    ("dupcol.csv", b"text,label,text\na,b,c\n", "duplicate column 'text'"),
    ("short.csv", b"text,label\na,b\nc\n", "fewer cells than the header"),
    ("huge.csv", b"text\n" + b"x" * 200_000 + b"\n", "too long for CSV"),
    ("quote.csv", b'text\n"a"b\n', "invalid CSV"),
    ("open.csv", b'text\n"a\nb\n', "invalid CSV"),
])
def test_malformed_files_name_file_and_line(tmp_path: Path, name: str, content: bytes,
                                            message: str) -> None:
    assert_names_culprit(tmp_path, name, content, message)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".json"])
def test_empty_files_are_empty_datasets(tmp_path: Path, suffix: str, content: bytes) -> None:
    path = tmp_path / f"d{suffix}"
    path.write_bytes(content)
    assert read_rows(path) == []


def test_unreadable_paths(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="found a directory"):
        read_rows(tmp_path / "x.jsonl" if (tmp_path / "x.jsonl").mkdir() is None else tmp_path)
    with pytest.raises(DatasetError, match="cannot read"):
        read_rows(tmp_path / ("n" * 300 + ".jsonl"))
    with pytest.raises(DatasetError, match="cannot read"):
        read_rows(tmp_path / "a\x00b.jsonl")
