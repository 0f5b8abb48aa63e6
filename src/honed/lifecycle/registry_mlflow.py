"""The prompt registry on MLflow 3's GenAI prompt registry (same store as tracking).

Each version is a chat template (``[{role, content}]`` with ``{{var}}`` placeholders) that MLflow
users and ``mlflow.genai.load_prompt("prompts:/NAME@ALIAS")`` can read directly. The exact
candidate (every component and the few-shot demo ids) is kept as canonical JSON in the version
tag ``honed.candidate``, so a round trip is lossless; ``honed.candidate_id`` and ``honed.demos``
show the structure readably. The demos' rows (demo id -> example fields) are canonical JSON in
the version tag ``honed.demo_rows``: version tags survive MLflow's prompt registry unchanged (up
to 100,000 characters; larger rows are left out and ``honed.demo_rows_omitted`` says why).
Prompts registered outside honed are read from their template.

Registering content that a version already holds (the same candidate id) returns that version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from honed.errors import ConfigError
from honed.lifecycle.registry import (
    DemoRows,
    PromptRef,
    PromptVersion,
    check_alias,
    check_name,
    demo_rows_for,
    missing,
)
from honed.task.template import from_double_brace, to_double_brace
from honed.types import Candidate, canonical_json

CANDIDATE_TAG, ID_TAG, DEMOS_TAG = "honed.candidate", "honed.candidate_id", "honed.demos"
ROWS_TAG, OMITTED_TAG = "honed.demo_rows", "honed.demo_rows_omitted"
RESERVED = frozenset({CANDIDATE_TAG, ID_TAG, DEMOS_TAG, ROWS_TAG, OMITTED_TAG})
MAX_TAG = 100_000  # MLflow's limit on a prompt version tag value


def chat_template(candidate: Candidate) -> list[dict[str, str]]:
    """The candidate as an MLflow chat template: system (if any), then user, ``{{var}}``."""
    messages = []
    if candidate.system:
        messages.append({"role": "system", "content": to_double_brace(candidate.system)})
    messages.append({"role": "user", "content": to_double_brace(candidate.user)})
    return messages


def candidate_from(template: Any, tags: Mapping[str, str]) -> Candidate:
    """The exact candidate from its tag; for prompts made outside honed, from the template."""
    if CANDIDATE_TAG in tags:
        try:
            return Candidate.from_dict(json.loads(tags[CANDIDATE_TAG]))
        except (ValueError, KeyError, TypeError, AttributeError):
            pass  # a damaged tag: fall back to the template
    if isinstance(template, str):
        return Candidate({"system": "", "user": from_double_brace(template)})
    system = "\n\n".join(str(m.get("content", "")) for m in template if m.get("role") == "system")
    users = [str(m.get("content", "")) for m in template if m.get("role") == "user"]
    return Candidate({"system": from_double_brace(system),
                      "user": from_double_brace(users[-1] if users else "")})


def rows_tags(candidate: Candidate, demo_rows: DemoRows | None) -> dict[str, str]:
    """The demo rows as version tags: ``honed.demo_rows``, or a note when too large."""
    rows = demo_rows_for(candidate, demo_rows)
    if not rows:
        return {}
    text = canonical_json(rows)
    if len(text) > MAX_TAG:
        return {OMITTED_TAG: f"{len(text)} characters, over MLflow's {MAX_TAG} per tag"}
    return {ROWS_TAG: text}


def rows_from(tags: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    try:
        rows = json.loads(tags.get(ROWS_TAG) or "{}")
    except ValueError:
        return {}
    return rows if isinstance(rows, dict) else {}


class MlflowRegistry:
    backend = "mlflow"

    def __init__(self, home: Path, *, uri: str | None = None) -> None:
        from honed.tracking.mlflow import client_for, tracking_uri

        self.uri = uri or tracking_uri(home)
        try:
            self._client = client_for(self.uri)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"cannot open the MLflow store {self.uri}: {exc}",
                              field="MLFLOW_TRACKING_URI",
                              fix="check the tracking URI, or use --backend local") from None
        from mlflow.exceptions import MlflowException

        self._error = MlflowException

    def register(self, name: str, candidate: Candidate, *,
                 tags: Mapping[str, str] | None = None,
                 demo_rows: DemoRows | None = None) -> PromptVersion:
        check_name(name)
        rows = rows_tags(candidate, demo_rows)
        same = self._same_content(name, candidate)
        if same is not None:
            if rows and ROWS_TAG not in same.tags and OMITTED_TAG not in same.tags:
                for key, value in rows.items():  # registered before rows were kept
                    self._client.set_prompt_version_tag(name, same.version, key, value)
            return self._full(name, int(same.version))
        user_tags = {str(k): str(v) for k, v in (tags or {}).items() if k not in RESERVED}
        all_tags = {**user_tags, CANDIDATE_TAG: canonical_json(candidate.to_dict()),
                    ID_TAG: candidate.id, DEMOS_TAG: ",".join(candidate.demos), **rows}
        message = f"honed candidate {candidate.id}" + (
            f"; demos: {', '.join(candidate.demos)}" if candidate.demos else "")
        try:
            pv = self._client.register_prompt(name, chat_template(candidate),
                                              commit_message=message, tags=all_tags)
        except self._error as exc:
            raise ConfigError(f"MLflow refused prompt {name!r}: {exc.message}",
                              field=name, fix="check the name and the MLflow store") from None
        return self._convert(pv)

    def _same_content(self, name: str, candidate: Candidate) -> Any:
        """The first version of ``name`` holding ``candidate`` (MLflow's entity), or None."""
        for pv in self._search(name):
            tags = dict(pv.tags or {})
            found = tags.get(ID_TAG) or candidate_from(pv.template, tags).id
            if found == candidate.id:
                return pv
        return None

    def get(self, ref: PromptRef) -> PromptVersion:
        if ref.alias is not None:
            try:
                return self._convert(self._client.get_prompt_version_by_alias(ref.name,
                                                                              ref.alias))
            except self._error:
                if not self._exists(ref.name):
                    raise missing(ref.name) from None
                raise missing(ref.name, alias=ref.alias, known=self.aliases(ref.name)) from None
        if ref.version is None:
            versions = self._search(ref.name)
            if not versions:
                raise missing(ref.name)
            return self._full(ref.name, versions[-1].version)
        return self._full(ref.name, ref.version)

    def versions(self, name: str) -> list[PromptVersion]:
        return [self._full(name, pv.version) for pv in self._search(name)]

    def names(self) -> list[str]:
        names, token = [], None
        while True:
            page = self._client.search_prompts(max_results=1000, page_token=token)
            names.extend(p.name for p in page)
            token = page.token
            if not token:
                return sorted(names)

    def set_alias(self, name: str, alias: str, version: int) -> None:
        check_alias(alias)
        self._full(name, version)  # a ConfigError naming what is missing
        self._client.set_prompt_alias(name, alias, int(version))

    def set_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None:
        self._full(name, version)
        for key, value in tags.items():
            if key not in RESERVED:
                self._client.set_prompt_version_tag(name, int(version), str(key), str(value))

    def aliases(self, name: str) -> dict[str, int]:
        return {alias: v.version for v in self.versions(name) for alias in v.aliases}

    # helpers ----------------------------------------------------------------------------------
    def _exists(self, name: str) -> bool:
        try:
            return self._client.get_prompt(name) is not None
        except self._error:
            return False

    def _search(self, name: str) -> list[Any]:
        found, token = [], None
        try:
            while True:
                page = self._client.search_prompt_versions(name, max_results=1000,
                                                           page_token=token)
                found.extend(page)
                token = page.token
                if not token:
                    break
        except self._error:
            return []
        return sorted(found, key=lambda pv: int(pv.version))

    def _full(self, name: str, version: int) -> PromptVersion:
        try:
            pv = self._client.get_prompt_version(name, int(version))
        except self._error:
            pv = None
        if pv is None:
            if not self._exists(name):
                raise missing(name) from None
            raise missing(name, version=int(version),
                          known=[int(p.version) for p in self._search(name)]) from None
        return self._convert(pv)

    @staticmethod
    def _convert(pv: Any) -> PromptVersion:
        tags = dict(pv.tags or {})
        user_tags = {k: v for k, v in tags.items() if k not in RESERVED}
        created = (pv.creation_timestamp or 0) / 1000
        return PromptVersion(pv.name, int(pv.version), candidate_from(pv.template, tags),
                             user_tags, tuple(sorted(pv.aliases or ())), created,
                             rows_from(tags))
