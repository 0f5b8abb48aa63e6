"""The Task: a prompt template, a dataset and evals. Pure data, validated by pydantic."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from honed.errors import ConfigError
from honed.plugins import PROVIDERS_GROUP, has_plugin
from honed.task.dataset import example_id
from honed.task.eval_specs import EvalSpec, eval_name
from honed.task.gate_specs import GateSpec
from honed.task.optimizer_spec import OptimizerConfig
from honed.task.template import variables
from honed.types import Candidate, Example

_STRICT = ConfigDict(extra="forbid")
FIX = " | fix: "  # in a validator's message: what follows is the fix (see task.validation)


class ModelConfig(BaseModel):
    """A model and its call settings. A bare string in YAML is the ``spec``."""

    model_config = _STRICT
    spec: str = Field("local", description="local | local:PATH.gguf | openai:NAME | "
                      "anthropic:NAME | fake[:SCRIPT]")
    base_url: str | None = Field(None, description="OpenAI-compatible / Anthropic base URL")
    api_key_env: str | None = Field(None, description="name of the env var holding the key")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(256, gt=0)
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(4, ge=0)
    concurrency: int | None = Field(None, gt=0)
    n_ctx: int = Field(4096, gt=0, description="embedded model: context size")
    n_threads: int | None = Field(None, gt=0, description="embedded model: CPU threads")
    n_gpu_layers: int = Field(0, description="embedded model: layers to offload (-1 = all)")
    main_gpu: int = Field(0, ge=0, description="embedded model: the GPU holding offloaded layers")
    flash_attn: bool = Field(True, description="embedded model: llama.cpp flash attention")
    batch_size: int | None = Field(None, gt=0, description="embedded model: sequences decoded "
                                   "together in batched evaluation (default 16)")
    extra_bufts: bool = Field(False, description="embedded model: llama.cpp extra buffer types "
                              "(weight repacking). Off by default: AMX repacking crashes "
                              "decoding on AMX CPUs. Also on with HONED_LLAMA_EXTRA_BUFTS=1")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"spec": value} if isinstance(value, str) else value


Demo = str | dict[str, Any]
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(@[A-Za-z0-9_-]+|/\d+)$")  # a registry reference


PROVIDERS = ("local", "openai", "anthropic", "fake")
_SPEC_FIX = ("use local, local:PATH.gguf, openai:NAME, anthropic:NAME, fake, fake:answer=TEXT "
             "or fake:file=PATH")


def spec_problem(spec: str) -> str | None:
    """What is wrong with a model spec's form (the provider builds it), or None. A provider
    that an installed plugin declares (entry point group ``honed.providers``) is known."""
    provider, _, rest = spec.strip().partition(":")
    if provider.lower() not in PROVIDERS and not has_plugin(PROVIDERS_GROUP, provider.lower()):
        return f"unknown model provider {provider!r} in {spec!r}{FIX}{_SPEC_FIX}"
    if provider.lower() in ("openai", "anthropic") and not rest.strip():
        return f"{provider!r} needs a model name{FIX}write {provider.lower()}:NAME"
    if provider.lower() == "fake" and rest and rest.partition("=")[0] not in ("answer", "file"):
        return f"unknown fake model option {rest.partition('=')[0]!r}{FIX}{_SPEC_FIX}"
    return None


class PromptConfig(BaseModel):
    model_config = _STRICT
    system: str = ""
    user: str = "{text}"
    demos: list[Demo] = Field(default_factory=list, description="few-shot demos, each the id of "
                              "a train example or the example itself (its fields, e.g. "
                              "{text: ..., label: ...})")
    registry: str | None = Field(None, description="load from the prompt registry: NAME@ALIAS "
                                 "or NAME/VERSION")

    @field_validator("registry")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        if value is not None and not _REF.match(value.strip()):
            shown = value if len(value) <= 60 else value[:57] + "..."
            raise ValueError(f"{shown!r} is not a prompt reference{FIX}use NAME@ALIAS (e.g. "
                             "sentiment@production) or NAME/VERSION")
        return value

    def demo_ids(self, id_field: str | None = None) -> tuple[str, ...]:
        """Each demo's example id: an id as written, an inline row's computed as for a dataset
        row (``id_field``, else a content hash), so a demo has one id wherever it lives."""
        return tuple(demo_id for demo_id, _ in self.demo_items(id_field))

    def demo_items(self, id_field: str | None = None) -> list[tuple[str, dict[str, Any] | None]]:
        """(id, inline row or None) per demo, in order."""
        items: list[tuple[str, dict[str, Any] | None]] = []
        seen: set[str] = set()
        for demo in self.demos:
            if isinstance(demo, str):
                items.append((demo, None))
                continue
            base = example_id(demo, id_field)
            demo_id, n = base, 1
            while demo_id in seen:  # as for duplicate dataset rows
                n += 1
                demo_id = f"{base}-{n}"
            seen.add(demo_id)
            items.append((demo_id, demo))
        return items

    def candidate(self, id_field: str | None = None) -> Candidate:
        return Candidate({"system": self.system, "user": self.user}, self.demo_ids(id_field))


class SplitConfig(BaseModel):
    model_config = _STRICT
    val: float = Field(0.2, ge=0, lt=1, description="fraction of train carved for val")
    test: float = Field(0.2, ge=0, lt=1, description="fraction of train carved for test")
    seed: int = 0


Rows = list[dict[str, Any]]


class DataConfig(BaseModel):
    model_config = _STRICT
    train: str | Rows
    val: str | Rows | None = None
    test: str | Rows | None = None
    split: SplitConfig = SplitConfig()
    id_field: str | None = Field(None, description="row field holding a stable id")


class OutputConfig(BaseModel):
    model_config = _STRICT
    choices: list[str] | None = Field(None, min_length=1)
    json_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one(self) -> OutputConfig:
        if self.choices and self.json_schema:
            raise ValueError("give either choices or json_schema, not both")
        return self


class Pricing(BaseModel):
    model_config = _STRICT
    input_per_mtok: float = Field(ge=0, description="USD per million input tokens")
    output_per_mtok: float = Field(ge=0, description="USD per million output tokens")


class Task(BaseModel):
    """A honed task. Build it from YAML with ``honed.load_task`` or directly in Python."""

    model_config = _STRICT
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    model: ModelConfig = ModelConfig()
    judge_model: ModelConfig | None = None
    reflection_model: ModelConfig | None = Field(
        None, description="a capable model that rewrites prompts (reflective, pareto)")
    prompt: PromptConfig
    data: DataConfig
    evals: list[EvalSpec] = Field(min_length=1)
    output: OutputConfig | None = None
    target: str | None = Field(None, description="demo answer template; default: first "
                               "eval's expected")
    pricing: dict[str, Pricing] = Field(default_factory=dict)
    gates: list[GateSpec] = Field(default_factory=list)
    tracking: Literal["auto", "mlflow", "none"] = Field(
        "auto", description="auto: MLflow when installed; none: only honed's own run store")
    optimizer: OptimizerConfig | None = Field(
        None, description="the default optimizer of `honed optimize`: a name, or {name: NAME, "
        "PARAM: VALUE, ...}; `honed optimizers` lists them with their parameters")
    executor: str | None = Field(
        None, description="where model calls run: local (default), ray or ray:ADDRESS; "
        "--executor overrides it")
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: str | None = PrivateAttr(default=None)

    @field_validator("model", "judge_model", "reflection_model")
    @classmethod
    def _known_provider(cls, value: ModelConfig | None) -> ModelConfig | None:
        problem = spec_problem(value.spec) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("evals")
    @classmethod
    def _unique_names(cls, evals: list[Any]) -> list[Any]:
        names = [eval_name(e) for e in evals]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate eval names {dupes}; give each a distinct 'name'")
        return evals

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def source(self) -> str:
        return self._source or f"<task {self.name}>"

    def bind(self, base_dir: Path, source: str | None) -> Task:
        self._base_dir, self._source = base_dir, source
        return self

    def seed_candidate(self) -> Candidate:
        return self.prompt.candidate(self.data.id_field)

    def demo_rows(self) -> dict[str, Example]:
        """The demos written inline in ``prompt.demos``, by example id."""
        return {demo_id: Example(demo_id, dict(row))
                for demo_id, row in self.prompt.demo_items(self.data.id_field) if row is not None}

    def target_template(self) -> str | None:
        """The answer a demo shows: ``target``, else the first eval's string ``expected``;
        None when there is neither (a ``contains``-only task, say)."""
        if self.target is not None:
            return self.target
        for spec in self.evals:
            expected = getattr(spec, "expected", None)
            if isinstance(expected, str):
                return expected
        return None

    def demo_target_or_error(self, fields: Iterable[str] = ()) -> str:
        """``target_template()``, or a ConfigError saying what to add (``fields``: the
        dataset's fields, to name the likely answer field)."""
        target = self.target_template()
        if target is not None:
            return target
        guess, known = self._answer_field(fields)
        listed = f"; the data has fields {', '.join(known)}" if known else ""
        raise ConfigError("few-shot demos need an answer to show after each example, and the "
                          "task has neither 'target:' nor an eval with 'expected:'",
                          file=self.source, field="target",
                          fix=f'add  target: "{{{guess}}}"  (the field holding the answer'
                              f"{listed})")

    def _answer_field(self, fields: Iterable[str]) -> tuple[str, list[str]]:
        inputs = {v for part in (self.prompt.system, self.prompt.user) for v in variables(part)}
        known = list(dict.fromkeys(fields))
        if not known and isinstance(self.data.train, list):
            known = list(dict.fromkeys(k for row in self.data.train for k in row))
        in_evals = [v for spec in self.evals for value in (getattr(spec, "expected", None),
                                                           getattr(spec, "value", None))
                    for text in ([value] if isinstance(value, str) else value or [])
                    for v in variables(text)]
        guesses = [v for v in [*in_evals, *known] if v not in inputs]
        return (guesses[0] if guesses else "answer"), known
