"""A registered judge used by reference: ``llm_judge`` with ``prompt: NAME@ALIAS`` loads the
version's prompt, demos and label scale; labels map to [0, 1] along the scale."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from honed.cli.app import main
from honed.errors import ConfigError
from honed.evals.base import EvalContext
from honed.evals.judge import (
    JudgePrompt,
    JudgeScale,
    LlmJudgeScorer,
    agrees,
    number_label,
    resolved,
)
from honed.lifecycle.judges import reference as ref
from honed.lifecycle.promote import promote, register_candidate
from honed.lifecycle.registries import open_registry
from honed.lifecycle.registry_memory import MemoryRegistry
from honed.providers.fake import FakeModel
from honed.task.eval_specs import LlmJudge
from honed.types import Candidate, Example

SYSTEM = "You grade answers about capitals.\nRUBRIC:\nThe answer names the right capital."
USER = "INPUT:\n{input}\n\nOUTPUT:\n{output}\n\nAnswer pass or fail, then REASON: <why>."
DEMOS = {"d-ok": {"id": "d-ok", "input": "question: capital of France?",
                  "output": "It is Paris.", "human": "pass"},
         "d-bad": {"id": "d-bad", "input": "question: capital of Japan?",
                   "output": "It is Kyoto.", "human": "fail"}}
JUDGE = Candidate({"system": SYSTEM, "user": USER}, ("d-ok", "d-bad"))
PASS_FAIL = JudgeScale(("fail", "pass"))
EXAMPLE = Example("e1", {"question": "capital of Italy?", "answer": "Rome"})


def judge_tags(labels: list[str] | None = None, **extra: str) -> dict[str, str]:
    return {ref.LABELS_TAG: json.dumps(labels or ["fail", "pass"]), ref.NUMERIC_TAG: "0",
            ref.KAPPA_TAG: "0.9", "honed.demo_target": "{human}", **extra}


def register_judge(registry: Any, name: str = "capitals-judge", **extra: str) -> int:
    version = register_candidate(registry, name, JUDGE, judge_tags(**extra), demo_rows=DEMOS)
    promote(registry, name, version.version)
    return version.version


def prompt_of(candidate: Candidate = JUDGE, **kw: Any) -> JudgePrompt:
    demos = {d: Example(d, row) for d, row in DEMOS.items()}
    return JudgePrompt("capitals-judge/1", candidate, kw.pop("scale", PASS_FAIL), demos, **kw)


def scorer(reply: str, judge: JudgePrompt | None = None, **spec: Any,
           ) -> tuple[LlmJudgeScorer, FakeModel]:
    model = FakeModel(reply)
    base = LlmJudge(type="llm_judge", prompt="capitals-judge@production", **spec)
    return LlmJudgeScorer(resolved(base, judge or prompt_of()), model, ["question"]), model


def grade(s: LlmJudgeScorer, output: str = "It is Rome.") -> Any:
    return asyncio.run(s.score(EvalContext(EXAMPLE, output)))


# the scale ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("reply", "label"), [
    ("pass", "pass"), ("PASS\nREASON: right city", "pass"), ("**Verdict:** fail", "fail"),
    ("Fail.", "fail"), ("Reason: the city is wrong\nLabel: fail", "fail"),
    ("I would say it is a pass", "pass"), ("it passes", None), ("", None),
])
def test_a_reply_names_one_label(reply: str, label: str | None) -> None:
    assert PASS_FAIL.parse(reply) == label


def test_labels_that_contain_each_other_and_numbers() -> None:
    words = JudgeScale(("incorrect", "correct"))
    assert words.parse("Incorrect: the city is wrong") == "incorrect"
    assert words.parse("correct, mostly") == "correct"
    scores = JudgeScale(("1", "2", "3", "4", "5"), numeric=True)
    assert [scores.parse(t) for t in ("4", "SCORE: 4/5", "Grade: 2 out of 5", "9", "none")] == \
        ["4", "4", "2", None, None]
    assert [scores.value(x) for x in ("1", "3", "5")] == [0.0, 0.5, 1.0]
    assert [number_label(v) for v in (4, 4.0, "4.0", 0.5)] == ["4", "4", "4", "0.5"]
    assert JudgeScale(("low", "mid", "high")).value("mid") == 0.5


def test_agrees_scores_the_judge_against_the_person() -> None:
    config = {"labels": ["fail", "pass"], "field": "human"}
    row = {"human": "fail", "comment": "Kyoto is not the capital"}
    assert agrees("fail\nREASON: wrong city", row, config).score == 1.0
    wrong = agrees("pass\nREASON: looks fine", row, config)
    assert (wrong.score, wrong.passed, wrong.category) == (0.0, False, "disagrees")
    assert "a person said fail" in wrong.feedback and "Kyoto is not" in wrong.feedback
    assert "looks fine" in wrong.feedback
    assert agrees("no idea", row, config).category == "unparsed"
    scale = {"labels": ["1", "2", "3", "4", "5"], "numeric": True, "ordinal": True,
             "field": "human"}
    assert agrees("4", {"human": "5"}, scale).score == pytest.approx(0.75)  # partial credit
    assert agrees("1", {"human": "5"}, scale).score == 0.0


# the scorer -----------------------------------------------------------------------------------
def test_registered_prompt_and_demos_reach_the_judge() -> None:
    s, model = scorer("pass\nREASON: Rome is right")
    result = grade(s)
    request = model.calls[0]
    roles = [m.role for m in request.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert request.messages[0].content == SYSTEM
    assert "OUTPUT:\nIt is Paris." in request.messages[1].content
    assert [request.messages[i].content for i in (2, 4)] == ["pass", "fail"]
    assert "INPUT:\nquestion: capital of Italy?" in request.messages[-1].content
    assert "OUTPUT:\nIt is Rome." in request.messages[-1].content
    assert "answer: Rome" not in request.messages[-1].content  # only the prompt's fields
    assert request.temperature == 0.0 and not request.output.choices
    assert (result.score, result.passed, result.feedback) == (1.0, True, "Rome is right")
    assert result.labels["judge_label"] == "pass"


def test_labels_map_along_the_scale_and_the_threshold_applies() -> None:
    low = grade(scorer("fail\nREASON: wrong")[0])
    assert (low.score, low.passed, low.category) == (0.0, False, "judge_low")
    five = JudgeScale(("1", "2", "3", "4", "5"), numeric=True)
    s, _ = scorer("4", prompt_of(scale=five), threshold=0.8)
    result = grade(s)
    assert (result.score, result.passed, result.feedback) == (0.75, False, "judge: 4")


def test_an_answer_without_a_label_is_an_error_not_a_zero() -> None:
    with pytest.raises(ValueError, match="names none of fail, pass"):
        grade(scorer("I cannot tell.")[0])


def test_a_constrained_judge_decodes_one_label() -> None:
    s, model = scorer("pass", prompt_of(constrained=True))
    grade(s)
    assert model.calls[0].output.choices == ("fail", "pass")


def test_a_reference_not_loaded_is_a_clear_error() -> None:
    spec = LlmJudge(type="llm_judge", prompt="capitals-judge@production")
    with pytest.raises(ConfigError, match="not loaded"):
        LlmJudgeScorer(spec, FakeModel("pass"))


def test_the_eval_needs_a_rubric_or_a_reference() -> None:
    with pytest.raises(ValidationError, match="needs a rubric"):
        LlmJudge(type="llm_judge")
    with pytest.raises(ValidationError, match="not a prompt reference"):
        LlmJudge(type="llm_judge", prompt="capitals judge")
    assert LlmJudge(type="llm_judge", prompt="capitals-judge/3").rubric == ""
    schema = LlmJudge.model_json_schema()["properties"]["prompt"]
    assert "honed judge align" in schema["description"]


# resolving references -------------------------------------------------------------------------
def task_with(evals: list[dict[str, Any]]) -> Any:
    import honed

    return honed.Task(name="capitals", model="fake", prompt={"user": "{question}"},
                      data={"train": [{"question": "q", "answer": "a"}] * 3}, evals=evals)


def test_resolve_loads_the_version_and_leaves_other_evals() -> None:
    registry = MemoryRegistry()
    register_judge(registry, "capitals-judge", **{ref.CONSTRAINED_TAG: "1"})
    task = task_with([{"type": "exact_match", "expected": "{answer}"},
                      {"type": "llm_judge", "name": "right",
                       "prompt": "capitals-judge@production"}])
    loaded = ref.resolve_judges(task, registry)
    judge = loaded.evals[1].registered  # type: ignore[union-attr]
    assert judge.ref == "capitals-judge/1" and judge.constrained
    assert judge.candidate == JUDGE and set(judge.demos) == {"d-ok", "d-bad"}
    assert judge.scale == PASS_FAIL and loaded.evals[0] == task.evals[0]
    assert "registered" not in loaded.model_dump(mode="json")["evals"][1]
    opened: list[int] = []
    plain = task_with([{"type": "exact_match"}])
    assert ref.resolve_judges(plain, lambda: opened.append(1) or registry) is plain
    assert not opened  # nothing to load: the registry is not opened


@pytest.mark.parametrize(("prompt", "tags", "message"), [
    ("capitals-judge@staging", None, "staging"),
    ("other@production", {}, "is not an aligned judge"),
    ("broken@production", {ref.LABELS_TAG: "not json"}, "is not an aligned judge"),
])
def test_a_bad_reference_names_the_eval(prompt: str, tags: dict[str, str] | None,
                                        message: str) -> None:
    registry = MemoryRegistry()
    register_judge(registry)
    if tags is not None:
        name = prompt.split("@")[0]
        version = registry.register(name, JUDGE, tags=tags)
        promote(registry, name, version.version)
    task = task_with([{"type": "llm_judge", "prompt": prompt}])
    with pytest.raises(ConfigError, match=message) as info:
        ref.resolve_judges(task, registry)
    assert info.value.field == "evals.0.prompt"


def test_honed_eval_uses_the_registered_judge(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              ) -> None:
    """The real entry point: a task whose judge is ``prompt: capitals-judge@production``."""
    register_judge(open_registry(Path(os.environ["HONED_HOME"])))
    answers = {"capital of Italy?": "It is Rome.", "capital of Peru?": "It is Lima.",
               "capital of Chile?": "It is Lima.", "capital of Kenya?": "It is Nairobi."}
    verdicts = {f"{q}\n\nOUTPUT:\n{a}": "fail\nREASON: wrong city" if "Chile" in q else
                "pass\nREASON: right" for q, a in answers.items()}
    (tmp_path / "answers.json").write_text(json.dumps(answers), encoding="utf-8")
    (tmp_path / "judge.json").write_text(json.dumps(verdicts), encoding="utf-8")
    rows = [{"question": q} for q in answers]
    task = {"name": "capitals", "model": "fake:file=answers.json", "tracking": "none",
            "prompt": {"user": "{question}"},
            "data": {"train": rows, "val": rows, "test": rows},
            "evals": [{"type": "llm_judge", "name": "right",
                       "prompt": "capitals-judge@production", "model": "fake:file=judge.json"}]}
    path = tmp_path / "task.yaml"
    path.write_text(json.dumps(task), encoding="utf-8")  # JSON is YAML
    assert main(["eval", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n"] == 4 and data["errors"] == 0 and data["per_eval"]["right"] == 0.75
    bad = {**task, "evals": [{"type": "llm_judge", "prompt": "capitals-judge@nope"}]}
    path.write_text(json.dumps(bad), encoding="utf-8")
    assert main(["eval", str(path)]) == 2
    err = capsys.readouterr().err
    assert "has no alias 'nope'" in err and "evals.0.prompt" in err and "Traceback" not in err


def test_honed_optimize_scores_with_the_registered_judge(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The optimize flow loads the reference too: a judge that passes only Rome and Lima."""
    register_judge(open_registry(Path(os.environ["HONED_HOME"])))
    (tmp_path / "judge.json").write_text(json.dumps(
        {"OUTPUT:\nRome": "pass\nREASON: right", "OUTPUT:\nLima": "pass\nREASON: right",
         "OUTPUT:\n": "fail\nREASON: wrong"}), encoding="utf-8")
    rows = [{"question": f"capital {i}?", "city": city}
            for i, city in enumerate(["Rome", "Lima", "Oslo", "Bern"] * 3)]
    task = {"name": "echo", "model": "fake", "tracking": "none",  # fake: echoes the prompt
            "prompt": {"user": "{city} ({question})"},
            "data": {"train": rows[:4], "val": rows[4:8], "test": rows[8:]},
            "evals": [{"type": "llm_judge", "name": "right", "prompt": "capitals-judge/1",
                       "model": "fake:file=judge.json"}]}
    path = tmp_path / "task.yaml"
    path.write_text(json.dumps(task), encoding="utf-8")
    code = main(["optimize", str(path), "--optimizer", "mutate", "--max-calls", "40",
                 "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    assert data["seed"]["val"]["score"] == 0.5 and data["seed"]["val"]["errors"] == 0


def test_gate_and_abtest_load_registered_judges(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """``honed gate`` and ``honed abtest`` evaluate with the registered judge loaded, from the
    registry of the run's home."""
    from honed.engine.session import EngineOptions
    from honed.lifecycle import abtest, gates
    from honed.task.gate_specs import GateSpec

    registry = open_registry(tmp_path, backend="local")
    register_judge(registry)
    registry.close()  # type: ignore[attr-defined]
    task = task_with([{"type": "llm_judge", "prompt": "capitals-judge@production"}])
    seen: list[Any] = []

    async def capture(task: Any, **_: Any) -> Any:
        seen.append(task.evals[0].registered)
        raise RuntimeError("enough")

    options = EngineOptions(home=tmp_path)
    seed, gate = task.seed_candidate(), GateSpec(metric="score", min=0.5)
    for module, call in (
            (gates, lambda: gates.run_gates(task, [gate], gates.GateRun(options=options))),
            (abtest, lambda: abtest.run_abtest(task, seed, seed,
                                               abtest.ABPlan(options=options)))):
        monkeypatch.setattr(module, "evaluate_task", capture)
        with pytest.raises(RuntimeError, match="enough"):
            asyncio.run(call())
    assert [judge.ref for judge in seen] == ["capitals-judge/1", "capitals-judge/1"]
