"""The production log's tables as SQLAlchemy Core objects (queries use these; the DDL lives in
the Alembic migrations beside this module, and a test checks that both agree).

Times are seconds since the epoch (float). JSON columns hold canonical JSON text, so SQLite and
PostgreSQL store the same bytes.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, MetaData, Table, Text

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
    Index("ix_requests_prompt_created", "prompt", "created"),
    Index("ix_requests_created", "created"),
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
