"""Monitoring and the continuous-learning loop: drift alarms and the loop's events.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("detector", sa.Text, nullable=False),
        sa.Column("request_id", sa.Text, nullable=True),
        sa.Column("at", sa.Float, nullable=True),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("cleared_at", sa.Float, nullable=True),
        sa.Column("cleared_by", sa.Text, nullable=True),
    )
    op.create_index("ix_alarms_prompt_created", "alarms", ["prompt", "created"])
    op.create_table(
        "loop_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("loop", sa.Text, nullable=False),
        sa.Column("step", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_loop_events_loop_created", "loop_events", ["loop", "created"])


def downgrade() -> None:
    op.drop_index("ix_loop_events_loop_created", table_name="loop_events")
    op.drop_table("loop_events")
    op.drop_index("ix_alarms_prompt_created", table_name="alarms")
    op.drop_table("alarms")
