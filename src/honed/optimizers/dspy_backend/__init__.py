"""DSPy optimizers as honed searches: ``dspy:mipro``, ``dspy:gepa``, ``dspy:bootstrap-rs``.

The task becomes a one-predictor DSPy program: input fields are the prompt templates'
placeholders, the output field is the target (``{label}`` -> ``label``), the instructions are the
seed's system prompt and its demos the seed's demos. A custom DSPy adapter renders exactly the
messages honed's engine renders (system, demos as user/assistant turns, the user template) and
reads the reply as the raw output, so what DSPy measures is what honed measures. honed's evals are
the metric (GEPA also gets their feedback text); trainset = train split, valset = val split.

Every model call DSPy makes goes to a ``ModelServer`` on this event loop that serves the engine's
``ModelClient`` (the reflection model, when configured, is served by a second one for MIPRO's
proposer and GEPA's reflection; else the task model is), so it is cached, retried, counted and
limited by honed's Budget. DSPy is synchronous and runs in a worker thread. The calls that
verifying the result needs are kept back: the server refuses (HTTP 429) once only they are left,
and DSPy is then unwound (a ``BaseException``, which its error handlers do not swallow); the
result is DSPy's answer, or, when it was cut short, the best DSPy candidate fully scored on val.

The result becomes a honed candidate (the optimized instruction is the system prompt, the user
template is kept, demos map to train example ids by their inputs; others are dropped and noted)
and is verified by ``ctx.evaluate(candidate, "val")`` and recorded as phase ``dspy:...``.

DSPy is an optional extra, imported on first use. DSPy's response cache is disabled (honed
caches), its logging and progress output silenced, and its seeds set from the run seed.
"""

from honed.optimizers.dspy_backend.base import MAX_THREADS, PROMPT_TOKENS, SELF_PROMPT_TOKENS
from honed.optimizers.dspy_backend.optimizers import DspyBootstrapRS, DspyGepa, DspyMipro
from honed.optimizers.dspy_backend.runtime import INSTALL, load_dspy
from honed.optimizers.dspy_backend.spec import ID_FIELD, build_spec, to_candidate

__all__ = [
    "ID_FIELD",
    "INSTALL",
    "MAX_THREADS",
    "PROMPT_TOKENS",
    "SELF_PROMPT_TOKENS",
    "DspyBootstrapRS",
    "DspyGepa",
    "DspyMipro",
    "build_spec",
    "load_dspy",
    "to_candidate",
]
