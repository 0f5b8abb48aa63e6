"""``MlflowTracker``: one honed run as one MLflow run, and ``open_tracker`` for a task."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from honed.errors import ConfigError
from honed.tracking.events import CallCompleted, CandidateEvaluated, Event
from honed.tracking.mlflow.logged import (
    _param_value,
    flatten,
    optimization_metrics,
    prompt_markdown,
    results_csv,
    summary_metrics,
    table_csv,
)
from honed.tracking.mlflow.redaction import env_secrets, mask_text, redact
from honed.tracking.mlflow.store import (
    _INSTALL_FIX,
    _global_uri,
    artifact_location,
    client_for,
    load_mlflow,
    mlflow_available,
    tracking_uri,
)

_STATUS = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED",
           "killed": "KILLED", "stopped": "FINISHED"}


# the tracker ----------------------------------------------------------------------------------
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
