import pytest

from honed.task.template import (
    from_double_brace,
    render,
    to_double_brace,
    unknown_variables,
    variables,
)


def test_render_fills_placeholders_and_keeps_other_braces() -> None:
    text = render('Say {label} as JSON {"a": 1} {{literal}}', {"label": "yes"})
    assert text == 'Say yes as JSON {"a": 1} {literal}'


def test_missing_value_raises_key_error() -> None:
    with pytest.raises(KeyError):
        render("{missing}", {})


def test_variables_and_unknown() -> None:
    assert variables("{a} {b} {a} {{c}}") == ["a", "b"]
    assert unknown_variables(["{text}", "{lbl}"], {"text", "label"}) == ["lbl"]


def test_double_brace_round_trip() -> None:
    original = 'Classify {text} -> {{json}} and {"k": 2}'
    mlflow = to_double_brace(original)
    assert mlflow == 'Classify {{text}} -> {json} and {"k": 2}'
    assert render(from_double_brace(mlflow), {"text": "X"}) == render(original, {"text": "X"})
