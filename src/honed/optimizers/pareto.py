"""Pareto search (GEPA-style): evolve a pool of candidates along the per-example val frontier.

The frontier holds every candidate that is best on at least one val example and that no other
candidate dominates (at least as good everywhere, better somewhere). Each iteration selects a
parent from it with probability proportional to how many val examples it leads (``ctx.rng``),
mutates it, and accepts the child when it beats the parent on the same train minibatch; an
accepted child is scored on val and joins the pool. Mutation is reflective (the parent's minibatch
failures go to the reflection model through the proposer) or, when there is no reflection model,
one of the offline operators of ``honed.optimizers.mutations``. Every ``merge_every`` iterations two
frontier lineages are merged (system from one, user from the other; the reflection model merges
them when that crossover brings nothing new), accepted when the child beats both parents on a
minibatch. ``frontier()`` reports the final frontier.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr

from honed.optimizers.base import Scored, SearchContext
from honed.optimizers.feedback import ExampleView, describe, failed_results
from honed.optimizers.memory import EvalMemo
from honed.optimizers.proposer import (
    Placeholders,
    Proposal,
    ProposalStats,
    Proposer,
    ProposingOptimizer,
)
from honed.types import Candidate, Example

MAX_IDLE = 5  # iterations in a row that produce no new child end the search
Mutator = Callable[[Candidate], list[Candidate]]


def dominates(a: Mapping[str, float], b: Mapping[str, float], keys: Sequence[str]) -> bool:
    """``a`` is at least as good as ``b`` on every key and better on one."""
    pairs = [(a.get(k, 0.0), b.get(k, 0.0)) for k in keys]
    return all(x >= y for x, y in pairs) and any(x > y for x, y in pairs)


def pareto_frontier(scores: Mapping[str, Mapping[str, float]]) -> dict[str, int]:
    """Candidate id -> how many examples it leads, for the non-dominated leaders.

    A candidate leads an example when no candidate scores higher on it (ties all lead); an
    example nobody scores above 0 on is led by nobody. Order follows ``scores``.
    """
    ids = list(scores)
    keys = sorted({k for per in scores.values() for k in per})
    leads = dict.fromkeys(ids, 0)
    for key in keys:
        top = max(scores[c].get(key, 0.0) for c in ids)
        if top <= 0:
            continue
        for c in ids:
            leads[c] += int(scores[c].get(key, 0.0) == top)
    leaders = [c for c in ids if leads[c] > 0]
    return {c: leads[c] for c in leaders
            if not any(dominates(scores[o], scores[c], keys) for o in leaders if o != c)}


def pick(frontier: Mapping[str, int], rng: random.Random) -> str:
    """A frontier member, with probability proportional to the examples it leads."""
    ids = list(frontier)
    return rng.choices(ids, weights=[frontier[c] for c in ids], k=1)[0]


@dataclass
class Pool:
    """Every candidate scored on val, with its parent(s)."""

    val: dict[str, Scored] = field(default_factory=dict)
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def add(self, scored: Scored, parents: tuple[str, ...] = ()) -> None:
        self.val[scored.candidate.id] = scored
        self.parents.setdefault(scored.candidate.id, parents)

    def frontier(self) -> dict[str, int]:
        return pareto_frontier({cid: s.per_example for cid, s in self.val.items()})

    def ancestors(self, cid: str) -> set[str]:
        seen, todo = set(), [cid]
        while todo:
            for parent in self.parents.get(todo.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    def related(self, a: str, b: str) -> bool:
        return a in self.ancestors(b) or b in self.ancestors(a)

    def common_ancestor(self, a: str, b: str) -> str | None:
        """The shared ancestor with the longest lineage (the nearest), if any."""
        shared = (self.ancestors(a) | {a}) & (self.ancestors(b) | {b})
        if not shared:
            return None
        return max(sorted(shared), key=lambda c: len(self.ancestors(c)))

    def best(self) -> Scored:
        return max(self.val.values(), key=lambda s: s.objective)


def offline_mutator(ctx: SearchContext) -> Mutator:
    """``honed.optimizers.mutations`` bound to this task; a small fallback if its API differs."""
    try:
        from honed.optimizers.mutations import mutations, task_facts

        facts = task_facts(ctx.task, ctx.examples("train"))
    except (ImportError, AttributeError, TypeError):
        return fallback_mutator(ctx)

    def mutate(candidate: Candidate) -> list[Candidate]:
        return list(mutations(candidate, facts))

    return mutate


def fallback_mutator(ctx: SearchContext) -> Mutator:
    """Append one instruction line at a time: the label set, answer-only, a careful-read line."""
    lines: list[str] = []
    out = ctx.task.output
    if out is not None and out.choices:
        labels = ", ".join(c.replace("{", "{{").replace("}", "}}") for c in out.choices)
        lines.append(f"Answer with exactly one of: {labels}.")
    lines += ["Answer with only the answer, no explanation.",
              "Read the input carefully before answering."]

    def mutate(candidate: Candidate) -> list[Candidate]:
        system = candidate.system
        return [candidate.with_components(system=f"{system.rstrip()}\n{line}".strip())
                for line in lines if line not in system]

    return mutate


class ParetoSearch(ProposingOptimizer):
    """GEPA-style evolution over the per-example val frontier."""

    name: ClassVar[str] = "pareto"
    minibatch_size: int | None = Field(None, ge=1, description="train examples a child is "
                                       "screened on; default: the run's --minibatch")
    max_iterations: int = Field(50, ge=1, description="iterations at most")
    merge_every: int = Field(5, ge=0, description="merge two lineages every N iterations "
                             "(0: never)")
    _pool: Pool = PrivateAttr(default_factory=Pool)

    @property
    def pool(self) -> Pool:
        """The last search's candidates with their val scores and parents."""
        return self._pool

    def frontier(self) -> list[dict[str, Any]]:
        """The last search's frontier: candidate ids, val examples led and val scores."""
        leads = self.pool.frontier()
        rows = [{"candidate_id": cid, "leads": n, "val_score": self.pool.val[cid].score}
                for cid, n in leads.items()]
        return sorted(rows, key=lambda r: (-r["leads"], -r["val_score"], r["candidate_id"]))

    async def search(self, ctx: SearchContext, seed: Candidate) -> None:
        self._pool, self._stats = Pool(), ProposalStats()
        run = _Run(self, ctx, seed)
        await run.start()
        idle = 0
        for step in range(1, self.max_iterations + 1):
            if run.solved() or idle >= MAX_IDLE:
                return
            ctx.iteration += 1
            made = None
            if self.merge_every and step % self.merge_every == 0:
                made = await run.merge_step()
            if made is None:
                made = await run.mutate_step()
            idle = 0 if made else idle + 1


class _Run:
    def __init__(self, opts: ParetoSearch, ctx: SearchContext, seed: Candidate) -> None:
        self.opts, self.ctx, self.seed, self.pool = opts, ctx, seed, opts.pool
        self.memo, self.tried = EvalMemo(), {seed.id}
        self.view = ExampleView.for_search(ctx, seed)
        self.proposer = Proposer(seed, stats=opts.stats)
        self.placeholders = Placeholders.of(seed)
        self.mutator = offline_mutator(ctx) if ctx.reflection is None else None

    async def score(self, candidate: Candidate, split: str, examples: Sequence[Example], *,
                    accepted: bool, note: str, parent: str | None = None) -> Scored:
        scored, fresh = await self.memo.evaluate(self.ctx, candidate, split, examples,
                                                 origin="pareto", parent=parent)
        if fresh:
            self.ctx.record(scored, accepted=accepted, phase="pareto", note=note)
        return scored

    async def start(self) -> None:
        best, val = self.ctx.best, self.ctx.examples("val")
        if best is not None and best.candidate.id == self.seed.id and best.split == "val":
            self.memo.put(best, val)
        self.pool.add(await self.score(self.seed, "val", val, accepted=True, note="seed"))

    def solved(self) -> bool:
        best = self.pool.best()
        return best.n > 0 and not failed_results(best)

    def batch(self) -> tuple[Example, ...]:
        return self.ctx.minibatch("train", self.opts.minibatch_size)

    def select(self) -> Candidate:
        frontier = self.pool.frontier()
        if not frontier:
            return self.pool.best().candidate
        return self.pool.val[pick(frontier, self.ctx.rng)].candidate

    # mutation ------------------------------------------------------------------------------
    async def mutate_step(self) -> bool:
        parent = self.select()
        batch = self.batch()
        on_batch = await self.score(parent, "train", batch, accepted=True,
                                    note="parent on a train minibatch")
        child = await self.child_of(parent, on_batch)
        if child is None:
            return False
        await self.trial([child], (parent,), [on_batch], batch)
        return True

    async def child_of(self, parent: Candidate, on_batch: Scored) -> Proposal | None:
        """One new child: reflective on the minibatch failures, else an offline operator."""
        if self.mutator is None:
            if not failed_results(on_batch):
                return None
            proposals = await self.proposer.propose(self.ctx, parent,
                                                    describe(on_batch, self.view), n=1,
                                                    exclude=self.tried)
            child = proposals[0] if proposals else None
        else:
            fresh = [c for c in self.mutator(parent) if c.id not in self.tried and self.valid(c)]
            chosen = self.ctx.rng.choice(fresh) if fresh else None
            child = Proposal(chosen, op_of(chosen)) if chosen is not None else None
        if child is not None:
            self.tried.add(child.candidate.id)
        return child

    def valid(self, candidate: Candidate) -> bool:
        """Keeps the seed's placeholders and adds none (nothing to repair)."""
        return not self.placeholders.repair(candidate.system, candidate.user)[2]

    async def trial(self, kids: Sequence[Proposal], parents: Sequence[Candidate],
                    on_batch: Sequence[Scored], batch: Sequence[Example]) -> bool:
        """Score ``kids`` on the parents' minibatch; the best, if it beats every parent there,
        is scored on val and joins the pool."""
        bar = max(on_batch, key=lambda s: s.objective)
        ids = tuple(p.id for p in parents)
        pairs = await self.memo.evaluate_many(self.ctx, [k.candidate for k in kids], "train",
                                              batch, origin="pareto", parent=ids[0])
        best = max((s for s, _ in pairs), key=lambda s: s.objective)
        gained = best.objective > bar.objective
        for (scored, fresh), kid in zip(pairs, kids, strict=False):
            won = gained and scored is best
            note = (f"{'accepted' if won else 'rejected'}: minibatch {scored.score:.2f} vs "
                    f"parent {bar.score:.2f}; {kid.rationale}")
            if fresh:
                self.ctx.record(scored, accepted=won, phase="pareto", note=note[:300])
        if not gained:
            return False
        kid = next(k for k in kids if k.candidate.id == best.candidate.id)
        val = await self.score(kid.candidate, "val", self.ctx.examples("val"), accepted=True,
                               parent=ids[0], note=f"val of a child: {kid.rationale}"[:300])
        self.pool.add(val, ids)
        return True

    # merge ---------------------------------------------------------------------------------
    def merge_pair(self) -> tuple[Candidate, Candidate] | None:
        frontier = self.pool.frontier()
        if len(frontier) < 2:
            return None
        for _ in range(8):
            a = pick(frontier, self.ctx.rng)
            b = pick({c: n for c, n in frontier.items() if c != a}, self.ctx.rng)
            if not self.pool.related(a, b):
                return self.pool.val[a].candidate, self.pool.val[b].candidate
        return None

    def crossovers(self, a: Candidate, b: Candidate) -> list[Candidate]:
        """GEPA's rule with a common ancestor: each component from the parent that changed it.
        Without one (or when that gives nothing new): system of one, user of the other."""
        kids: list[Candidate] = []
        ancestor = self.pool.common_ancestor(a.id, b.id)
        if ancestor is not None:
            base = self.pool.val[ancestor].candidate
            parts = {name: (b if a.components.get(name) == base.components.get(name) else a)
                     .components.get(name, "") for name in ("system", "user")}
            kids.append(a.with_components(**parts))
        kids += [a.with_components(user=b.user), b.with_components(user=a.user)]
        old = self.tried | {a.id, b.id}
        unique = {k.id: k for k in kids if k.id not in old and self.valid(k)}
        return list(unique.values())[:2]

    async def merge_step(self) -> bool | None:
        """True/False: a merge was tried (new child or not); None: no pair to merge."""
        pair = self.merge_pair()
        if pair is None:
            return None
        a, b = pair
        kids = [Proposal(k, "merge: components from two lineages")
                for k in self.crossovers(a, b)]
        if not kids and self.ctx.reflection is not None:
            kids = await self.llm_merge(a, b)
        if not kids:
            return None
        self.tried.update(k.candidate.id for k in kids)
        batch = self.batch()
        on_batch = [await self.score(p, "train", batch, accepted=True,
                                     note="merge parent on a train minibatch") for p in (a, b)]
        await self.trial(kids, (a, b), on_batch, batch)
        return True

    async def llm_merge(self, a: Candidate, b: Candidate) -> list[Proposal]:
        frontier = self.pool.frontier()
        leads = (frontier.get(a.id, 0), frontier.get(b.id, 0))
        feedback = "\n\n".join([
            "Prompt A:\n" + describe(self.pool.val[a.id], self.view, examples=0),
            "Prompt B:\n" + describe(self.pool.val[b.id], self.view, examples=0)])
        return await self.proposer.merge(self.ctx, a, b, leads, feedback, n=1,
                                         exclude=self.tried)


def op_of(candidate: Candidate) -> str:
    meta: Any = candidate.meta
    return f"offline operator: {meta.get('op')}" if meta and meta.get("op") else "offline mutation"
