"""An index on the loop's events by cycle: the dashboard's loop page reads cycles by number.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_loop_events_loop_cycle", "loop_events", ["loop", "cycle"])


def downgrade() -> None:
    op.drop_index("ix_loop_events_loop_cycle", table_name="loop_events")
