"""Optimizer names -> optimizer objects: the built-ins and ``honed.optimizers`` plugins.

An optimizer class is a pydantic model of its parameters with an async ``search(ctx, seed)``
(subclass ``honed.optimizers.params.OptimizerParams``); its traits are class attributes
(``needs_reflection``, ``needs_demo_target``). Names become objects only here, at the edge:
``build_optimizer("bayes", {"n_trials": 40})``. Parameters come from a task's ``optimizer:``
(``honed.task.optimizer_spec.OptimizerConfig``) and from ``--param KEY=VALUE``
(``parse_params``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from types import UnionType
from typing import Any, Literal, Union, cast, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from honed.errors import ConfigError
from honed.optimizers.base import Optimizer
from honed.optimizers.params import params_error
from honed.plugins import OPTIMIZERS_GROUP, Registry

BUILTIN = {
    "auto": "honed.optimizers.auto:AutoSearch",
    "mutate": "honed.optimizers.mutate:MutateSearch",
    "fewshot": "honed.optimizers.fewshot:FewShotSearch",
    "bayes": "honed.optimizers.bayes:BayesSearch",
    "reflective": "honed.optimizers.reflective:ReflectiveSearch",
    "pareto": "honed.optimizers.pareto:ParetoSearch",
    "dspy:mipro": "honed.optimizers.dspy_backend:DspyMipro",
    "dspy:gepa": "honed.optimizers.dspy_backend:DspyGepa",
    "dspy:bootstrap-rs": "honed.optimizers.dspy_backend:DspyBootstrapRS",
    "gepa": "honed.optimizers.gepa_backend:GepaSearch",
    "mlflow": "honed.optimizers.mlflow_backend:MlflowSearch",
}
OPTIMIZERS = Registry(OPTIMIZERS_GROUP, "optimizer", BUILTIN, field="optimizer")
TRAITS = ("needs_reflection", "needs_demo_target")


def optimizer_names() -> list[str]:
    """Every optimizer name: built-ins, then plugins."""
    return OPTIMIZERS.names()


def optimizer_class(name: str) -> type[BaseModel]:
    """The class registered as ``name`` (imported now): a pydantic model with ``search``."""
    cls = OPTIMIZERS.load(name)
    if not (isinstance(cls, type) and issubclass(cls, BaseModel)
            and callable(getattr(cls, "search", None))):
        entry = OPTIMIZERS.entry(name)
        raise ConfigError(f"optimizer {name!r} ({entry.describe()}) is not an optimizer class",
                          field="optimizer", fix="register a subclass of honed.optimizers."
                          "params.OptimizerParams (a pydantic model with async search)")
    return cls


def has_trait(name: str, trait: str) -> bool:
    """Whether optimizer ``name`` declares ``trait`` (``needs_reflection``, ...)."""
    return bool(getattr(optimizer_class(name), trait, False))


class _Trait:
    """The optimizer names with a trait, as a set-like view (``"fewshot" in NEEDS_DEMO_TARGET``)."""

    def __init__(self, trait: str) -> None:
        self.trait = trait

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in OPTIMIZERS and has_trait(name, self.trait)


NEEDS_REFLECTION = _Trait("needs_reflection")
NEEDS_DEMO_TARGET = _Trait("needs_demo_target")


def build_optimizer(name: str, params: Mapping[str, Any] | None = None, /,
                    **more: Any) -> Optimizer:
    """The optimizer ``name`` with ``params`` (and ``more``) validated by its model. An unknown
    name or a bad parameter is a ConfigError naming ``optimizer`` / ``optimizer.<param>``."""
    cls = optimizer_class(name)
    try:
        built = cls.model_validate({**(params or {}), **more})
    except ValidationError as exc:
        raise params_error(name, cls, exc) from None
    return cast(Optimizer, built)


def parse_value(text: str) -> Any:
    """A ``--param`` value: JSON (numbers, true/false/null, lists, objects, quoted strings),
    ``yes``/``no``/``none``/``~`` as in YAML, else the text itself."""
    words = {"true": True, "yes": True, "false": False, "no": False, "null": None,
             "none": None, "~": None}
    if text.lower() in words:
        return words[text.lower()]
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_params(pairs: Iterable[str]) -> dict[str, Any]:
    """``["n_trials=40", "use_merge=false"]`` -> ``{"n_trials": 40, "use_merge": False}``."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param {pair!r} is not KEY=VALUE", field="--param",
                              fix="write --param NAME=VALUE, e.g. --param n_trials=40 "
                                  "(see `honed optimizers`)")
        params[key.strip()] = parse_value(value.strip())
    return params


def describe_optimizers() -> list[dict[str, Any]]:
    """Each optimizer: name, summary, parameters (type, default, description), traits, and
    the plugin distribution (None for a built-in). A plugin that fails to load is listed with
    its ``error``."""
    rows = []
    for name, entry in OPTIMIZERS.entries().items():
        row: dict[str, Any] = {"name": name, "plugin": entry.distribution,
                               "target": entry.target}
        try:
            cls = optimizer_class(name)
        except ConfigError as exc:
            rows.append({**row, "summary": "", "params": [], "traits": [], "error": str(exc)})
            continue
        rows.append({**row, "summary": summary(cls), "params": describe_params(cls),
                     "traits": [t for t in TRAITS if getattr(cls, t, False)]})
    return rows


def optimizer_schemas() -> dict[str, Any]:
    """The JSON Schema of each loadable optimizer's parameters, by name."""
    schemas: dict[str, Any] = {}
    for name in optimizer_names():
        try:
            schemas[name] = optimizer_class(name).model_json_schema()
        except ConfigError:
            continue
    return schemas


def summary(cls: type) -> str:
    """The first paragraph of the class docstring, on one line."""
    paragraph = (cls.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(paragraph.split())


def describe_params(cls: type[BaseModel]) -> list[dict[str, Any]]:
    return [_param(name, field) for name, field in cls.model_fields.items()]


def _param(name: str, field: FieldInfo) -> dict[str, Any]:
    required = field.is_required()
    default = None if required else field.get_default(call_default_factory=True)
    return {"name": name, "type": type_name(field.annotation), "required": required,
            "default": to_jsonable_python(default, fallback=repr),
            "description": field.description or ""}


def type_name(tp: Any) -> str:
    """``int | None``, ``'light' | 'heavy' | None``: an annotation as users read it."""
    if tp is None or tp is type(None):
        return "None"
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, UnionType):
        return " | ".join(type_name(a) for a in get_args(tp))
    if isinstance(tp, type) and origin is None:
        return tp.__name__
    return str(tp).replace("typing.", "")
