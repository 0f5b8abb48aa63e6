"""``MlflowTracker``: one honed run as one MLflow run, and ``open_tracker`` for a task.

The tracker never calls MLflow while the work runs: it records the run in memory (params,
per-iteration metrics, final scores, tags, artifacts, a uniform sample of model calls), redacts
it, and keeps it in a spool file (see ``spool``) that a flusher logs to MLflow (see ``replay``).
With ``background=True`` (what ``honed eval`` / ``honed optimize`` use under ``tracking: auto``)
``end`` hands the file to a detached process and returns at once; otherwise ``end`` logs it here
and returns when the run is in MLflow (``run_id``, ``trace_ids`` set, failures in ``errors``).
"""

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
from honed.tracking.mlflow.spool import (
    CHECKPOINT_S,
    FORMAT,
    failures,
    new_id,
    owner,
    spawn_flusher,
    spool_dir,
    write_atomic,
)
from honed.tracking.mlflow.store import (
    _INSTALL_FIX,
    artifact_location,
    mlflow_available,
    public_uri,
    tracking_uri,
)
from honed.tracking.recorder import Trajectory

_STATUS = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED",
           "killed": "KILLED", "stopped": "FINISHED"}
WAIT_ENV = "HONED_TRACKING_WAIT"  # 1: a tracked command waits until its run is in MLflow


def _now_ms() -> int:
    return int(time.time() * 1000)


# the tracker ----------------------------------------------------------------------------------
class MlflowTracker:
    """Records one honed run for MLflow. Use as an event callback between ``start`` and ``end``."""

    def __init__(self, home: Path, task_name: str, *, kind: str = "eval",
                 params: Mapping[str, Any] | None = None, max_traces: int = 50, seed: int = 0,
                 run_name: str | None = None, tags: Mapping[str, str] | None = None,
                 secret_names: Iterable[str] = (), uri: str | None = None,
                 background: bool = False) -> None:
        self.home, self.task_name, self.kind = home, task_name, kind
        self.uri = uri or tracking_uri(home)
        self.max_traces, self.background = max_traces, background
        self.run_name = run_name or f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
        self.errors: list[str] = []
        self.tracking_id = new_id()
        self.spool_path = spool_dir(home) / f"{self.tracking_id}.json"
        self.run_id: str | None = None  # MLflow's, once the run is logged (not in background)
        self.experiment_id: str | None = None
        self.trace_ids: list[str] = []
        self.calls_seen = 0
        self._secret_names = tuple(secret_names)
        self._secrets = env_secrets(self._secret_names)
        self._params = {k[:250]: _param_value(v) for k, v in
                        redact(flatten(params or {}), self._secrets).items() if v is not None}
        self._tags = {"honed.kind": kind, "honed.task": task_name,
                      **redact(dict(tags or {}), self._secrets)}
        self._rng = random.Random(seed)
        self._sample: list[tuple[CallCompleted, int]] = []
        self._metrics: list[list[Any]] = []
        self._set: dict[str, str] = {}
        self._artifacts: dict[str, str] = {}
        self._best: dict[str, float] = {}
        self._step = 0  # the last iteration seen; final metrics land there (latest value wins)
        self._lock = threading.Lock()
        self._started_ms: int | None = None
        self._saved = 0.0
        self._ended = False
        self._status: str | None = None
        self.trajectory = Trajectory()  # steps and candidates, from the run's events

    # lifecycle ------------------------------------------------------------------------------
    def start(self) -> str:
        """Open the run (a spool file; MLflow is not touched). Returns the tracking id, which
        the MLflow run carries as the tag ``honed.tracking_id``."""
        self._started_ms = _now_ms()
        if self.background:  # earlier runs left behind: report failures, flush the rest
            from honed.tracking.mlflow.flush import flush_pending

            self.errors.extend(failures(self.home))
            self._guard(lambda: flush_pending(self.home, wait=False, grace_s=0,
                                              secret_names=self._secret_names))
        self._guard(lambda: self._save(final=False))
        return self.tracking_id

    def end(self, status: str = "finished") -> None:
        """Close the run: log it to MLflow here, or hand it to a background process. Idempotent."""
        if self._started_ms is None or self._ended:
            return
        self._ended = True
        self._status = _STATUS.get(status.lower(), status.upper())
        try:
            self._save(final=True)
        except Exception as exc:
            self.errors.append(mask_text(f"cannot write {self.spool_path}: "
                                         f"{type(exc).__name__}: {exc}", self._secrets))
            return
        if self.background:
            self._guard(lambda: spawn_flusher(self.home, self._secret_names))
        else:
            self._guard(self._log_now)

    def _log_now(self) -> None:
        from honed.tracking.mlflow.flush import flush_file, flush_pending

        receipt = flush_file(self.spool_path)
        if receipt is not None:
            self.run_id, self.experiment_id = receipt.run_id, receipt.experiment_id
            self.trace_ids = list(receipt.trace_ids)
        self.errors.extend(flush_pending(self.home).errors)  # MLflow is loaded: flush the rest

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

    # the spool file ---------------------------------------------------------------------------
    def _save(self, *, final: bool) -> None:
        write_atomic(self.spool_path, self.record(final=final))
        self._saved = time.monotonic()

    def record(self, *, final: bool) -> dict[str, Any]:
        """The run as a spool record (everything redacted)."""
        with self._lock:
            metrics, sample = list(self._metrics), sorted(self._sample, key=lambda i: i[1])
            set_tags, artifacts = dict(self._set), list(self._artifacts.items())
        return {"format": FORMAT, "id": self.tracking_id, "final": final, "owner": owner(),
                "uri": public_uri(self.uri), "experiment": self.task_name,
                "artifact_location": artifact_location(self.uri), "run_name": self.run_name,
                "start_ms": self._started_ms, "saved_ms": _now_ms(),
                "end_ms": _now_ms() if final else None,
                "status": self._status if final else None,
                "tags": self._tags, "params": self._params, "metrics": metrics,
                "set_tags": set_tags, "artifacts": artifacts,
                "traces": [self._trace_entry(e, end_ns) for e, end_ns in sample]}

    def _checkpoint(self) -> None:
        if not self._ended and time.monotonic() - self._saved >= CHECKPOINT_S:
            self._guard(lambda: self._save(final=False))

    # events -----------------------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        self.trajectory(event)
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
        if self._started_ms is None:
            return
        best = max(self._best.get(event.split, event.score), event.score)
        self._best[event.split] = best
        self._step = max(self._step, event.iteration)
        self._queue({f"{event.split}/score": event.score, f"{event.split}/best": best,
                     "best_so_far": event.best_so_far, "calls": event.calls,
                     "cost_usd": event.cost_usd}, step=event.iteration)
        self._checkpoint()

    def _queue(self, values: Mapping[str, Any], step: int | None = None) -> None:
        step = self._step if step is None else step
        now = _now_ms()
        with self._lock:
            self._metrics.extend([k[:250], float(v), now, step]
                                 for k, v in redact(values, self._secrets).items()
                                 if isinstance(v, int | float) and not isinstance(v, bool))

    def _trace_entry(self, event: CallCompleted, end_ns: int) -> dict[str, Any]:
        s = self._secrets
        ids = redact({"honed.label": event.label, "honed.candidate_id": event.candidate_id,
                      "honed.example_id": event.example_id, "honed.model": event.model}, s)
        return {"name": f"{event.label} call".strip(), "ids": ids,
                "model": mask_text(event.model, s),
                "messages": [redact(m, s) for m in event.messages],
                "output": mask_text(event.output, s), "input_tokens": event.input_tokens,
                "output_tokens": event.output_tokens, "latency_s": event.latency_s,
                "cost_usd": event.cost_usd, "cached": event.cached, "end_ns": end_ns}

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
        self._json(dict(data), "eval.json")
        self._json({"results": [dict(r) for r in rows]}, "results.json")
        self._text(results_csv(rows), "results.csv")
        if prompt is not None:
            self._json(dict(prompt), "prompt.json")

    def log_optimization(self, result_dict: Mapping[str, Any]) -> None:
        """Seed/best scores on val and test with CIs, the paired test diff, the best prompt,
        and the trajectory and every candidate seen in the run's events."""
        steps, candidates = self.trajectory.steps, list(self.trajectory.candidates.values())
        self._guard(lambda: self._log_optimization(result_dict, steps, candidates))

    def _log_optimization(self, data: Mapping[str, Any], steps: Sequence[Mapping[str, Any]],
                          candidates: Sequence[Mapping[str, Any]]) -> None:
        self._queue(optimization_metrics(data))
        best = data.get("best", {})
        self._set_tags({"honed.run_id": data.get("run_id"),
                        "honed.optimizer": data.get("optimizer"),
                        "honed.best_candidate_id": best.get("candidate_id"),
                        "honed.seed_candidate_id": data.get("seed", {}).get("candidate_id"),
                        "honed.stopped": data.get("stopped")})
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
        clean = redact({k: v for k, v in tags.items() if v is not None}, self._secrets)
        with self._lock:
            self._set.update({k: str(v)[:5000] for k, v in clean.items()})

    def _json(self, data: Mapping[str, Any], path: str) -> None:
        text = json.dumps(redact(data, self._secrets), indent=2, ensure_ascii=False, default=str)
        self._text(text, path, masked=True)

    def _text(self, text: str, path: str, *, masked: bool = False) -> None:
        with self._lock:
            self._artifacts[path] = text if masked else mask_text(text, self._secrets)


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
