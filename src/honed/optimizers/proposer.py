"""Ask the reflection model for candidate prompts and parse its answer robustly.

The meta-prompts (``prompts/reflect.md``, ``prompts/merge.md``) ask for blocks::

    <<<RATIONALE ... >>>  <<<SYSTEM ... >>>  <<<USER ... >>>

repeated once per candidate; a JSON list of ``{"system", "user", "rationale"}`` objects is
accepted too. Anything unparseable is skipped and counted, never raised. Placeholders are checked
against the seed: a user template that lost one (``{text}``) gets it appended back, a placeholder
the seed does not have (``{label}`` would leak the answer) is escaped to literal text. Proposals
are deduplicated by candidate id. A reflection call that still fails after the client's retries
(other than bad credentials) yields no proposal rather than ending the search.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from pydantic import PrivateAttr

from honed.errors import AuthError, ProviderError
from honed.optimizers.base import SearchContext
from honed.optimizers.params import OptimizerParams
from honed.task.template import render, variables
from honed.types import Candidate, Message

SYSTEM = ("You are an expert prompt engineer. You rewrite prompts so that a language model "
          "passes automatic evaluations. You answer in the exact format requested.")
_BLOCK = re.compile(r"<<<\s*(SYSTEM|USER|RATIONALE)\s*\n?(.*?)\n?[ \t]*>>>",
                    re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def meta_prompt(name: str) -> str:
    """A meta-prompt shipped in ``honed/optimizers/prompts``."""
    return resources.files("honed.optimizers").joinpath("prompts", name).read_text("utf-8")


@dataclass(frozen=True)
class Proposal:
    candidate: Candidate
    rationale: str


@dataclass
class ProposalStats:
    """Counts over every reflection answer of a search."""

    answers: int = 0
    parsed: int = 0
    junk: int = 0
    failed_calls: int = 0
    repaired: int = 0
    duplicates: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def parse_blocks(text: str) -> list[dict[str, str]]:
    """``<<<TAG ... >>>`` blocks grouped into candidates; a repeated tag starts a new one."""
    groups: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for match in _BLOCK.finditer(text):
        tag, body = match.group(1).lower(), match.group(2).strip("\n")
        if tag in current:
            groups.append(current)
            current = {}
        current[tag] = body
    if current:
        groups.append(current)
    return groups


def parse_json(text: str) -> list[dict[str, str]]:
    """A JSON object or list of objects with system/user/rationale (fenced or bare)."""
    for chunk in [*_FENCE.findall(text), text]:
        try:
            data: Any = json.loads(chunk.strip())
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(data, dict):
            data = data.get("candidates", [data])
        if isinstance(data, list):
            return [{k: str(v) for k, v in item.items() if k in ("system", "user", "rationale")}
                    for item in data if isinstance(item, dict)]
    return []


def parse(text: str) -> tuple[list[dict[str, str]], int]:
    """(candidate dicts, number of junk groups): groups with neither system nor user are junk."""
    groups = parse_blocks(text) or parse_json(text)
    good = [g for g in groups if g.get("system", "").strip() or g.get("user", "").strip()]
    return good, len(groups) - len(good) if groups else 1


@dataclass(frozen=True)
class Placeholders:
    """The seed's placeholders: ``required`` in the user template, ``allowed`` anywhere."""

    required: tuple[str, ...]
    allowed: frozenset[str]

    @classmethod
    def of(cls, seed: Candidate) -> Placeholders:
        required = tuple(variables(seed.user))
        return cls(required, frozenset(required) | frozenset(variables(seed.system)))

    def escape_unknown(self, template: str) -> str:
        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None or name in self.allowed:
                return match.group(0)
            return "{{" + name + "}}"

        return _PLACEHOLDER.sub(sub, template)

    def repair(self, system: str, user: str) -> tuple[str, str, bool]:
        """(system, user, changed): unknown placeholders escaped, missing ones appended."""
        fixed_system, fixed_user = self.escape_unknown(system), self.escape_unknown(user)
        missing = [n for n in self.required if n not in variables(fixed_user)]
        if missing:
            tail = "\n\n".join("{" + n + "}" for n in missing)
            fixed_user = f"{fixed_user.rstrip()}\n\n{tail}" if fixed_user.strip() else tail
        changed = (fixed_system, fixed_user) != (system, user)
        return fixed_system, fixed_user, changed

    def describe(self) -> tuple[str, str]:
        required = ", ".join(f"`{{{n}}}`" for n in self.required) or "(none)"
        extra = sorted(self.allowed - set(self.required))
        note = ("The system part may also use " + ", ".join(f"`{{{n}}}`" for n in extra)
                + ". ") if extra else ""
        return required, note


@dataclass
class Proposer:
    """Renders a meta-prompt, calls ``ctx.reflect``, parses, validates and dedupes."""

    seed: Candidate
    temperature: float = 0.7
    retries: int = 1
    stats: ProposalStats = field(default_factory=ProposalStats)

    @property
    def placeholders(self) -> Placeholders:
        return Placeholders.of(self.seed)

    def task_text(self, ctx: SearchContext) -> str:
        lines = [f"Task name: {ctx.task.name}"]
        if ctx.task.description:
            lines.append(ctx.task.description)
        out = ctx.task.output
        if out is not None and out.choices:
            lines.append("Allowed answers: " + ", ".join(repr(c) for c in out.choices))
        return "\n".join(lines)

    async def propose(self, ctx: SearchContext, parent: Candidate, feedback: str,
                      memory: str = "", *, n: int = 3,
                      exclude: Iterable[str] = ()) -> list[Proposal]:
        """Up to ``n`` new candidates rewriting ``parent`` (ids in ``exclude`` are dropped)."""
        values = {"system": parent.system, "user": parent.user, "feedback": feedback,
                  "memory": memory or "(no earlier iterations)", "n": n}
        return await self._ask(ctx, "reflect.md", values, parent, n, exclude)

    async def merge(self, ctx: SearchContext, a: Candidate, b: Candidate, leads: tuple[int, int],
                    feedback: str, *, n: int = 1, exclude: Iterable[str] = ()) -> list[Proposal]:
        """Up to ``n`` candidates combining ``a`` and ``b``."""
        values = {"a_system": a.system, "a_user": a.user, "b_system": b.system,
                  "b_user": b.user, "a_leads": leads[0], "b_leads": leads[1],
                  "feedback": feedback, "n": n}
        return await self._ask(ctx, "merge.md", values, a, n, exclude)

    async def _ask(self, ctx: SearchContext, template: str, values: Mapping[str, Any],
                   parent: Candidate, n: int, exclude: Iterable[str]) -> list[Proposal]:
        required, note = self.placeholders.describe()
        text = render(meta_prompt(template), {**values, "task": self.task_text(ctx),
                                              "required": required, "allowed_note": note})
        messages = (Message("system", SYSTEM), Message("user", text))
        seen = {parent.id, *exclude}
        proposals: list[Proposal] = []
        for _ in range(1 + self.retries):
            try:
                answer = await ctx.reflect(messages, temperature=self.temperature)
            except AuthError:
                raise
            except ProviderError:  # already retried by the client: this round gets nothing
                self.stats.failed_calls += 1
                continue
            proposals += self.accept(answer, parent, seen)
            if proposals:
                break
        return proposals[:n]

    def accept(self, answer: str, parent: Candidate, seen: set[str]) -> list[Proposal]:
        """Parse one answer into new, valid proposals; ``seen`` grows with their ids."""
        self.stats.answers += 1
        groups, junk = parse(answer)
        self.stats.junk += junk
        proposals: list[Proposal] = []
        for group in groups:
            system = group.get("system", parent.system)
            user = group.get("user", "") or parent.user
            system, user, repaired = self.placeholders.repair(system, user)
            self.stats.repaired += int(repaired)
            candidate = parent.with_components(system=system, user=user)
            if candidate.id in seen:
                self.stats.duplicates += 1
                continue
            seen.add(candidate.id)
            self.stats.parsed += 1
            proposals.append(Proposal(candidate, group.get("rationale", "").strip()))
        return proposals


class ProposingOptimizer(OptimizerParams):
    """An optimizer whose proposals come through a ``Proposer``: it keeps the last search's
    proposal statistics."""

    _stats: ProposalStats = PrivateAttr(default_factory=ProposalStats)

    @property
    def stats(self) -> ProposalStats:
        """The last search's proposal statistics."""
        return self._stats
