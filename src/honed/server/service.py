"""What a request becomes: a registered prompt rendered, its model called through the engine,
and a row in the production log (written before the answer goes back)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honed.errors import BudgetExhausted, ConfigError, ProviderError
from honed.experiments.assignment import unit_of
from honed.lifecycle.prompt import Prompt, load_prompt
from honed.lifecycle.registry import PromptRegistry, parse_ref
from honed.server.errors import ApiError, describe
from honed.server.logwriter import LogWriter
from honed.server.metrics import Metrics
from honed.server.models import ModelPool
from honed.server.routing import ExperimentChecker, ExperimentRouter, Route
from honed.tracking.mlflow.redaction import env_secrets, mask_text

log = logging.getLogger("honed.server")


@dataclass(frozen=True)
class Served:
    """One answered request, as logged."""

    id: str
    created: float
    prompt: Prompt
    ref: str
    output: str
    latency_s: float
    input_tokens: int
    output_tokens: int
    cost_usd: float
    spec: str
    route: Route | None = None  # the experiment and arm that routed it, when one did

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "output": self.output, "prompt": self.prompt.name,
               "version": self.prompt.version, "latency_s": self.latency_s,
               "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
               "cost_usd": self.cost_usd}
        if self.route is not None:
            out.update(experiment=self.route.experiment, arm=self.route.arm)
        return out


class Service:
    """The server's operations, independent of HTTP (routes call these)."""

    def __init__(self, home: Path, store: Any, registry: PromptRegistry | None,
                 pool: ModelPool, metrics: Metrics) -> None:
        self.home, self.store, self.pool, self.metrics = home, store, pool, metrics
        self.writer = LogWriter(store)
        self._registry = registry
        self._own_registry = registry is None  # opened here: one per thread
        self.router = ExperimentRouter(self._running_experiments)
        self.checker: ExperimentChecker | None = None

    @property
    def registry(self) -> PromptRegistry:
        if self._registry is None:
            from honed.lifecycle.registries import open_registry

            self._registry = open_registry(self.home)
        return self._registry

    def prompt(self, ref: str) -> Prompt:
        """The registered prompt ``ref``: 422 for a malformed reference, 404 for an unknown
        name, alias or version."""
        if parse_ref(ref) is None:
            raise ApiError(422, f"{ref!r} is not a prompt reference: use NAME@ALIAS or "
                                "NAME/VERSION", code="bad_prompt_ref")
        try:
            return load_prompt(ref, registry=self.registry)
        except ConfigError as exc:
            raise ApiError(404, describe(exc), code="prompt_not_found") from None

    async def complete(self, ref: str, inputs: Mapping[str, Any], *, user_id: str | None = None,
                       metadata: Mapping[str, Any] | None = None) -> Served:
        """Render ``ref`` with ``inputs``, call its model, log the request, return the answer.
        A request for a reference that a running experiment splits is served by the version of
        its arm (assigned by ``user_id``, else by the request)."""
        request_id = f"req_{uuid.uuid4().hex}"
        route = await self.router.route(ref, unit_of(user_id, request_id))
        prompt = self.prompt(route.ref if route is not None else ref)
        try:
            messages = prompt.render(**inputs)
        except ConfigError as exc:
            raise ApiError(422, describe(exc), code="bad_inputs") from None
        row: dict[str, Any] = {
            "id": request_id, "created": time.time(), "prompt": prompt.name,
            "version": prompt.version, "alias": parse_ref(ref).alias,  # type: ignore[union-attr]
            "inputs": dict(inputs), "output": None, "error": None, "latency_s": 0.0,
            "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "user_id": user_id,
            "metadata": dict(metadata or {}), "arm": route and route.arm,
            "experiment": route and route.experiment}
        started = time.perf_counter()
        try:
            answer = await self.pool.complete(prompt, messages)
        except (ProviderError, BudgetExhausted, ConfigError) as exc:
            # provider errors may echo a credential: never store or log one
            row.update(error=mask_text(f"{type(exc).__name__}: {exc}", env_secrets()),
                       latency_s=time.perf_counter() - started)
            await self._log(row)
            status = 503 if isinstance(exc, BudgetExhausted) else 502
            log.warning("request %s on %s failed: %s", row["id"], ref, row["error"])
            raise ApiError(status, f"the model call failed ({type(exc).__name__}); "
                                   f"request id {row['id']}", code="model_error") from None
        row.update(output=answer.output, latency_s=time.perf_counter() - started,
                   input_tokens=answer.input_tokens, output_tokens=answer.output_tokens,
                   cost_usd=answer.cost_usd)
        await self._log(row)
        return Served(row["id"], row["created"], prompt, ref, answer.output, row["latency_s"],
                      answer.input_tokens, answer.output_tokens, answer.cost_usd, answer.spec,
                      route)

    async def _log(self, row: dict[str, Any]) -> None:
        """Count the request and write its row (durable before the answer goes out; off the
        event loop, so other requests go on meanwhile)."""
        self.metrics.observe(row["prompt"], row["version"], latency_s=row["latency_s"],
                             input_tokens=row["input_tokens"],
                             output_tokens=row["output_tokens"], cost_usd=row["cost_usd"],
                             error=row["error"] is not None)
        await self.writer.write(row)

    def feedback(self, request_id: str, *, score: float | None = None, label: str | None = None,
                 correction: str | None = None, comment: str | None = None) -> int:
        """Attach feedback to a logged request; 404 when the id is unknown."""
        from honed.store import UnknownRequestError

        if score is None and label is None and correction is None:
            raise ApiError(422, "feedback needs a score, a label or a correction",
                           code="empty_feedback")
        try:
            return int(self.store.add_feedback(request_id, score=score, label=label,
                                               correction=correction, comment=comment))
        except UnknownRequestError:
            log.info("feedback for unknown request %s", request_id)
            raise ApiError(404, f"no request {request_id!r} in the log",
                           code="request_not_found") from None

    # experiments ------------------------------------------------------------------------------
    def _running_experiments(self) -> list[dict[str, Any]]:
        from honed.store.experiments import ExperimentStore

        return ExperimentStore.of(self.store).running()

    def check_experiments(self) -> list[Any]:
        """Check every running experiment and act on its verdict (blocking: the periodic
        checker runs it in a worker thread, with a registry of its own when the server opened
        its registry itself, since a SQLite connection stays in its thread)."""
        from honed.lifecycle.experiments import check_experiments

        registry, own = self._registry, self._own_registry
        if own:
            from honed.lifecycle.registries import open_registry

            registry = open_registry(self.home)
        try:
            return check_experiments(self.store, registry)  # type: ignore[arg-type]
        finally:
            if own and hasattr(registry, "close"):
                registry.close()

    def start_checks(self, interval_s: float | None) -> None:
        """Check the running experiments every ``interval_s`` seconds in the background
        (None or 0: never)."""
        if interval_s and self.checker is None:
            self.checker = ExperimentChecker(self.check_experiments, interval_s,
                                             self.router.invalidate)
            self.checker.start()

    async def stop_checks(self) -> None:
        if self.checker is not None:
            await self.checker.aclose()
            self.checker = None
        await self.router.aclose()
