"""Persistence for the runtime half: the production log (requests and feedback) and honed's own
API keys (hashed), over SQLAlchemy Core with Alembic migrations. SQLite by default
(``$HONED_HOME/serve.sqlite``), PostgreSQL by URL (``$HONED_DB``). Nothing above this package
writes SQL itself.
"""

from __future__ import annotations

from honed.store.db import DB_ENV, database_url
from honed.store.harvest import Harvest, harvest_rows
from honed.store.keys import KEY_PREFIX, SCOPES, KeyRow, hash_key
from honed.store.log import LogStore, UnknownKeyError, UnknownRequestError, open_store

__all__ = ["DB_ENV", "KEY_PREFIX", "SCOPES", "Harvest", "KeyRow", "LogStore", "UnknownKeyError",
           "UnknownRequestError", "database_url", "harvest_rows", "hash_key", "open_store"]
