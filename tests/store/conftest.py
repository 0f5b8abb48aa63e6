"""Backends for the store tests: a SQLite file per test, and one real PostgreSQL server per
session (a throwaway cluster on a unix socket in a temporary folder; a fresh database per test).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_counter = itertools.count()


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit()
                        else 0)
    return Path(candidates[-1]).parent if candidates else None


def _as_user(user: str | None, argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as ``user`` then."""
    if user is None:
        return argv
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--", *argv]
    return ["su", user, "-s", "/bin/sh", "-c", " ".join(map(_quote, argv))]


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[dict[str, str]]:
    """A running PostgreSQL server: its socket folder and superuser name."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed; "
                    "install the postgresql package to run the PostgreSQL store tests")
    user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' user to run PostgreSQL as")
        user = "postgres"
    base = Path(tempfile.mkdtemp(prefix="honed-pg-"))  # short: a socket path has a length limit
    os.chmod(base, 0o755)
    data = base / "data"
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    run = lambda argv: subprocess.run(_as_user(user, argv), check=True,  # noqa: E731
                                      capture_output=True, text=True, timeout=120)
    run([str(bin_dir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres",
         "--no-sync", "-E", "UTF8"])
    options = f"-k {base} -c listen_addresses='' -c fsync=off"
    run([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"),
         "-w", "-t", "60", "start"])
    try:
        yield {"socket": str(base), "user": "postgres"}
    finally:
        subprocess.run(_as_user(user, [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast",
                                       "-w", "stop"]), capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def _pg_url(server: dict[str, str], database: str) -> str:
    return f"postgresql+psycopg://{server['user']}@/{database}?host={server['socket']}"


def _fresh_pg_database(server: dict[str, str]) -> str:
    import psycopg

    name = f"honed_test_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(host=server["socket"], user=server["user"], dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _pg_url(server, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.sqlite'}"
    return _fresh_pg_database(request.getfixturevalue("pg_server"))
