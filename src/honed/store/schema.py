"""The production log's tables as SQLAlchemy Core objects (queries use these; the DDL lives in
the Alembic migrations beside this module, and a test checks that both agree).

Times are seconds since the epoch (float). JSON columns hold canonical JSON text, so SQLite and
PostgreSQL store the same bytes.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)

metadata = MetaData()

requests = Table(
    "requests", metadata,
    Column("id", Text, primary_key=True),  # the request id handed to the caller
    Column("created", Float, nullable=False),
    Column("prompt", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("alias", Text, nullable=True),
    Column("inputs", Text, nullable=False),  # JSON object
    Column("output", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("latency_s", Float, nullable=True),
    Column("input_tokens", Integer, nullable=True),
    Column("output_tokens", Integer, nullable=True),
    Column("cost_usd", Float, nullable=True),
    Column("user_id", Text, nullable=True),
    Column("metadata", Text, nullable=False),  # JSON object
    Column("arm", Text, nullable=True),  # experiment arm, when the request was part of one
    Column("experiment", Text, nullable=True),  # the experiment that routed it (0002)
    Index("ix_requests_prompt_created", "prompt", "created"),
    Index("ix_requests_created", "created"),
    Index("ix_requests_experiment", "experiment"),
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", Text, ForeignKey("requests.id", ondelete="CASCADE"), nullable=False),
    Column("created", Float, nullable=False),
    Column("score", Float, nullable=True),
    Column("label", Text, nullable=True),
    Column("correction", Text, nullable=True),
    Column("comment", Text, nullable=True),
    Index("ix_feedback_request_id", "request_id"),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("key_hash", Text, nullable=False, unique=True),  # sha256 hex; never the key itself
    Column("created", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
    Column("last_used", Float, nullable=True),
)

# online experiments (0002) -----------------------------------------------------------------------
experiments = Table(
    "experiments", metadata,
    Column("name", Text, primary_key=True),
    Column("prompt", Text, nullable=False),
    Column("control_ref", Text, nullable=False),  # NAME@ALIAS whose traffic is split
    Column("control_version", Integer, nullable=False),  # what the alias resolved to at start
    Column("treatment_ref", Text, nullable=False),
    Column("treatment_version", Integer, nullable=False),
    Column("split", Float, nullable=False),  # share of units sent to the treatment
    Column("metric", Text, nullable=False),  # feedback | eval:NAME
    Column("guardrails", Text, nullable=False),  # JSON list
    Column("max_requests", Integer, nullable=True),
    Column("max_days", Float, nullable=True),
    Column("task", Text, nullable=True),  # task file of an eval metric
    Column("salt", Text, nullable=False),
    Column("status", Text, nullable=False),  # running|won|lost|breached|expired|stopped
    Column("created", Float, nullable=False),
    Column("ended", Float, nullable=True),
    Column("result", Text, nullable=True),  # JSON: the last check
    Column("unit", Text, nullable=True),  # user | request (NULL: request; 0005)
    Index("ix_experiments_status", "status"),
)

decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created", Float, nullable=False),
    Column("prompt", Text, nullable=False),
    Column("kind", Text, nullable=False),  # promote | keep | stop | rollback
    Column("alias", Text, nullable=True),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("experiment", Text, nullable=True),
    Column("evidence", Text, nullable=False),  # JSON object
    Column("undone_at", Float, nullable=True),
    Column("undone_by", Integer, nullable=True),  # the decision that undid it
    Index("ix_decisions_prompt_created", "prompt", "created"),
)

request_scores = Table(
    "request_scores", metadata,
    Column("request_id", Text, ForeignKey("requests.id", ondelete="CASCADE"),
           primary_key=True),
    Column("eval", Text, primary_key=True),
    Column("score", Float, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("error", Text, nullable=True),  # the scorer raised: recorded, scored 0
    Column("created", Float, nullable=False),
)

# monitoring and the continuous-learning loop (0003) ----------------------------------------------
alarms = Table(
    "alarms", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created", Float, nullable=False),
    Column("prompt", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", Text, nullable=False),  # quality | inputs
    Column("detector", Text, nullable=False),  # cusum | psi:<measure>
    Column("request_id", Text, nullable=True),  # the request at which it alarmed
    Column("at", Float, nullable=True),  # that request's time
    Column("evidence", Text, nullable=False),  # JSON object
    Column("cleared_at", Float, nullable=True),
    Column("cleared_by", Text, nullable=True),  # who or what cleared it (a loop tick, a user)
    Index("ix_alarms_prompt_created", "prompt", "created"),
)

loop_events = Table(
    "loop_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created", Float, nullable=False),
    Column("loop", Text, nullable=False),  # the loop's name (its prompt by default)
    Column("step", Text, nullable=False),  # trigger | harvest | optimize | gate | candidate | ...
    Column("status", Text, nullable=False),  # ok | skipped | failed | waiting
    Column("cycle", Integer, nullable=False),  # one trigger-to-decision cycle
    Column("calls", Integer, nullable=False),  # task-model and proposer calls spent by the step
    Column("cost_usd", Float, nullable=False),
    Column("detail", Text, nullable=False),  # JSON object
    Index("ix_loop_events_loop_created", "loop", "created"),
    Index("ix_loop_events_loop_cycle", "loop", "cycle"),  # 0004
)
