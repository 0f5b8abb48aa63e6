"""Online experiments: the experiments, the decisions taken on them, scores of logged requests
per eval, and the experiment that routed each request.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("requests", sa.Column("experiment", sa.Text, nullable=True))
    op.create_index("ix_requests_experiment", "requests", ["experiment"])
    op.create_table(
        "experiments",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("control_ref", sa.Text, nullable=False),
        sa.Column("control_version", sa.Integer, nullable=False),
        sa.Column("treatment_ref", sa.Text, nullable=False),
        sa.Column("treatment_version", sa.Integer, nullable=False),
        sa.Column("split", sa.Float, nullable=False),
        sa.Column("metric", sa.Text, nullable=False),
        sa.Column("guardrails", sa.Text, nullable=False),
        sa.Column("max_requests", sa.Integer, nullable=True),
        sa.Column("max_days", sa.Float, nullable=True),
        sa.Column("task", sa.Text, nullable=True),
        sa.Column("salt", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("ended", sa.Float, nullable=True),
        sa.Column("result", sa.Text, nullable=True),
    )
    op.create_index("ix_experiments_status", "experiments", ["status"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("alias", sa.Text, nullable=True),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=True),
        sa.Column("experiment", sa.Text, nullable=True),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("undone_at", sa.Float, nullable=True),
        sa.Column("undone_by", sa.Integer, nullable=True),
    )
    op.create_index("ix_decisions_prompt_created", "decisions", ["prompt", "created"])
    op.create_table(
        "request_scores",
        sa.Column("request_id", sa.Text, sa.ForeignKey("requests.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("eval", sa.Text, primary_key=True),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("request_scores")
    op.drop_index("ix_decisions_prompt_created", table_name="decisions")
    op.drop_table("decisions")
    op.drop_index("ix_experiments_status", table_name="experiments")
    op.drop_table("experiments")
    op.drop_index("ix_requests_experiment", table_name="requests")
    op.drop_column("requests", "experiment")
