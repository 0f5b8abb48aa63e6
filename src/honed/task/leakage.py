"""Leakage by content: the same input in two splits, or twice in one.

Example ids catch a row copied verbatim; they miss ``"How can I reset my passcode?"`` in train
and ``"How can i reset my passcode ?"`` in test. Here an example's *input* is what the prompt
shows of it (the fields ``prompt.system`` and ``prompt.user`` reference; every field when they
reference none), normalized: Unicode NFKC, casefolded, whitespace collapsed, surrounding
punctuation stripped. Fields only evals or the target read (the answer) are not input.

``check_leakage`` reports duplicates inside each split and the overlap between what the search
sees (train and val) and test; ``drop_leaked`` removes the overlapping rows from train and val,
leaving test intact so held-out results stay comparable across runs.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from honed.errors import DatasetError
from honed.task.dataset import Splits
from honed.task.task import Task
from honed.task.template import variables
from honed.types import Example, canonical_json

Key = tuple[str, ...]


@dataclass(frozen=True)
class Overlap:
    """One input found in test and in train and/or val: the ids on each side."""

    excerpt: str
    test: tuple[str, ...]
    train: tuple[str, ...] = ()
    val: tuple[str, ...] = ()

    @property
    def search_ids(self) -> tuple[str, ...]:
        return self.train + self.val


@dataclass(frozen=True)
class LeakageReport:
    """``duplicates``: per split, groups of ids sharing one input; ``overlap``: inputs both in
    test and in train/val; ``fields``: the fields compared (empty: all of them)."""

    fields: tuple[str, ...]
    duplicates: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    overlap: list[Overlap] = field(default_factory=list)
    excerpts: dict[str, str] = field(default_factory=dict, repr=False)  # id -> short input

    @property
    def leaked(self) -> bool:
        return bool(self.overlap)

    @property
    def clean(self) -> bool:
        return not self.overlap and not any(self.duplicates.values())

    def leaked_ids(self) -> frozenset[str]:
        """Train and val ids whose input is also in test."""
        return frozenset(i for o in self.overlap for i in o.search_ids)

    def describe(self, limit: int = 5) -> str:
        """A few lines for a person: what leaks, with ids and excerpts."""
        if self.clean:
            return "no leakage: every input is unique and test shares none with train/val"
        return "\n".join([*self._overlap_lines(limit), *self._duplicate_lines(limit)])

    def _overlap_lines(self, limit: int) -> list[str]:
        if not self.overlap:
            return []
        n_test = sum(len(o.test) for o in self.overlap)
        lines = [f"{n_test} test example(s) have the same input as {len(self.leaked_ids())} "
                 "train/val example(s), so the held-out score would not be held out:"]
        for o in self.overlap[:limit]:
            sides = [f"{name} {', '.join(ids)}" for name, ids in
                     (("train", o.train), ("val", o.val)) if ids]
            lines.append(f"  test {', '.join(o.test)} = {'; '.join(sides)}: {o.excerpt!r}")
        if len(self.overlap) > limit:
            lines.append(f"  ... and {len(self.overlap) - limit} more")
        return lines

    def _duplicate_lines(self, limit: int) -> list[str]:
        lines = []
        for split, groups in self.duplicates.items():
            if not groups:
                continue
            lines.append(f"{split}: {len(groups)} input(s) appear more than once "
                         f"({sum(len(g) for g in groups)} rows):")
            lines += [f"  {', '.join(g)}: {self.excerpts.get(g[0], '')!r}"
                      for g in groups[:limit]]
            if len(groups) > limit:
                lines.append(f"  ... and {len(groups) - limit} more")
        return lines


def input_fields(task: Task) -> tuple[str, ...]:
    """The fields the prompt templates reference, in order of appearance."""
    found = variables(task.prompt.system) + variables(task.prompt.user)
    return tuple(dict.fromkeys(found))


def normalize(text: str) -> str:
    """NFKC, casefold, whitespace collapsed, punctuation stripped at both ends (symbols such as
    emoji are kept: they carry meaning, e.g. a tweet's emotion)."""
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    start, end = 0, len(folded)
    while start < end and _edge(folded[start]):
        start += 1
    while end > start and _edge(folded[end - 1]):
        end -= 1
    return folded[start:end]


def _edge(char: str) -> bool:
    return char.isspace() or unicodedata.category(char).startswith("P")


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else canonical_json(value)


def input_key(example: Example, fields: tuple[str, ...]) -> Key:
    names = fields or tuple(sorted(example.fields))
    return tuple(normalize(_text(example.fields.get(name))) for name in names)


def excerpt(example: Example, fields: tuple[str, ...], width: int = 60) -> str:
    names = fields or tuple(sorted(example.fields))
    text = " | ".join(" ".join(_text(example.fields.get(n)).split()) for n in names)
    return text if len(text) <= width else text[:width - 3] + "..."


def _groups(examples: Iterable[Example], fields: tuple[str, ...]) -> dict[Key, list[str]]:
    groups: dict[Key, list[str]] = defaultdict(list)
    for ex in examples:
        groups[input_key(ex, fields)].append(ex.id)
    return groups


def check_leakage(task: Task, splits: Splits) -> LeakageReport:
    """Duplicate inputs inside each split, and inputs test shares with train or val."""
    fields = input_fields(task)
    by_split = {name: _groups(splits.get(name), fields) for name in ("train", "val", "test")}
    duplicates = {name: [tuple(ids) for ids in groups.values() if len(ids) > 1]
                  for name, groups in by_split.items()}
    overlap = [Overlap("", tuple(ids), tuple(by_split["train"].get(key, ())),
                       tuple(by_split["val"].get(key, ())))
               for key, ids in by_split["test"].items()
               if key in by_split["train"] or key in by_split["val"]]
    examples = splits.by_id()
    shown = {i for g in duplicates.values() for ids in g for i in ids[:1]}
    excerpts = {i: excerpt(examples[i], fields) for i in shown | {o.test[0] for o in overlap}}
    overlap = [replace(o, excerpt=excerpts[o.test[0]]) for o in overlap]
    return LeakageReport(fields, duplicates, overlap, excerpts)


def drop_leaked(splits: Splits, report: LeakageReport) -> Splits:
    """``splits`` without the train and val rows whose input is also in test (test intact)."""
    leaked = report.leaked_ids()
    if not leaked:
        return splits
    train = tuple(ex for ex in splits.train if ex.id not in leaked)
    val = tuple(ex for ex in splits.val if ex.id not in leaked)
    for name, kept in (("train", train), ("val", val)):
        if not kept and getattr(splits, name):
            raise DatasetError(f"every {name} example has the same input as a test example",
                               field=f"data.{name}",
                               fix="the splits hold the same data: give distinct files")
    dropped = len(splits.train) - len(train) + len(splits.val) - len(val)
    note = f"{dropped} train/val row(s) dropped: their input is also in test"
    return Splits(train, val, splits.test, "; ".join(filter(None, [splits.carving, note])))

