"""Smoke tests on the real embedded model (SmolLM2-135M-Instruct via llama-cpp-python)."""

import asyncio
import json

import pytest

from honed.providers.base import OutputSpec, Request
from honed.providers.local import LocalModel, LocalOptions, choices_grammar, load_llama
from honed.task.task import ModelConfig
from honed.testing import has_local_model
from honed.types import Message

pytestmark = [pytest.mark.model,
              pytest.mark.skipif(not has_local_model(), reason="embedded model not installed")]

REVIEW = (Message("system", "Classify the sentiment of the review."),
          Message("user", "The battery died after two days, total waste of money."))


@pytest.fixture(scope="module")
def model() -> LocalModel:
    return LocalModel(ModelConfig(n_threads=2))


def complete(model: LocalModel, request: Request):
    return asyncio.run(model.complete(request))


def test_grammar_text() -> None:
    assert choices_grammar(("a", 'say "hi"')) == 'root ::= "a" | "say \\"hi\\""'


def test_choices_are_enforced_and_deterministic(model: LocalModel) -> None:
    request = Request(REVIEW, output=OutputSpec(choices=("positive", "negative", "neutral")))
    outputs = {complete(model, request).text for _ in range(3)}
    assert len(outputs) == 1 and outputs <= {"positive", "negative", "neutral"}


def test_free_text_is_deterministic_with_usage(model: LocalModel) -> None:
    request = Request(REVIEW, max_tokens=12)
    first, second = complete(model, request), complete(model, request)
    assert first.text == second.text and first.text
    assert first.usage.input_tokens > 10 and 0 < first.usage.output_tokens <= 12
    assert first.cost_usd == 0.0


def test_json_schema_is_enforced(model: LocalModel) -> None:
    schema = {"type": "object", "properties": {"sentiment": {"type": "string",
              "enum": ["positive", "negative"]}}, "required": ["sentiment"]}
    out = complete(model, Request(REVIEW, max_tokens=30, output=OutputSpec(json_schema=schema)))
    assert json.loads(out.text)["sentiment"] in ("positive", "negative")


def test_gpu_and_batch_settings_reach_llama_cpp(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path) -> None:
    import llama_cpp

    seen: dict[str, object] = {}
    monkeypatch.setattr(llama_cpp, "Llama", lambda **kwargs: seen.update(kwargs) or "llm")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"")
    cfg = ModelConfig(spec="local", n_gpu_layers=-1, main_gpu=1, flash_attn=False,
                      batch_size=4, n_threads=3)
    options = LocalOptions.from_config(cfg)
    assert options.batch.max_sequences == 4
    assert load_llama(gguf, cfg, options) == "llm"
    assert (seen["n_gpu_layers"], seen["main_gpu"], seen["flash_attn"]) == (-1, 1, False)
    assert seen["n_threads"] == seen["n_threads_batch"] == 3
    assert LocalOptions.from_config(ModelConfig()).flash_attn is True


def test_extra_bufts_are_off_by_default_and_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    from honed.providers.local import EXTRA_BUFTS_ENV, default_model_path

    monkeypatch.delenv(EXTRA_BUFTS_ENV, raising=False)
    path = default_model_path()
    assert LocalOptions.from_config(ModelConfig()).extra_bufts is False
    off = load_llama(path, ModelConfig(n_threads=1))
    assert off.model_params.use_extra_bufts is False
    off.close()
    # only loaded, never decoded: a load with extra buffers is safe even on an AMX host
    on = load_llama(path, ModelConfig(n_threads=1, extra_bufts=True))
    assert on.model_params.use_extra_bufts is True
    on.close()
    monkeypatch.setenv(EXTRA_BUFTS_ENV, "1")
    assert LocalOptions.from_config(ModelConfig()).extra_bufts is True
    env_on = load_llama(path, ModelConfig(n_threads=1))
    assert env_on.model_params.use_extra_bufts is True
    env_on.close()


def test_the_params_patch_is_undone_after_a_load() -> None:
    import llama_cpp.llama_cpp as api

    from honed.providers.local import default_model_path

    original = api.llama_model_default_params
    load_llama(default_model_path(), ModelConfig(n_threads=1)).close()
    assert api.llama_model_default_params is original
    assert api.llama_model_default_params().use_extra_bufts is True  # llama.cpp's own default

