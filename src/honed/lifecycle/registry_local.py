"""honed's own prompt registry: SQLite with ordered, named migrations (no MLflow needed).

Versions are numbered 1.. per name and immutable; each holds the candidate as canonical JSON, its
demos' rows (canonical JSON, demo id -> fields) and string tags (scores, provenance). Registering
content that a version already holds (same candidate id) returns that version. Aliases
(``candidate``, ``production``, ...) point at versions and move.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping

from honed.lifecycle.registry import (
    DemoRows,
    PromptRef,
    PromptVersion,
    check_alias,
    check_name,
    demo_rows_for,
    missing,
)
from honed.tracking.sqlite import MigratedStore
from honed.types import Candidate, canonical_json

MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("0001_versions", """
        CREATE TABLE versions (
            name TEXT NOT NULL, version INTEGER NOT NULL, candidate_id TEXT NOT NULL,
            body TEXT NOT NULL, created REAL NOT NULL,
            PRIMARY KEY (name, version));
    """),
    ("0002_tags", """
        CREATE TABLE version_tags (
            name TEXT NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
            PRIMARY KEY (name, version, key));
    """),
    ("0003_aliases", """
        CREATE TABLE aliases (
            name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
            updated REAL NOT NULL,
            PRIMARY KEY (name, alias));
    """),
    ("0004_demo_rows", """
        ALTER TABLE versions ADD COLUMN demo_rows TEXT NOT NULL DEFAULT '{}';
        CREATE INDEX versions_by_content ON versions (name, candidate_id);
    """),
)
class LocalRegistry(MigratedStore):
    backend = "local"
    MIGRATIONS = MIGRATIONS

    # protocol ---------------------------------------------------------------------------------
    def register(self, name: str, candidate: Candidate, *,
                 tags: Mapping[str, str] | None = None,
                 demo_rows: DemoRows | None = None) -> PromptVersion:
        check_name(name)
        tags = {str(k): str(v) for k, v in (tags or {}).items()}
        rows = canonical_json(demo_rows_for(candidate, demo_rows))
        with self._tx() as db:
            same = db.execute("SELECT MIN(version) FROM versions WHERE name=? AND candidate_id=?",
                              (name, candidate.id)).fetchone()[0]
            number = self._insert(db, name, candidate, tags, rows) if same is None else same
            # a version registered before its demos' rows were kept gets them now
            db.execute("UPDATE versions SET demo_rows=? WHERE name=? AND version=? AND "
                       "demo_rows='{}'", (rows, name, number))
        found = self._version(name, number)
        if found is None:  # another process deleted the file under us
            raise missing(name, version=number)
        return found

    @staticmethod
    def _insert(db: sqlite3.Connection, name: str, candidate: Candidate,
                tags: Mapping[str, str], rows: str) -> int:
        row = db.execute("SELECT MAX(version) FROM versions WHERE name=?", (name,)).fetchone()
        version = (row[0] or 0) + 1
        db.execute("INSERT INTO versions (name, version, candidate_id, body, created, demo_rows) "
                   "VALUES (?,?,?,?,?,?)", (name, version, candidate.id,
                                            canonical_json(candidate.to_dict()), time.time(),
                                            rows))
        db.executemany("INSERT INTO version_tags VALUES (?,?,?,?)",
                       [(name, version, k, v) for k, v in tags.items()])
        return version

    def get(self, ref: PromptRef) -> PromptVersion:
        version = ref.version
        if ref.alias is not None:
            aliases = self.aliases(ref.name)
            if ref.alias not in aliases:
                if not self._exists(ref.name):
                    raise missing(ref.name)
                raise missing(ref.name, alias=ref.alias, known=aliases)
            version = aliases[ref.alias]
        if version is None:
            row = self._db.execute("SELECT MAX(version) FROM versions WHERE name=?",
                                   (ref.name,)).fetchone()
            version = row[0]
            if version is None:
                raise missing(ref.name)
        found = self._version(ref.name, version)
        if found is None:
            if not self._exists(ref.name):
                raise missing(ref.name)
            raise missing(ref.name, version=version,
                          known=[v.version for v in self.versions(ref.name)])
        return found

    def versions(self, name: str) -> list[PromptVersion]:
        rows = self._db.execute("SELECT * FROM versions WHERE name=? ORDER BY version", (name,))
        tags, aliases = self._tags(name), self._aliases_by_version(name)
        return [self._row(r, tags, aliases) for r in rows.fetchall()]

    def names(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT DISTINCT name FROM versions ORDER BY name")]

    def set_alias(self, name: str, alias: str, version: int) -> None:
        check_alias(alias)
        self._require(name, version)
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO aliases VALUES (?,?,?,?)",
                       (name, alias, version, time.time()))

    def set_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None:
        self._require(name, version)
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO version_tags VALUES (?,?,?,?)",
                           [(name, version, str(k), str(v)) for k, v in tags.items()])

    def aliases(self, name: str) -> dict[str, int]:
        rows = self._db.execute("SELECT alias, version FROM aliases WHERE name=? ORDER BY alias",
                                (name,))
        return {r[0]: r[1] for r in rows}

    # helpers ----------------------------------------------------------------------------------
    def _require(self, name: str, version: int) -> None:
        """A ConfigError naming the prompt or the version when it is not registered."""
        if self._version(name, version) is None:
            if not self._exists(name):
                raise missing(name)
            raise missing(name, version=version, known=[v.version for v in self.versions(name)])

    def _exists(self, name: str) -> bool:
        return self._db.execute("SELECT 1 FROM versions WHERE name=? LIMIT 1",
                                (name,)).fetchone() is not None

    def _version(self, name: str, version: int) -> PromptVersion | None:
        row = self._db.execute("SELECT * FROM versions WHERE name=? AND version=?",
                               (name, version)).fetchone()
        if row is None:
            return None
        return self._row(row, self._tags(name, version), self._aliases_by_version(name))

    def _tags(self, name: str, version: int | None = None) -> dict[int, dict[str, str]]:
        sql, args = "SELECT version, key, value FROM version_tags WHERE name=?", (name,)
        if version is not None:
            sql, args = sql + " AND version=?", (name, version)
        out: dict[int, dict[str, str]] = {}
        for v, key, value in self._db.execute(sql + " ORDER BY key", args):
            out.setdefault(v, {})[key] = value
        return out

    def _aliases_by_version(self, name: str) -> dict[int, tuple[str, ...]]:
        out: dict[int, tuple[str, ...]] = {}
        for alias, version in self.aliases(name).items():
            out[version] = (*out.get(version, ()), alias)
        return out

    @staticmethod
    def _row(row: sqlite3.Row, tags: dict[int, dict[str, str]],
             aliases: dict[int, tuple[str, ...]]) -> PromptVersion:
        version = row["version"]
        return PromptVersion(row["name"], version, Candidate.from_dict(json.loads(row["body"])),
                             tags.get(version, {}), aliases.get(version, ()), row["created"],
                             json.loads(row["demo_rows"] or "{}"))
