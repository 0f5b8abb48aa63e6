"""The MLflow store: where it is, importing MLflow offline, creating it, opening its UI."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from honed.errors import ConfigError

OFFLINE_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
}
UI_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "MLFLOW_DISABLE_TELEMETRY": "true"}
DB_NAME, ARTIFACTS_DIR = "mlflow.db", "mlartifacts"
_INSTALL_FIX = "pip install 'mlflow>=3' (or set tracking: none in the task)"


# store location -------------------------------------------------------------------------------
def mlflow_available() -> bool:
    """Is MLflow importable (with sqlalchemy and alembic where the store is SQLite)? No import."""
    if importlib.util.find_spec("mlflow") is None:
        return False
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if uri and not uri.startswith("sqlite:"):
        return True
    return all(importlib.util.find_spec(m) is not None for m in ("sqlalchemy", "alembic"))


def tracking_uri(home: Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the SQLite store under ``home``."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{(home / DB_NAME).absolute()}"


def public_uri(uri: str) -> str:
    """``uri`` as a spool file keeps it: without a password, a SQLite path made absolute (a
    later flush may run from another folder)."""
    from urllib.parse import urlsplit, urlunsplit

    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{Path(uri[len('sqlite:///'):]).absolute()}"
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc + (f":{parts.port}" if parts.port else "")))


def resolve_uri(recorded: str) -> str:
    """The URI to log a spooled run to: ``MLFLOW_TRACKING_URI`` when it is the recorded one
    (it may carry the password that the record left out), else the recorded one."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    return env if env and public_uri(env) == recorded else recorded


def artifact_location(uri: str) -> str | None:
    """Artifacts next to a SQLite store; other stores choose their own."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri[len("sqlite:///"):]).parent / ARTIFACTS_DIR).absolute().as_uri()


def load_mlflow() -> Any:
    """Import MLflow with the offline defaults in place; ConfigError saying what to install."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    try:
        import mlflow
    except ImportError as exc:
        raise ConfigError("MLflow is not installed", field="tracking", fix=_INSTALL_FIX) from exc
    return mlflow


def client_for(uri: str) -> Any:
    load_mlflow()
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def init_store(path: Path) -> str:
    """Create an MLflow SQLite store at ``path`` (tables and all); return its URI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{path.absolute()}"
    client_for(uri).search_experiments(max_results=1)
    return uri


def ui_command(home: Path, *, host: str = "127.0.0.1", port: int = 5000) -> str:
    """The shell command that opens the MLflow UI on this store."""
    import shlex

    uri = tracking_uri(home)
    if uri.startswith(("http://", "https://")):
        return f"open {uri}  # MLFLOW_TRACKING_URI is a running MLflow server"
    env = " ".join(f"{k}={v}" for k, v in UI_ENV.items())
    return (f"{env} mlflow ui --backend-store-uri {shlex.quote(uri)} "
            f"--host {host} --port {port}")


@contextmanager
def _global_uri(mlflow: Any, uri: str) -> Iterator[None]:
    """MLflow's trace exporter reads the global tracking URI: set it for a block, then restore."""
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)  # None unsets it again
