"""The base of honed's optimizers: an optimizer is a frozen pydantic model of its parameters.

Its fields are the parameters a user sets in YAML (``optimizer: {name: bayes, n_trials: 40}``)
or on the command line (``--param n_trials=40``); ``search(ctx, seed)`` is its behaviour. Class
attributes describe it to the registry: ``name``, and the traits ``needs_reflection`` (it cannot
run without a reflection model) and ``needs_demo_target`` (it shows few-shot demos, so the task
needs an answer template). A bad parameter is a ``ConfigError`` naming ``optimizer.<param>``,
however the optimizer is built.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import ErrorDetails

from honed.errors import ConfigError
from honed.plugins import did_you_mean


class OptimizerParams(BaseModel):
    """Subclass it, declare the parameters as fields and implement ``search``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: ClassVar[str] = "optimizer"
    needs_reflection: ClassVar[bool] = False
    needs_demo_target: ClassVar[bool] = False

    @model_validator(mode="wrap")
    @classmethod
    def _config_errors(cls, data: Any, handler: Any) -> Any:
        try:
            made = handler(data)
        except ValidationError as exc:
            raise params_error(cls.name, cls, exc) from None
        problem = made.problem() if isinstance(made, OptimizerParams) else None
        if problem:
            raise ConfigError(f"{cls.name}: {problem}", field="optimizer",
                              fix=f"see the parameters of {cls.name} in `honed optimizers`")
        return made

    def problem(self) -> str | None:
        """What is wrong with this combination of parameters, or None (override to check)."""
        return None


def param_names(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def params_error(owner: str, model: type[BaseModel], exc: ValidationError, *,
                 prefix: str = "optimizer") -> ConfigError:
    """The first of ``exc``'s errors as a ConfigError naming ``<prefix>.<param>``, with the
    parameters ``model`` accepts in the fix."""
    errors = exc.errors()  # a misspelt name first: it is why a required one is "missing"
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    param = ".".join(str(p) for p in error["loc"])
    allowed = param_names(model)
    listed = f"parameters of {owner}: {', '.join(allowed)}" if allowed else (
        f"{owner} takes no parameters")
    field = f"{prefix}.{param}" if param else prefix
    if error["type"] == "extra_forbidden":
        return ConfigError(f"{owner} has no parameter {param!r}", field=field,
                           fix=f"{did_you_mean(param, allowed)}{listed}")
    more = len(errors) - 1
    message = f"{owner}: {_message(error)}" + (f" (and {more} more)" if more else "")
    return ConfigError(message, field=field, fix=listed)


def _message(error: ErrorDetails) -> str:
    text = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing" or not error["loc"]:
        return text
    return f"{text} (got {error['input']!r})"
