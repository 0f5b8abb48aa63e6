"""Where the dashboard reads from: the run store, the prompt registry and the production log
under one ``$HONED_HOME``. Each is opened on first use once it exists (the dashboard never
creates a state file), and used from the server's event loop only (SQLite connections are tied
to their thread)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from honed.lifecycle.registry import PromptRegistry, registry_backend
from honed.lifecycle.report.taskdata import TaskLoader
from honed.store.db import DB_ENV, DB_FILE
from honed.store.log import LogStore
from honed.tracking.store import RunStore


class Sources:
    """The stores of one home, opened lazily and closed together."""

    def __init__(self, home: Path, *, db_url: str | None = None,
                 backend: str | None = None) -> None:
        self.home = home
        self.db_url = db_url or os.environ.get(DB_ENV)
        self.backend = registry_backend(backend)
        self.tasks = TaskLoader([home.resolve().parent])
        self._runs: RunStore | None = None
        self._registry: PromptRegistry | None = None
        self._log: LogStore | None = None

    def runs(self) -> RunStore | None:
        """The run store, once an optimization has created it."""
        if self._runs is None and (self.home / "runs.sqlite").exists():
            self._runs = RunStore(self.home / "runs.sqlite")
        return self._runs

    def registry(self) -> PromptRegistry | None:
        """The prompt registry, once something has been registered (local backend), or the
        MLflow one."""
        if self._registry is None:
            if self.backend == "local" and not (self.home / "registry.sqlite").exists():
                return None
            from honed.lifecycle.registries import open_registry

            self._registry = open_registry(self.home, backend=self.backend)
        return self._registry

    def log(self) -> LogStore | None:
        """The production log (and the API keys), once ``honed serve`` or ``honed keys`` has
        created it, or the database ``$HONED_DB`` names."""
        if self._log is None:
            if not self.db_url and not (self.home / DB_FILE).exists():
                return None
            from honed.store.log import open_store

            self._log = open_store(self.db_url, home=self.home)
        return self._log

    def close(self) -> None:
        for store in (self._runs, self._registry, self._log):
            closer: Any = getattr(store, "close", None)
            if closer is not None:
                closer()
        self._runs = self._registry = self._log = None
