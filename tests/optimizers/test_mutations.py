"""The offline operators: deterministic, placeholder-safe, derived from the task and train."""

from __future__ import annotations

import re
from typing import Any

import honed
from honed.optimizers.mutations import (
    FORMAT_LABEL,
    STEP_BY_STEP,
    compose,
    delimit_input,
    drop_sentence,
    instruction_pool,
    keeps_placeholders,
    label_definitions,
    label_set,
    mutations,
    reorder_sentences,
    role_line,
    step_by_step,
    system_to_user,
    task_facts,
    task_labels,
    user_to_system,
)
from honed.task.config import load_splits
from honed.task.template import variables
from honed.types import Candidate

WORDS = {"positive": "great", "negative": "awful", "neutral": "blue"}


def rows(n: int, offset: int = 0) -> list[dict[str, str]]:
    labels = list(WORDS)
    return [{"text": f"{WORDS[labels[i % 3]]} thing number {offset + i}",
             "label": labels[i % 3], "topic": "shopping"} for i in range(n)]


def make_task(system: str = "Classify the review. Be brief.", user: str = "{text}",
              **extra: Any) -> honed.Task:
    return honed.Task(name="review_sentiment", model="fake",
                      prompt={"system": system, "user": user},
                      data={"train": rows(12), "val": rows(3, 100), "test": rows(3, 200)},
                      evals=[{"type": "exact_match", "expected": "{label}"}], **extra)


def facts_of(task: honed.Task):
    return task_facts(task, load_splits(task).train)


def test_labels_come_from_choices_else_from_train() -> None:
    task = make_task(output={"choices": ["positive", "negative", "neutral"]})
    assert task_labels(task, load_splits(task).train) == ("positive", "negative", "neutral")
    plain = make_task()
    assert task_labels(plain, load_splits(plain).train) == ("negative", "neutral", "positive")


def test_free_text_targets_are_not_a_label_set() -> None:
    task = honed.Task(name="t", model="fake", prompt={"user": "{q}"},
                      data={"train": [{"q": f"q{i}", "a": f"answer {i}"} for i in range(10)],
                            "val": [{"q": "v", "a": "x"}], "test": [{"q": "w", "a": "y"}]},
                      evals=[{"type": "exact_match", "expected": "{a}"}])
    facts = facts_of(task)
    assert facts.free_text and facts.labels == ()
    seed = task.seed_candidate()
    assert [c.system for c in step_by_step(seed, facts)] == [STEP_BY_STEP]
    assert label_set(seed, facts) == [] and label_definitions(seed, facts) == []


def test_label_set_format_and_definitions() -> None:
    task = make_task()
    facts, seed = facts_of(task), task.seed_candidate()
    (child,) = label_set(seed, facts)
    assert child.system.endswith("Possible labels: negative, neutral, positive.")
    assert child.meta["op"] == "state the label set"
    assert label_set(child, facts) == []  # already stated
    children = {c.meta["op"]: c for c in mutations(seed, facts)}
    assert FORMAT_LABEL in children["add an output-format line"].system
    guide = children["add label definitions from train"].system
    assert re.search(r'positive: e.g. "great thing number \d"$', guide)  # a shortest input
    assert step_by_step(seed, facts) == []  # labels: no step-by-step


def test_structural_operators() -> None:
    task = make_task(user="Read the review.\n{text}")
    facts, seed = facts_of(task), task.seed_candidate()
    assert [c.system for c in drop_sentence(seed, facts)] == ["Be brief.", "Classify the review."]
    assert reorder_sentences(seed, facts)[0].system == "Be brief. Classify the review."
    (moved,) = system_to_user(seed, facts)
    assert moved.system == "" and moved.user.startswith("Classify the review. Be brief.\n\n")
    (back,) = user_to_system(seed, facts)
    assert back.system.endswith("Read the review.") and back.user == "{text}"
    assert role_line(seed, facts)[0].system.startswith(
        "You are an expert classifier for this task: review sentiment.")


def test_delimiters_keep_the_placeholder() -> None:
    task = make_task()
    (child,) = delimit_input(task.seed_candidate(), facts_of(task))
    assert child.user == 'Text: """{text}"""'
    assert delimit_input(child, facts_of(task)) == []


def test_operators_are_deterministic_unique_and_keep_placeholders() -> None:
    task = make_task(system="Classify {topic} reviews. Use one word.",
                     user="Review follows.\n{text}\nDone.")
    facts, seed = facts_of(task), task.seed_candidate()
    first, second = mutations(seed, facts), mutations(seed, facts)
    assert [c.id for c in first] == [c.id for c in second]
    assert len({c.id for c in first}) == len(first) and seed.id not in {c.id for c in first}
    for child in first:
        assert "{text}" in child.user or "text" in variables(child.user)
        assert keeps_placeholders(seed, child)
        assert child.meta["op"]
    ops = {c.meta["op"] for c in first}
    assert "drop sentence 1" not in ops  # it would drop {topic} from the prompt
    assert "drop sentence 2" in ops


def test_keeps_placeholders_rejects_a_lost_field() -> None:
    parent = Candidate({"system": "", "user": "{text}"})
    assert not keeps_placeholders(parent, Candidate({"system": "{text}", "user": "Go."}))
    assert keeps_placeholders(parent, Candidate({"system": "", "user": "X: {text}"}))


def test_label_text_with_braces_is_escaped() -> None:
    task = make_task(output={"choices": ["{a}", "b"]})
    (child,) = label_set(task.seed_candidate(), facts_of(task))
    assert variables(child.system) == [] and "{{a}}" in child.system


def test_instruction_pool_composes_additive_operators() -> None:
    task = make_task()
    facts, seed = facts_of(task), task.seed_candidate().with_demos(("x",))
    pool = instruction_pool(seed, facts)
    assert pool[0].components == seed.components and pool[0].demos == ()
    assert len({c.id for c in pool}) == len(pool) <= 24
    ops = [c.meta["op"] for c in pool]
    assert "state the label set + add an output-format line" in ops
    stack = pool[1]
    assert stack.system.startswith("You are an expert classifier")
    assert "Possible labels:" in stack.system and "Label guide:" in stack.system
    assert FORMAT_LABEL in stack.system and stack.user == 'Text: """{text}"""'
    assert [c.id for c in instruction_pool(seed, facts)] == [c.id for c in pool]
    assert compose(seed, facts, (step_by_step,)) is None
