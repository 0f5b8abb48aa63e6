import pytest

from honed import Task
from honed.errors import DatasetError
from honed.task.dataset import Splits, to_examples
from honed.task.leakage import (
    LeakageReport,
    check_leakage,
    drop_leaked,
    input_fields,
    normalize,
)


def make_task(user: str = "{text}", system: str = "Classify.") -> Task:
    return Task(name="t", model="fake", prompt={"system": system, "user": user},
                data={"train": [{"text": "x", "label": "y"}]},
                evals=[{"type": "exact_match", "expected": "{label}"}])


def splits(train: list[dict], val: list[dict], test: list[dict]) -> Splits:
    return Splits(to_examples(train, "train"), to_examples(val, "val"), to_examples(test, "test"))


def row(text: str, label: str = "a", **extra: str) -> dict:
    return {"text": text, "label": label, **extra}


# Rows shaped like the near-duplicates real benchmark samples hold: the same question with
# another case, spacing or final punctuation; a tweet copied twice; the same sentence with a
# different label.
TRAIN = [row("How can I reset my passcode?", "passcode"), row("Card arrived broken", "damaged"),
         row("Watch this amazing live.ly broadcast #lively"),
         row("Watch this amazing live.ly broadcast #lively"), row("Where is my card?", "arrival")]
VAL = [row("  WHERE is   my card ", "arrival"), row("top up failed", "top_up")]
TEST = [row("How can i reset my passcode ?", "passcode"), row("Is the sentence plausible?"),
        row("Card arrived broken!!", "other label"), row("Is the sentence plausible?"),
        row("Where is my card", "arrival")]


@pytest.mark.parametrize(("text", "expected"), [
    ("How can i reset my passcode ?", "how can i reset my passcode"),
    ("  Multiple\t spaces\nand lines. ", "multiple spaces and lines"),
    ("«Ｆｕｌｌｗｉｄｔｈ»", "fullwidth"),  # NFKC, then quotes stripped
    ("Straße", "strasse"),  # casefold
    ("...", ""),
    ("great 😀", "great 😀"),  # symbols are not punctuation: kept
    ("a.b?", "a.b"),  # inner punctuation kept
])
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_overlap_and_duplicates_name_the_rows() -> None:
    data = splits(TRAIN, VAL, TEST)
    report = check_leakage(make_task(), data)
    train, val, test = data.train, data.val, data.test
    assert report.fields == ("text",)
    assert len(report.overlap) == 3
    by_test = {o.test[0]: o for o in report.overlap}
    assert by_test[test[0].id].train == (train[0].id,)
    assert by_test[test[2].id].train == (train[1].id,)  # labels differ: the input still leaks
    assert by_test[data.test[0].id].excerpt == "How can i reset my passcode ?"
    where = next(o for o in report.overlap if o.val)
    assert where.val == (val[0].id,) and where.train == (train[4].id,)
    assert report.duplicates["train"] == [(train[2].id, train[3].id)]
    assert report.duplicates["test"] == [(test[1].id, test[3].id)]
    assert report.duplicates["val"] == []
    assert report.leaked_ids() == {train[0].id, train[1].id, train[4].id, val[0].id}
    text = report.describe()
    assert test[0].id in text and train[0].id in text and "reset my passcode" in text
    assert "train: 1 input(s) appear more than once" in text and train[2].id in text


def test_drop_leaked_keeps_test_intact() -> None:
    data = splits(TRAIN, VAL, TEST)
    report = check_leakage(make_task(), data)
    dropped = drop_leaked(data, report)
    assert dropped.test == data.test
    assert [ex.id for ex in dropped.train] == [data.train[2].id, data.train[3].id]
    assert [ex.id for ex in dropped.val] == [data.val[1].id]
    assert "4 train/val row(s) dropped" in dropped.carving
    again = check_leakage(make_task(), dropped)
    assert not again.overlap and not again.leaked


def test_clean_splits() -> None:
    data = splits([row("a"), row("b")], [row("c")], [row("d")])
    report = check_leakage(make_task(), data)
    assert report.clean and drop_leaked(data, report) is data
    assert "no leakage" in report.describe()


def test_only_prompt_fields_are_input() -> None:
    # The same input with another answer leaks; the same answer to another input does not.
    task = make_task(user="Q: {question}", system="Context: {context}")
    data = splits([{"question": "2+2?", "context": "math", "answer": "4"},
                   {"question": "capital of France?", "context": "geo", "answer": "Paris"}],
                  [{"question": "x", "context": "y", "answer": "4"}],
                  [{"question": "2 + 2?", "context": "math", "answer": "4"},
                   {"question": "2+2", "context": "Math ", "answer": "four"},
                   {"question": "Capital of Italy?", "context": "geo", "answer": "Paris"}])
    assert input_fields(task) == ("context", "question")
    report = check_leakage(task, data)
    assert [(o.test, o.train, o.val) for o in report.overlap] == [
        ((data.test[1].id,), (data.train[0].id,), ())]
    assert report.overlap[0].excerpt == "Math | 2+2"


def test_all_fields_when_the_prompt_has_no_placeholders() -> None:
    task = make_task(user="Say something.", system="")
    data = splits([row("a", "x")], [row("b", "x")], [row("A", "X"), row("a", "other")])
    assert input_fields(task) == ()
    report = check_leakage(task, data)
    assert [o.test for o in report.overlap] == [(data.test[0].id,)]


def test_everything_leaked_is_an_error() -> None:
    data = splits([row("same")], [row("other")], [row("Same!")])
    with pytest.raises(DatasetError, match="every train example"):
        drop_leaked(data, check_leakage(make_task(), data))


def test_report_is_frozen() -> None:
    report = check_leakage(make_task(), splits([row("a")], [row("b")], [row("c")]))
    assert isinstance(report, LeakageReport)
    with pytest.raises(AttributeError):
        report.overlap = []  # type: ignore[misc]
