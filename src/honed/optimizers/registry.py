"""Optimizer names -> strategy objects (strings become objects only at the edge)."""

from __future__ import annotations

import importlib
from typing import Any

from honed.errors import ConfigError
from honed.optimizers.base import Optimizer

OPTIMIZERS: dict[str, str] = {
    "mutate": "honed.optimizers.mutate:MutateSearch",
    "fewshot": "honed.optimizers.fewshot:FewShotSearch",
    "bayes": "honed.optimizers.bayes:BayesSearch",
    "reflective": "honed.optimizers.reflective:ReflectiveSearch",
    "pareto": "honed.optimizers.pareto:ParetoSearch",
    "auto": "honed.optimizers.auto:AutoSearch",
    "dspy:mipro": "honed.optimizers.dspy_backend:DspyMipro",
    "dspy:gepa": "honed.optimizers.dspy_backend:DspyGepa",
    "dspy:bootstrap-rs": "honed.optimizers.dspy_backend:DspyBootstrapRS",
}
NEEDS_REFLECTION = {"reflective"}
NEEDS_DEMO_TARGET = {"fewshot", "dspy:mipro", "dspy:gepa", "dspy:bootstrap-rs"}


def build_optimizer(name: str, **params: Any) -> Optimizer:
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}", field="--optimizer",
                          fix=f"use one of: {', '.join(OPTIMIZERS)}")
    module, _, attr = OPTIMIZERS[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    optimizer: Optimizer = cls(**params)
    return optimizer
