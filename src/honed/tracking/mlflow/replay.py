"""Replay a spooled run (see ``spool``) into MLflow: experiment, run, params, metrics, tags,
artifacts, sampled traces, end status.

Replaying is idempotent, so a flusher that was killed half-way can simply run again: the run is
found by its tag ``honed.tracking_id``, metrics and params are logged with the same values and
timestamps (MLflow keeps one copy), artifacts are overwritten, and traces already written (tag
``honed.trace_seq``) are skipped. Everything in a record was redacted before it was written.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from honed.tracking.mlflow.store import _global_uri, client_for, load_mlflow, resolve_uri

ID_TAG, SEQ_TAG = "honed.tracking_id", "honed.trace_seq"
_BATCH = {"params": 100, "tags": 100, "metrics": 1000}  # MLflow's log_batch limits


@dataclass
class Receipt:
    """Where a replayed record landed."""

    run_id: str
    experiment_id: str
    trace_ids: list[str] = field(default_factory=list)
    resumed: bool = False  # an earlier, interrupted replay had created the run


def replay(record: Mapping[str, Any]) -> Receipt:
    """Log ``record`` to MLflow (its own ``uri``); raises what MLflow raises."""
    mlflow = load_mlflow()
    uri = resolve_uri(record["uri"])
    client = client_for(uri)
    experiment_id = _experiment(client, record)
    run_id, resumed = _run(client, experiment_id, record)
    _log_batches(client, run_id, record)
    for path, text in record.get("artifacts", []):
        client.log_text(run_id, text, path)
    receipt = Receipt(run_id, experiment_id, resumed=resumed)
    traces = record.get("traces", [])
    if traces:
        skip = _written_traces(client, experiment_id, run_id) if resumed else set()
        with _global_uri(mlflow, uri):
            receipt.trace_ids = [_trace(mlflow, record, experiment_id, run_id, i, t)
                                 for i, t in enumerate(traces) if str(i) not in skip]
            mlflow.flush_trace_async_logging()
    final = bool(record.get("final"))
    status = (record.get("status") or "FINISHED") if final else "KILLED"
    end_ms = record.get("end_ms") if final else record.get("saved_ms")
    client.set_terminated(run_id, status, end_time=int(end_ms or time.time() * 1000))
    return receipt


def _experiment(client: Any, record: Mapping[str, Any]) -> str:
    from mlflow.exceptions import MlflowException

    name = record["experiment"]
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name,
                                            artifact_location=record.get("artifact_location")))
    except MlflowException:  # another flusher created it a moment ago
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def _run(client: Any, experiment_id: str, record: Mapping[str, Any]) -> tuple[str, bool]:
    runs = client.search_runs([experiment_id],
                              filter_string=f"tags.`{ID_TAG}` = '{record['id']}'",
                              max_results=1)
    if runs:
        return str(runs[0].info.run_id), True
    tags = {**record.get("tags", {}), ID_TAG: record["id"]}
    run = client.create_run(experiment_id, start_time=record.get("start_ms"), tags=tags,
                            run_name=record.get("run_name"))
    return str(run.info.run_id), False


def _log_batches(client: Any, run_id: str, record: Mapping[str, Any]) -> None:
    from mlflow.entities import Metric, Param, RunTag

    params = [Param(k, v) for k, v in record.get("params", {}).items()]
    tags = [RunTag(k, v) for k, v in record.get("set_tags", {}).items()]
    metrics = [Metric(k, float(v), int(ts), int(step))
               for k, v, ts, step in record.get("metrics", [])]
    for kind, items in (("params", params), ("tags", tags), ("metrics", metrics)):
        size = _BATCH[kind]
        for i in range(0, len(items), size):
            client.log_batch(run_id, **{kind: items[i:i + size]})


def _written_traces(client: Any, experiment_id: str, run_id: str) -> set[str]:
    seen, token = set(), None
    while True:
        page = client.search_traces(locations=[experiment_id], run_id=run_id,
                                    include_spans=False, page_token=token)
        seen.update(t.info.tags.get(SEQ_TAG, "") for t in page)
        token = page.token
        if not token:
            return seen


def _trace(mlflow: Any, record: Mapping[str, Any], experiment_id: str, run_id: str, seq: int,
           call: Mapping[str, Any]) -> str:
    from mlflow.entities import SpanType
    from mlflow.tracing.constant import SpanAttributeKey

    usage = {"input_tokens": call["input_tokens"], "output_tokens": call["output_tokens"],
             "total_tokens": call["input_tokens"] + call["output_tokens"]}
    ids: dict[str, Any] = call["ids"]
    attributes = {**ids, **usage, "latency_s": call["latency_s"],
                  "cost_usd": call["cost_usd"], "cached": call["cached"],
                  SpanAttributeKey.CHAT_USAGE: usage, SpanAttributeKey.MODEL: call["model"],
                  # our own cost: also stops MLflow importing litellm to price the call
                  SpanAttributeKey.LLM_COST: {"total_cost": call["cost_usd"]}}
    tags = {k: str(v) for k, v in {**ids, "honed.task": record["experiment"],
                                   "honed.cached": call["cached"], SEQ_TAG: seq}.items()}
    end_ns = int(call["end_ns"])
    span = mlflow.start_span_no_context(
        call["name"], span_type=SpanType.CHAT_MODEL, inputs={"messages": call["messages"]},
        attributes=attributes, tags=tags, metadata={"mlflow.sourceRun": run_id},
        experiment_id=experiment_id,
        start_time_ns=end_ns - int(max(call["latency_s"], 0.0) * 1e9))
    span.set_outputs(call["output"])
    span.end(end_time_ns=end_ns)
    return str(span.trace_id)

