"""``optimizer:`` in a task file: the default optimizer of ``honed optimize`` and its parameters.

Either a name (``optimizer: bayes``) or a mapping of the name and parameters
(``optimizer: {name: bayes, n_trials: 40}``). The parameters are checked against the optimizer's
own model where optimizers are built (``honed.optimizers.registry``); ``honed optimizers`` lists
them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


class OptimizerConfig(BaseModel):
    """An optimizer name plus its parameters (every key besides ``name``)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field("auto", min_length=1, description="auto, mutate, fewshot, bayes, "
                      "reflective, pareto, dspy:..., or a plugin's (see `honed optimizers`)")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """A name alone is valid too."""
        return {"anyOf": [{"type": "string", "description": "an optimizer name"},
                          handler(core_schema)]}

    def params(self) -> dict[str, Any]:
        """The parameters: every key besides ``name``."""
        return dict(self.model_extra or {})
