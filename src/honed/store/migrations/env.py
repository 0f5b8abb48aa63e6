"""Alembic environment of the production log. honed runs migrations itself, in code, on the
connection it passes as ``config.attributes["connection"]`` (see ``honed.store.db.migrate``)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("honed's migrations run through honed.store.open_store(), "
                       "which passes a connection")
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
