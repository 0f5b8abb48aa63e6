"""The local executor: models are built and called in this process (honed's default)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from honed.providers.base import Model
    from honed.task.task import ModelConfig, Task


class LocalExecutor:
    """Today's behaviour, unchanged: the provider registry builds the model here, and the
    engine's client keeps ``requested`` calls in flight."""

    kind = "local"

    def model(self, cfg: ModelConfig, task: Task) -> Model:
        from honed.providers.registry import build_model

        return build_model(cfg, pricing=task.pricing, base_dir=task.base_dir)

    def concurrency(self, model: Model, requested: int | None) -> int | None:
        return requested

    def stats(self) -> dict[str, Any] | None:
        return None

    async def aclose(self) -> None:
        return None
