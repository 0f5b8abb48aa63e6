"""``honed judge align`` as a library: a biased judge scripted on the fake model is aligned from
kappa about 0 to at least 0.8 on held-out labels; refusals, the stratified split, the kappa
gate, and labels from the production log."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

import honed
from honed.engine.budget import Limits
from honed.errors import ConfigError, GateFailed
from honed.lifecycle.judges import reference as ref
from honed.lifecycle.judges.align import Alignment, AlignOptions, align, pick_judge
from honed.lifecycle.judges.judge_task import HUMAN, check_labels, split_rows
from honed.lifecycle.judges.ratings import Labelled, labelled_from_log
from honed.lifecycle.promote import blocked_from_tags, promote
from honed.lifecycle.registries import open_registry
from honed.lifecycle.registry import PRODUCTION, PromptRef
from honed.optimizers.session import SearchOptions
from honed.providers.base import Request
from honed.providers.fake import FakeModel, last_user
from honed.store import open_store

CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Spain": "Madrid",
            "Egypt": "Cairo", "Peru": "Lima", "Kenya": "Nairobi", "Chile": "Santiago",
            "Cuba": "Havana", "Iran": "Tehran", "Iraq": "Baghdad", "Mali": "Bamako",
            "Nepal": "Kathmandu", "Oman": "Muscat", "Laos": "Vientiane", "Togo": "Lome",
            "Fiji": "Suva", "Chad": "Ndjamena", "Niger": "Niamey", "Qatar": "Doha"}
BORDERLINE = "Laos"  # its wrong answer hedges: the judge lets it pass even when aligned
# (with seed 0 it lands in the held-out split)


def labelled() -> list[Labelled]:
    """40 labelled answers: each country once right (pass) and once wrong (fail)."""
    cities, rows = list(CAPITALS.values()), []
    for i, (country, city) in enumerate(CAPITALS.items()):
        question = {"question": f"What is the capital of {country}?"}
        rows.append(Labelled(f"{country}-ok", question, f"It is {city}.", "pass"))
        wrong = f"It is {cities[(i + 3) % len(cities)]}."
        if country == BORDERLINE:
            wrong = f"Possibly {city}, but I would say {cities[(i + 3) % len(cities)]}."
        rows.append(Labelled(f"{country}-bad", question, wrong, "fail",
                             comment="names the wrong city"))
    return rows


def truth(prompt: str) -> str:
    for country, city in CAPITALS.items():
        if f"capital of {country}?" in prompt:
            return "pass" if f"It is {city}." in prompt or "Possibly" in prompt else "fail"
    raise AssertionError(f"no question in {prompt!r}")


def biased_judge(request: Request) -> str:
    """Lenient: says pass unless its demos show it both verdicts; then it judges right,
    except for a hedged answer."""
    shown = {m.content.split("\n")[0] for m in request.messages if m.role == "assistant"}
    if {"pass", "fail"} <= shown:
        verdict = truth(last_user(request))
        return f"{verdict}\nREASON: {'names the capital' if verdict == 'pass' else 'wrong city'}"
    return "pass\nREASON: the answer looks fine"


def qa_task(evals: list[dict[str, Any]] | None = None) -> honed.Task:
    return honed.Task(name="capitals", model="fake", prompt={"user": "{question}"},
                      data={"train": [{"question": "q", "answer": "a"}] * 3},
                      evals=evals or [{"type": "llm_judge",
                                       "rubric": "The answer names the right capital."}])


def run(rows: list[Labelled], model: FakeModel, **options: Any) -> Alignment:
    home = Path(os.environ["HONED_HOME"])
    search = SearchOptions(limits=Limits(max_calls=options.pop("max_calls", 600)), home=home)
    task = options.pop("task", None) or qa_task()
    return asyncio.run(align(task, rows, AlignOptions(search=search, **options), model=model,
                             source="labels.jsonl"))


def test_alignment_takes_a_biased_judge_from_kappa_0_to_above_0_8() -> None:
    result = run(labelled(), FakeModel(biased_judge), promote=True)
    data = result.to_dict()
    before, after = data["before"], data["after"]
    assert data["labels"] == {"n": 40, "train": 20, "val": 8, "test": 12}
    assert before["n"] == after["n"] == 12
    assert abs(before["kappa"]) <= 0.1 and before["shares"]["pass"]["judge"] == 1.0
    assert after["kappa"] >= 0.8 and after["unparsed"] == 0 and after["errors"] == 0
    assert after["confusion"] == [[5, 1], [0, 6]]  # rows: people (fail, pass)
    assert data["change"]["diff"] >= 0.7 and data["change"]["ci95"][0] > 0
    assert len(data["prompt"]["demos"]) >= 2  # the search found demos of both verdicts
    [left] = data["disagreements"]  # what is left is the hedged answer, with its reason
    assert (left["id"], left["human"], left["judge"]) == (f"{BORDERLINE}-bad", "fail", "pass")
    assert left["reason"] == "names the capital" and left["comment"] == "names the wrong city"
    registered = data["registered"]
    assert registered["gate"] == "pass" and data["promoted"]["version"] == registered["version"]
    registry = open_registry(Path(os.environ["HONED_HOME"]))
    version = registry.get(PromptRef("capitals-judge", PRODUCTION))
    assert float(version.tags[ref.KAPPA_TAG]) == pytest.approx(after["kappa"])
    assert float(version.tags[ref.KAPPA_BEFORE_TAG]) == pytest.approx(before["kappa"])
    assert version.tags[ref.TEST_N_TAG] == "12" and not blocked_from_tags(version.tags)
    judge = ref.judge_prompt(version)  # usable by reference, demos included
    assert judge.scale.labels == ("fail", "pass") and set(judge.demos) == set(
        version.candidate.demos)
    assert all(row.fields[HUMAN] in ("pass", "fail") for row in judge.demos.values())


def test_a_judge_that_stays_biased_is_registered_but_blocked() -> None:
    result = run(labelled(), FakeModel("pass\nREASON: fine"), promote=True, min_kappa=0.6,
                 name="lenient", max_calls=150)
    data = result.to_dict()
    assert data["after"]["kappa"] == 0.0 and data["registered"]["blocked"] == ["kappa>=0.6"]
    assert result.refused is not None and "below --min-kappa 0.6" in result.refused
    registry = open_registry(Path(os.environ["HONED_HOME"]))
    assert PRODUCTION not in registry.aliases("lenient")
    version = registry.get(PromptRef("lenient", "candidate"))
    with pytest.raises(GateFailed, match=r"kappa>=0\.6"):  # as `honed registry promote` does
        promote(registry, "lenient", version.version, blocked=blocked_from_tags(version.tags))


def test_aligning_a_registered_judge_starts_from_it() -> None:
    run(labelled(), FakeModel(biased_judge), promote=True)
    task = qa_task([{"type": "llm_judge", "prompt": "capitals-judge@production"}])
    data = run(labelled(), FakeModel(biased_judge), task=task, name="capitals-judge-2",
               max_calls=120).to_dict()
    assert data["before"]["kappa"] >= 0.8  # its demos came along


@pytest.mark.parametrize(("labels", "message"), [
    (["pass"] * 5 + ["fail"] * 4, "9 labels are too few"),
    (["pass"] * 12, "every label is 'pass'"),
    ([str(i) for i in range(25)], "25 distinct labels"),
])
def test_refuses_what_cannot_be_aligned(labels: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_labels(labels, "labels.jsonl")
    rows = [Labelled(f"r{i}", f"q{i}", f"a{i}", x) for i, x in enumerate(labels)]
    with pytest.raises(ConfigError, match=message):
        run(rows, FakeModel("pass"))


def test_warns_on_imbalance() -> None:
    assert check_labels(["pass"] * 18 + ["fail"] * 2, "f")[0].startswith("labels are imbalanced")
    assert check_labels(["pass"] * 6 + ["fail"] * 6, "f") == []


def test_split_is_stratified_seeded_and_keeps_items_together() -> None:
    rows = [{"id": f"r{i}", "input": f"q{i % 30}", "output": "a", HUMAN: "pass" if i % 30 < 20
             else "fail"} for i in range(60)]  # every item rated twice
    train, val, test = split_rows(rows, test=0.3, val=0.25, seed=1, source="f")
    assert (len(train), len(val), len(test)) == (30, 12, 18)
    sides = {}
    for name, part in (("train", train), ("val", val), ("test", test)):
        for row in part:
            assert sides.setdefault(row["input"], name) == name  # an item stays in one split
    assert sum(r[HUMAN] == "fail" for r in test) == 6  # 30% of each label
    assert split_rows(rows, test=0.3, val=0.25, seed=1, source="f")[2] == test
    assert split_rows(rows, test=0.3, val=0.25, seed=2, source="f")[2] != test


def test_the_judge_to_align_is_chosen_by_name() -> None:
    with pytest.raises(ConfigError, match="no llm_judge eval"):
        pick_judge(qa_task([{"type": "exact_match", "expected": "{answer}"}]), None)
    two = qa_task([{"type": "llm_judge", "name": "a", "rubric": "r"},
                   {"type": "llm_judge", "name": "b", "rubric": "s"}])
    with pytest.raises(ConfigError, match="2 llm_judge evals") as info:
        pick_judge(two, None)
    assert "--eval" in str(info.value) and pick_judge(two, "b").rubric == "s"
    with pytest.raises(ConfigError, match="no llm_judge eval named 'c'"):
        pick_judge(two, "c")


def test_labels_from_production_feedback() -> None:
    with open_store(home=os.environ["HONED_HOME"]) as store:
        for i, output in enumerate(["It is Paris.", "It is Lyon.", None, "It is Rome."]):
            store.log_request({"id": f"req-{i}", "prompt": "capitals", "version": 1,
                               "inputs": {"question": f"q{i}"}, "output": output,
                               "created": 100.0 + i})
        store.add_feedback("req-0", score=1.0)
        store.add_feedback("req-1", label="pass")
        store.add_feedback("req-1", label="fail", comment="Lyon is not the capital")
        store.add_feedback("req-2", label="fail")  # no output: nothing was judged
        store.add_feedback("req-3", comment="no verdict")  # a comment only: no label
        logged = store.requests(prompt="capitals", with_feedback=True)
    rows = sorted(labelled_from_log(logged), key=lambda r: r.id)
    assert [(r.id, r.human, r.comment) for r in rows] == [
        ("req-0", 1.0, None), ("req-1", "fail", "Lyon is not the capital")]
    assert rows[1].input == {"question": "q1"} and rows[1].output == "It is Lyon."
