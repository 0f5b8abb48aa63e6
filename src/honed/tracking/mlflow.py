"""MLflow tracking: one MLflow run per ``honed eval`` / ``honed optimize``, on a local store.

The store is ``sqlite:///$HONED_HOME/mlflow.db`` (artifacts under ``$HONED_HOME/mlartifacts``)
unless ``MLFLOW_TRACKING_URI`` says otherwise. MLflow is imported lazily and only after the
offline defaults are set (telemetry off, litellm's cost map local, synchronous trace export).

``MlflowTracker`` is an event callback: it logs per-iteration metrics from
``CandidateEvaluated`` and keeps a uniform sample (reservoir, seeded) of at most ``max_traces``
model calls from ``CallCompleted``, written as MLflow traces with token usage and latency. The
final scores, with their CIs, the per-example results, the best prompt and the trajectory are
logged by ``log_eval`` / ``log_optimization``. Everything logged goes through ``redact``:
credentials never reach the store.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import random
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from honed.errors import ConfigError
from honed.tracking.events import CallCompleted, CandidateEvaluated, Event

OFFLINE_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
}
UI_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "MLFLOW_DISABLE_TELEMETRY": "true"}
DB_NAME, ARTIFACTS_DIR = "mlflow.db", "mlartifacts"
MASK = "[REDACTED]"
_STATUS = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED",
           "killed": "KILLED", "stopped": "FINISHED"}
_INSTALL_FIX = "pip install 'mlflow>=3' (or set tracking: none in the task)"


# store location -------------------------------------------------------------------------------
def mlflow_available() -> bool:
    """Is MLflow importable (with sqlalchemy and alembic where the store is SQLite)? No import."""
    if importlib.util.find_spec("mlflow") is None:
        return False
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if uri and not uri.startswith("sqlite:"):
        return True
    return all(importlib.util.find_spec(m) is not None for m in ("sqlalchemy", "alembic"))


def tracking_uri(home: Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the SQLite store under ``home``."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{(home / DB_NAME).absolute()}"


def artifact_location(uri: str) -> str | None:
    """Artifacts next to a SQLite store; other stores choose their own."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri[len("sqlite:///"):]).parent / ARTIFACTS_DIR).absolute().as_uri()


def load_mlflow() -> Any:
    """Import MLflow with the offline defaults in place; ConfigError saying what to install."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    try:
        import mlflow
    except ImportError as exc:
        raise ConfigError("MLflow is not installed", field="tracking", fix=_INSTALL_FIX) from exc
    return mlflow


def client_for(uri: str) -> Any:
    load_mlflow()
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def init_store(path: Path) -> str:
    """Create an MLflow SQLite store at ``path`` (tables and all); return its URI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{path.absolute()}"
    client_for(uri).search_experiments(max_results=1)
    return uri


def ui_command(home: Path, *, host: str = "127.0.0.1", port: int = 5000) -> str:
    """The shell command that opens the MLflow UI on this store."""
    import shlex

    uri = tracking_uri(home)
    if uri.startswith(("http://", "https://")):
        return f"open {uri}  # MLFLOW_TRACKING_URI is a running MLflow server"
    env = " ".join(f"{k}={v}" for k, v in UI_ENV.items())
    return (f"{env} mlflow ui --backend-store-uri {shlex.quote(uri)} "
            f"--host {host} --port {port}")


@contextmanager
def _global_uri(mlflow: Any, uri: str) -> Iterator[None]:
    """MLflow's trace exporter reads the global tracking URI: set it for a block, then restore."""
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)  # None unsets it again


# redaction ------------------------------------------------------------------------------------
_SENSITIVE = re.compile(r"secret|passw(?:or)?d|credential|authoriz|api_?key|private_?key|"
                        r"cookie|(?:^|_)(?:key|token)$")
_KEY_SHAPES = re.compile(
    r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}|\bBearer\s+[A-Za-z0-9._~+/=\-]{8,}|\bAKIA[0-9A-Z]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_\w{20,}|\bxox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|\bhf_[A-Za-z0-9]{20,}|\bAIza[0-9A-Za-z_\-]{30,}|\bglpat-[A-Za-z0-9_\-]{20,}")
_RUN = re.compile(r"[A-Za-z0-9+/=_.\-]{24,}")
_PIECE = re.compile(r"[A-Za-z0-9+=]{24,}")


def sensitive_name(name: str) -> bool:
    """Does a key name look like it holds a credential (``api_key``, ``accessToken``, ...)?

    ``input_tokens`` / ``max_tokens`` are counts, not credentials, and are kept.
    """
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return _SENSITIVE.search(re.sub(r"[^a-z0-9]+", "_", snake)) is not None


def _random_piece(piece: str) -> bool:
    digit = any(c.isdigit() for c in piece)
    upper, lower = any(c.isupper() for c in piece), any(c.islower() for c in piece)
    return digit and (upper or lower) and ((upper and lower) or len(piece) >= 32)


def _mask_random(match: re.Match[str]) -> str:
    run = match.group(0)
    return MASK if any(_random_piece(p) for p in _PIECE.findall(run)) else run


def env_secrets(extra_names: Iterable[str] = ()) -> frozenset[str]:
    """Values of environment variables named like credentials (and of ``extra_names``)."""
    names = set(extra_names)
    return frozenset(v for k, v in os.environ.items()
                     if (k in names or sensitive_name(k)) and len(v) >= 8)


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask known secret values, key-shaped strings and long random-looking tokens."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return _RUN.sub(_mask_random, _KEY_SHAPES.sub(MASK, text))


def redact(mapping: Mapping[str, Any], secrets: Iterable[str] | None = None) -> dict[str, Any]:
    """Drop credential-named keys and mask key-looking values, recursively."""
    found = env_secrets() if secrets is None else frozenset(secrets)
    return {str(k): _clean(v, found) for k, v in mapping.items() if not sensitive_name(str(k))}


def _clean(value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, Mapping):
        return redact(value, secrets)
    if isinstance(value, list | tuple):
        return [_clean(v, secrets) for v in value]
    return value


# the tracker ----------------------------------------------------------------------------------
def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:6000]


class MlflowTracker:
    """Logs one honed run to MLflow. Use as an event callback between ``start`` and ``end``."""

    def __init__(self, home: Path, task_name: str, *, kind: str = "eval",
                 params: Mapping[str, Any] | None = None, max_traces: int = 50, seed: int = 0,
                 run_name: str | None = None, tags: Mapping[str, str] | None = None,
                 secret_names: Iterable[str] = (), uri: str | None = None) -> None:
        self.home, self.task_name, self.kind = home, task_name, kind
        self.uri = uri or tracking_uri(home)
        self.max_traces, self.run_name = max_traces, run_name
        self.errors: list[str] = []
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.trace_ids: list[str] = []
        self.calls_seen = 0
        self._secrets = env_secrets(secret_names)
        self._params = redact(flatten(params or {}), self._secrets)
        self._tags = redact(dict(tags or {}), self._secrets)
        self._rng = random.Random(seed)
        self._sample: list[tuple[CallCompleted, int]] = []
        self._metrics: list[Any] = []
        self._best: dict[str, float] = {}
        self._step = 0  # the last iteration seen; final metrics land there (latest value wins)
        self._lock = threading.Lock()
        self._client: Any = None
        self._ended = False

    # lifecycle ------------------------------------------------------------------------------
    def start(self) -> str:
        """Create (or reuse) the task's experiment and open a run; returns the MLflow run id."""
        load_mlflow()
        from mlflow.entities import Param

        try:
            self._client = client_for(self.uri)
            experiment = self._client.get_experiment_by_name(self.task_name)
            self.experiment_id = (experiment.experiment_id if experiment is not None else
                                  self._client.create_experiment(
                                      self.task_name,
                                      artifact_location=artifact_location(self.uri)))
            tags = {"honed.kind": self.kind, "honed.task": self.task_name, **self._tags}
            run = self._client.create_run(self.experiment_id, tags=tags,
                                          run_name=self.run_name or f"{self.kind}-"
                                          f"{time.strftime('%Y%m%d-%H%M%S')}")
        except Exception as exc:
            raise ConfigError(f"cannot open the MLflow store {self.uri}: "
                              f"{mask_text(str(exc), self._secrets)}",
                              field="MLFLOW_TRACKING_URI",
                              fix="check the tracking URI, or set tracking: none") from None
        self.run_id = run.info.run_id
        params = [Param(k[:250], _param_value(v)) for k, v in self._params.items()
                  if v is not None]
        for i in range(0, len(params), 100):
            self._guard(lambda batch=params[i:i + 100]: self._client.log_batch(
                self.run_id, params=batch))
        return self.run_id

    def end(self, status: str = "finished") -> None:
        """Flush metrics and sampled traces, then close the run. Idempotent."""
        if self._client is None or self.run_id is None or self._ended:
            return
        self._ended = True
        self._guard(self._flush_metrics)
        self._guard(self._write_traces)
        self._guard(lambda: self._client.set_terminated(
            self.run_id, _STATUS.get(status.lower(), status.upper())))

    def __enter__(self) -> MlflowTracker:
        self.start()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.end("finished")
        else:
            self.end("interrupted" if issubclass(exc_type, KeyboardInterrupt) else "failed")

    def _guard(self, action: Any) -> None:
        """Tracking never breaks a run: failures are kept in ``errors`` for the caller."""
        try:
            action()
        except Exception as exc:
            self.errors.append(mask_text(f"{type(exc).__name__}: {exc}", self._secrets))

    # events -----------------------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        if isinstance(event, CallCompleted):
            self._keep_call(event)
        elif isinstance(event, CandidateEvaluated):
            self._iteration_metrics(event)

    def _keep_call(self, event: CallCompleted) -> None:
        item = (event, time.time_ns())
        with self._lock:
            self.calls_seen += 1
            if len(self._sample) < self.max_traces:
                self._sample.append(item)
                return
            slot = self._rng.randrange(self.calls_seen)
            if slot < self.max_traces:
                self._sample[slot] = item

    def _iteration_metrics(self, event: CandidateEvaluated) -> None:
        if self._client is None:
            return
        best = max(self._best.get(event.split, event.score), event.score)
        self._best[event.split] = best
        self._step = max(self._step, event.iteration)
        self._queue({f"{event.split}/score": event.score, f"{event.split}/best": best,
                     "best_so_far": event.best_so_far, "calls": event.calls,
                     "cost_usd": event.cost_usd}, step=event.iteration)
        if len(self._metrics) >= 200:
            self._guard(self._flush_metrics)

    def _queue(self, values: Mapping[str, Any], step: int | None = None) -> None:
        from mlflow.entities import Metric

        step = self._step if step is None else step
        now = int(time.time() * 1000)
        with self._lock:
            self._metrics.extend(Metric(k[:250], float(v), now, step)
                                 for k, v in redact(values, self._secrets).items()
                                 if isinstance(v, int | float) and not isinstance(v, bool))

    def _flush_metrics(self) -> None:
        with self._lock:
            pending, self._metrics = self._metrics, []
        for i in range(0, len(pending), 1000):
            self._client.log_batch(self.run_id, metrics=pending[i:i + 1000])

    # final logging ----------------------------------------------------------------------------
    def log_eval(self, eval_dict: Mapping[str, Any], example_rows: Sequence[Mapping[str, Any]],
                 *, prompt: Mapping[str, Any] | None = None) -> None:
        """Final eval scores (CI, n, cost, latency) as metrics; summary and results as files."""
        self._guard(lambda: self._log_eval(eval_dict, example_rows, prompt))

    def _log_eval(self, data: Mapping[str, Any], rows: Sequence[Mapping[str, Any]],
                  prompt: Mapping[str, Any] | None) -> None:
        self._queue(summary_metrics(data))
        self._queue({f"per_eval/{k}": v for k, v in data.get("per_eval", {}).items()})
        self._set_tags({"honed.split": data.get("split"), "honed.model": data.get("model"),
                        "honed.candidate_id": data.get("candidate_id"),
                        "honed.stopped": data.get("stopped")})
        self._flush_metrics()
        self._json(dict(data), "eval.json")
        self._json({"results": [dict(r) for r in rows]}, "results.json")
        self._text(results_csv(rows), "results.csv")
        if prompt is not None:
            self._json(dict(prompt), "prompt.json")

    def log_optimization(self, result_dict: Mapping[str, Any],
                         trajectory: Sequence[Mapping[str, Any]],
                         candidates: Sequence[Mapping[str, Any]]) -> None:
        """Seed/best scores on val and test with CIs, the paired test diff, the best prompt,
        the trajectory and every candidate."""
        self._guard(lambda: self._log_optimization(result_dict, trajectory, candidates))

    def _log_optimization(self, data: Mapping[str, Any], steps: Sequence[Mapping[str, Any]],
                          candidates: Sequence[Mapping[str, Any]]) -> None:
        self._queue(optimization_metrics(data))
        best = data.get("best", {})
        self._set_tags({"honed.run_id": data.get("run_id"),
                        "honed.optimizer": data.get("optimizer"),
                        "honed.best_candidate_id": best.get("candidate_id"),
                        "honed.seed_candidate_id": data.get("seed", {}).get("candidate_id"),
                        "honed.stopped": data.get("stopped")})
        self._flush_metrics()
        full = next((c for c in candidates if c.get("id") == best.get("candidate_id")), None)
        best_prompt = {"candidate_id": best.get("candidate_id"), "prompt": best.get("prompt"),
                       "candidate": full}
        self._json(dict(data), "result.json")
        self._json(best_prompt, "best_prompt.json")
        self._text(prompt_markdown(best.get("prompt") or {}), "best_prompt.md")
        self._json({"steps": [dict(s) for s in steps]}, "trajectory.json")
        self._text(table_csv(steps), "trajectory.csv")
        self._json({"candidates": [dict(c) for c in candidates]}, "candidates.json")

    def _set_tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in redact({k: v for k, v in tags.items() if v is not None},
                                 self._secrets).items():
            self._client.set_tag(self.run_id, key, str(value)[:5000])

    def _json(self, data: Mapping[str, Any], path: str) -> None:
        text = json.dumps(redact(data, self._secrets), indent=2, ensure_ascii=False, default=str)
        self._text(text, path, masked=True)

    def _text(self, text: str, path: str, *, masked: bool = False) -> None:
        self._client.log_text(self.run_id, text if masked else mask_text(text, self._secrets),
                              path)

    # traces -----------------------------------------------------------------------------------
    def _write_traces(self) -> None:
        with self._lock:
            sample = sorted(self._sample, key=lambda item: item[1])
            self._sample = []
        if not sample:
            return
        mlflow = load_mlflow()
        with _global_uri(mlflow, self.uri):
            for event, end_ns in sample:
                self.trace_ids.append(self._trace(mlflow, event, end_ns))
            mlflow.flush_trace_async_logging()

    def _trace(self, mlflow: Any, event: CallCompleted, end_ns: int) -> str:
        from mlflow.entities import SpanType
        from mlflow.tracing.constant import SpanAttributeKey

        s = self._secrets
        usage = {"input_tokens": event.input_tokens, "output_tokens": event.output_tokens,
                 "total_tokens": event.input_tokens + event.output_tokens}
        ids = {"honed.label": event.label, "honed.candidate_id": event.candidate_id,
               "honed.example_id": event.example_id, "honed.model": event.model}
        attributes = {**redact(ids, s), **usage, "latency_s": event.latency_s,
                      "cost_usd": event.cost_usd, "cached": event.cached,
                      SpanAttributeKey.CHAT_USAGE: usage,
                      SpanAttributeKey.MODEL: mask_text(event.model, s),
                      # our own cost: also stops MLflow importing litellm to price the call
                      SpanAttributeKey.LLM_COST: {"total_cost": event.cost_usd}}
        tags = {k: str(v) for k, v in {**redact(ids, s), "honed.task": self.task_name,
                                       "honed.cached": event.cached}.items()}
        span = mlflow.start_span_no_context(
            f"{event.label} call".strip(), span_type=SpanType.CHAT_MODEL,
            inputs={"messages": [redact(m, s) for m in event.messages]},
            attributes=attributes, tags=tags, metadata={"mlflow.sourceRun": self.run_id},
            experiment_id=self.experiment_id,
            start_time_ns=end_ns - int(max(event.latency_s, 0.0) * 1e9))
        span.set_outputs(mask_text(event.output, s))
        span.end(end_time_ns=end_ns)
        return span.trace_id


# what gets logged -----------------------------------------------------------------------------
_SUMMARY_METRICS = ("score", "n", "n_total", "pass_rate", "errors", "skipped",
                    "format_violations", "calls", "cache_hits", "retries", "failed_calls",
                    "input_tokens", "output_tokens", "cost_usd", "wall_s", "latency_p50_s",
                    "latency_p95_s")
_RUN_METRICS = ("calls", "rollouts", "cache_hits", "retries", "input_tokens", "output_tokens",
                "cost_usd", "wall_s", "candidates")


def _with_ci(prefix: str, stats: Mapping[str, Any] | None) -> dict[str, Any]:
    if not stats:
        return {}
    lo, hi = stats.get("ci95") or (None, None)
    return {f"{prefix}score": stats.get("score"), f"{prefix}ci95_low": lo,
            f"{prefix}ci95_high": hi, f"{prefix}n": stats.get("n")}


def summary_metrics(data: Mapping[str, Any]) -> dict[str, Any]:
    """An eval summary (``EvalRun.to_dict()``) as flat numeric metrics."""
    out = {k: data.get(k) for k in _SUMMARY_METRICS}
    out.update(_with_ci("", data))
    return {k: v for k, v in out.items() if v is not None}


def optimization_metrics(data: Mapping[str, Any]) -> dict[str, Any]:
    """An ``OptimizationResult.to_dict()`` as flat numeric metrics (``best/test/score``, ...)."""
    out: dict[str, Any] = {k: data.get(k) for k in _RUN_METRICS}
    for who in ("seed", "best"):
        for split in ("val", "test"):
            out.update(_with_ci(f"{who}/{split}/", (data.get(who) or {}).get(split)))
    diff = data.get("test_diff") or {}
    if diff:
        out.update(_with_ci("test_diff/", {**diff, "score": diff.get("diff")}))
        out["test_diff/significant"] = float(bool(diff.get("significant")))
    return {k: v for k, v in out.items() if v is not None}


def results_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """Per-example results as CSV: one row per example, one column group per eval."""
    flat = []
    for row in rows:
        item = {k: v for k, v in row.items() if k != "evals"}
        for name, ev in (row.get("evals") or {}).items():
            for key in ("score", "passed", "feedback"):
                item[f"{name}.{key}"] = ev.get(key)
        flat.append(item)
    return table_csv(flat)


def table_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, dict | list) else v
                         for k, v in row.items()})
    return buffer.getvalue()


def prompt_markdown(prompt: Mapping[str, Any]) -> str:
    parts = [f"## system\n\n{prompt.get('system', '')}\n", f"## user\n\n{prompt.get('user', '')}\n"]
    for name, text in (prompt.get("components") or {}).items():
        parts.append(f"## {name}\n\n{text}\n")
    demos = prompt.get("demos") or []
    parts.append("## demos\n\n" + ("".join(f"- {d}\n" for d in demos) or "(none)\n"))
    return "\n".join(parts)


def open_tracker(task: Any, home: Path, kind: str, params: Mapping[str, Any] | None = None,
                 mode: str | None = None, **options: Any) -> MlflowTracker | None:
    """A tracker for ``task`` (not started), or None: ``mode`` (default ``task.tracking``) is
    ``none``, or ``auto`` without MLflow. ``mlflow`` without MLflow is a ConfigError."""
    mode = mode or task.tracking
    if mode == "none":
        return None
    if mode not in ("auto", "mlflow"):
        raise ConfigError(f"unknown tracking mode {mode!r}", field="tracking",
                          fix="use auto, mlflow or none")
    if not mlflow_available():
        if mode == "auto":
            return None
        raise ConfigError("tracking: mlflow, but MLflow (with sqlalchemy and alembic for the "
                          "local store) is not installed", field="tracking", fix=_INSTALL_FIX)
    models = [task.model, task.judge_model, task.reflection_model]
    key_envs = [m.api_key_env for m in models if m is not None and m.api_key_env]
    tags = {"honed.task_file": task.source}
    return MlflowTracker(home, task.name, kind=kind, params=params, tags=tags,
                         secret_names=key_envs, **options)
