"""MLflow tracking: one MLflow run per ``honed eval`` / ``honed optimize``, on a local store.

The store is ``sqlite:///$HONED_HOME/mlflow.db`` (artifacts under ``$HONED_HOME/mlartifacts``)
unless ``MLFLOW_TRACKING_URI`` says otherwise. MLflow is imported lazily and only after the
offline defaults are set (telemetry off, litellm's cost map local, synchronous trace export).

``MlflowTracker`` is an event callback: it records per-iteration metrics from
``CandidateEvaluated`` and keeps a uniform sample (reservoir, seeded) of at most ``max_traces``
model calls from ``CallCompleted``, written as MLflow traces with token usage and latency. The
final scores, with their CIs, the per-example results, the best prompt and the trajectory are
recorded by ``log_eval`` / ``log_optimization``. Everything recorded goes through ``redact``:
credentials never reach the store (nor the spool file).

MLflow stays off the critical path: importing it and opening its store cost seconds, so the
tracker writes the run to a spool file (``spool``) and a flusher (``flush``, ``replay``) logs it
to MLflow, in a detached background process for ``tracking: auto`` commands. The next tracked
command or ``honed registry ui`` flushes whatever was left behind, so a killed flusher loses
nothing.
"""

from __future__ import annotations

from honed.tracking.mlflow.flush import Flushed, flush_file, flush_pending
from honed.tracking.mlflow.logged import (
    flatten,
    optimization_metrics,
    prompt_markdown,
    results_csv,
    summary_metrics,
    table_csv,
)
from honed.tracking.mlflow.redaction import MASK, env_secrets, mask_text, redact, sensitive_name
from honed.tracking.mlflow.replay import Receipt
from honed.tracking.mlflow.spool import failures, pending, spool_dir
from honed.tracking.mlflow.store import (
    ARTIFACTS_DIR,
    DB_NAME,
    OFFLINE_ENV,
    UI_ENV,
    artifact_location,
    client_for,
    init_store,
    load_mlflow,
    mlflow_available,
    tracking_uri,
    ui_command,
)
from honed.tracking.mlflow.tracker import WAIT_ENV, MlflowTracker, open_tracker

__all__ = [
    "ARTIFACTS_DIR",
    "DB_NAME",
    "MASK",
    "OFFLINE_ENV",
    "UI_ENV",
    "WAIT_ENV",
    "Flushed",
    "MlflowTracker",
    "Receipt",
    "artifact_location",
    "client_for",
    "env_secrets",
    "failures",
    "flatten",
    "flush_file",
    "flush_pending",
    "init_store",
    "load_mlflow",
    "mask_text",
    "mlflow_available",
    "open_tracker",
    "optimization_metrics",
    "pending",
    "prompt_markdown",
    "redact",
    "results_csv",
    "sensitive_name",
    "spool_dir",
    "summary_metrics",
    "table_csv",
    "tracking_uri",
    "ui_command",
]
