"""Routing live traffic into experiments, and checking them in the background.

``ExperimentRouter`` keeps the running experiments in memory, keyed by the control reference
they split (``NAME@ALIAS``), and reloads them at most every ``ttl_s`` seconds, off the event
loop: a request never waits for the database, except the very first one. While a reload runs,
requests are routed by the table it replaces. ``invalidate`` forces a reload (after a check
ended an experiment here; an experiment stopped by another process stops being routed within
``ttl_s``).

``ExperimentChecker`` runs a check of every running experiment every ``interval_s`` seconds in
a worker thread, so requests go on meanwhile; a failed check is logged and retried at the next
tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from honed.experiments.assignment import CONTROL, assign
from honed.lifecycle.registry import parse_ref

log = logging.getLogger("honed.server")
ROUTE_TTL_S = 5.0
CHECK_EVERY_S = 60.0


@dataclass(frozen=True)
class Route:
    """Where one request goes: the experiment, the arm, and the reference to serve."""

    experiment: str
    arm: str
    ref: str


@dataclass(frozen=True)
class _Split:
    name: str
    prompt: str
    treatment_version: int
    split: float
    salt: str


def control_key(ref: str) -> str | None:
    """``NAME@ALIAS`` as routing keys it (None for a version reference or a bad one)."""
    parsed = parse_ref(ref)
    return None if parsed is None or parsed.alias is None else str(parsed)


def routing_table(rows: Sequence[Mapping[str, Any]]) -> dict[str, _Split]:
    table = {}
    for row in rows:
        key = control_key(str(row["control_ref"]))
        if key is not None and row.get("status") == "running":
            table[key] = _Split(row["name"], row["prompt"], int(row["treatment_version"]),
                                float(row["split"]), row["salt"])
    return table


class ExperimentRouter:
    """Running experiments, cached for ``ttl_s`` seconds; ``load`` reads them (blocking: it
    runs in a worker thread)."""

    def __init__(self, load: Callable[[], Sequence[Mapping[str, Any]]], *,
                 ttl_s: float = ROUTE_TTL_S) -> None:
        self._load, self.ttl_s = load, ttl_s
        self._table: dict[str, _Split] | None = None
        self._fresh_until = 0.0
        self._reloading: asyncio.Task[None] | None = None

    def invalidate(self) -> None:
        self._fresh_until = 0.0

    async def route(self, ref: str, unit: str) -> Route | None:
        """The route of a request for ``ref`` by ``unit``; None when no running experiment
        splits ``ref``."""
        table = await self._current()
        key = control_key(ref) if table else None
        split = table.get(key) if key is not None else None
        if split is None:
            return None
        arm = assign(split.salt, unit, split.split)
        served = ref if arm == CONTROL else f"{split.prompt}/{split.treatment_version}"
        return Route(split.name, arm, served)

    async def _current(self) -> dict[str, _Split]:
        if self._table is not None and time.monotonic() < self._fresh_until:
            return self._table
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.ensure_future(self._reload())
        if self._table is None:  # nothing to route by yet: the first request waits
            await asyncio.shield(self._reloading)
        return self._table or {}

    async def _reload(self) -> None:
        started = time.monotonic()
        try:
            rows = await asyncio.to_thread(self._load)
        except Exception:
            log.exception("reading the running experiments failed; routing as before")
            self._table = self._table if self._table is not None else {}
        else:
            self._table = routing_table(rows)
        self._fresh_until = started + self.ttl_s

    async def aclose(self) -> None:
        if self._reloading is not None and not self._reloading.done():
            self._reloading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reloading


class ExperimentChecker:
    """Calls ``check`` (blocking, in a worker thread) every ``interval_s`` seconds; after a
    check that ended an experiment, ``on_change`` runs."""

    def __init__(self, check: Callable[[], Sequence[Any]], interval_s: float,
                 on_change: Callable[[], None]) -> None:
        self._check, self.interval_s, self._on_change = check, interval_s, on_change
        self._task: asyncio.Task[None] | None = None
        self.runs = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                reports = await asyncio.to_thread(self._check)
            except Exception:
                log.exception("checking the running experiments failed; retrying in %.0f s",
                              self.interval_s)
                continue
            self.runs += 1
            for report in reports:
                if getattr(report, "error", None):
                    log.warning("experiment %s: %s", report.experiment.name, report.error)
                if getattr(report, "decision", None):
                    decision = report.decision
                    log.info("experiment %s ended: %s (%s)", report.experiment.name,
                             report.experiment.status, decision["kind"])
            if any(getattr(r, "decision", None) for r in reports):
                self._on_change()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
