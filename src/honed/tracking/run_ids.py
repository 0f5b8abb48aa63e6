"""Run ids as users type them: the full id, a unique prefix, or ``latest``."""

from __future__ import annotations

from honed.errors import ConfigError
from honed.tracking.store import RunRow, RunStore

LATEST = "latest"
_SCAN = 100_000  # runs looked at for a prefix: every run a local store realistically holds


def resolve_run(store: RunStore, text: str, *, task: str | None = None) -> RunRow | None:
    """The run ``text`` names, or None when none matches.

    ``latest`` is the newest run (of ``task``, when given); otherwise an exact id wins, then a
    prefix shared by exactly one run. An ambiguous prefix is a ConfigError listing candidates.
    """
    text = text.strip()
    if text == LATEST:
        newest = store.runs(task, 1)
        return newest[0] if newest else None
    exact = store.run(text)
    if exact is not None or not text:
        return exact
    matches = [row for row in store.runs(task, _SCAN) if row.id.startswith(text)]
    if len(matches) > 1:
        shown = ", ".join(row.id for row in matches[:5])
        raise ConfigError(f"run id prefix {text!r} matches {len(matches)} runs ({shown}"
                          f"{', ...' if len(matches) > 5 else ''})", field="RUN_ID",
                          fix="type more of the id (honed runs list shows them)")
    return matches[0] if matches else None
