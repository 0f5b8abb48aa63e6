"""The Task: a prompt template, a dataset and evals. Pure data, validated by pydantic."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from honed.task.eval_specs import EvalSpec, eval_name
from honed.task.gate_specs import GateSpec
from honed.types import Candidate

_STRICT = ConfigDict(extra="forbid")


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

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"spec": value} if isinstance(value, str) else value


class PromptConfig(BaseModel):
    model_config = _STRICT
    system: str = ""
    user: str = "{text}"
    demos: list[str] = Field(default_factory=list, description="ids of train examples")
    registry: str | None = Field(None, description="load from the prompt registry: NAME@ALIAS")

    def candidate(self) -> Candidate:
        return Candidate({"system": self.system, "user": self.user}, tuple(self.demos))


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
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: str | None = PrivateAttr(default=None)

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
        return self.prompt.candidate()

    def target_template(self) -> str:
        if self.target is not None:
            return self.target
        for spec in self.evals:
            expected = getattr(spec, "expected", None)
            if isinstance(expected, str):
                return expected
        return "{label}"
