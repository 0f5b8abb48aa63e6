"""pydantic's validation errors -> one ConfigError naming the file, line, field and the fix.

An unknown key is reported before anything else (a misspelt key is usually why a required one
is "missing"), with the nearest valid key as the fix: ``task.yaml:3 (evls): unknown field
'evls'`` / ``fix: did you mean 'evals'?``.
"""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from honed.errors import ConfigError
from honed.plugins import EVALS_GROUP, plugin_entries
from honed.task.eval_specs import EVAL_TYPES, PLUGIN_TAG
from honed.task.task import FIX, Task

_SMART_UNION_TAGS = {"str", "list[dict[str,any]]", "dict[str,any]"}


def validation_error(exc: ValidationError, source: str, doc: Any = None,
                     root: type[BaseModel] | None = None) -> ConfigError:
    """The most telling of ``exc``'s errors as a ConfigError (``root``: the validated model,
    default Task, whose fields suggest the fix for an unknown key)."""

    errors = exc.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    message, fix, implied = _describe(first, root or Task)
    loc = _clean(first["loc"])
    alternatives = [e for e in errors if _clean(e["loc"]) == loc and e["type"] != "missing"]
    if len(alternatives) > 1 and first["type"] != "extra_forbidden":  # a union's branches
        message = " or ".join([alternatives[0]["msg"], *(
            e["msg"].removeprefix("Input should be ") for e in alternatives[1:])])
    others = [e for e in errors if _clean(e["loc"]) not in (loc, implied)]
    if others:
        message += f" (and {len(others)} more problem{'s' if len(others) > 1 else ''})"
    return ConfigError(message, file=source, field=".".join(str(p) for p in loc) or None,
                       line=line_of(doc, loc) if doc is not None else None, fix=fix)


def _clean(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """``loc`` without the union tags pydantic inserts (eval types, smart-union branches)."""
    return tuple(p for p in loc if not (isinstance(p, str) and (
        p in EVAL_TYPES or p == PLUGIN_TAG or p in _SMART_UNION_TAGS)))


def _describe(error: Any, root: type[BaseModel]) -> tuple[str, str | None, tuple[Any, ...]]:
    """(message, fix, the location of a "missing" error this one explains, if any)."""
    kind, msg = error["type"], error["msg"]
    if kind == "extra_forbidden":
        return _unknown_field(error["loc"], root)
    if kind == "union_tag_invalid":
        found = error["input"].get("type") if isinstance(error["input"], dict) else None
        return f"unknown eval type {found!r}", _eval_types_fix(found), ()
    if kind == "union_tag_not_found":
        return "an eval needs a 'type'", _eval_types_fix(None), ()
    if kind == "missing":
        return "required field is missing", None, ()
    message, _, fix = msg.removeprefix("Value error, ").partition(FIX)
    return message, fix or None, ()


def _eval_types_fix(found: Any) -> str:
    kinds = [*EVAL_TYPES, *(e.name for e in plugin_entries(EVALS_GROUP)
                            if e.name not in EVAL_TYPES)]
    close = difflib.get_close_matches(str(found), kinds, n=1) if found else []
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}use one of: {', '.join(kinds)}"


def _unknown_field(loc: tuple[Any, ...], root: type[BaseModel],
                   ) -> tuple[str, str | None, tuple[Any, ...]]:
    name = str(loc[-1])
    allowed = allowed_keys(root, loc[:-1])
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if close:
        return (f"unknown field {name!r}", f"did you mean {close[0]!r}?",
                (*_clean(loc[:-1]), close[0]))
    listed = f"; valid here: {', '.join(allowed)}" if allowed else " (see `honed schema`)"
    return f"unknown field {name!r}", f"remove it or check its spelling{listed}", ()


def allowed_keys(root: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """The keys valid in the mapping at ``path`` (a pydantic ``loc``, union tags included)."""
    tp: Any = root
    for part in path:
        tp = _step(tp, part)
        if tp is None:
            return []
    model = _model_of(tp)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _members(tp: Any) -> tuple[Any, ...]:
    tp = _unwrap(tp)
    if get_origin(tp) in (Union, types.UnionType):
        return tuple(_unwrap(m) for m in get_args(tp))
    return (tp,)


def _model_of(tp: Any) -> type[BaseModel] | None:
    models = [m for m in _members(tp) if isinstance(m, type) and issubclass(m, BaseModel)]
    return models[0] if len(models) == 1 else None


def _tagged(member: Any, tag: Any) -> bool:
    if not (isinstance(member, type) and issubclass(member, BaseModel)):
        return False
    field = member.model_fields.get("type")
    return field is not None and get_origin(field.annotation) is Literal and tag in get_args(
        field.annotation)


def _step(tp: Any, part: Any) -> Any:
    """The type one ``loc`` step below ``tp``; a union tag selects its member."""
    members = _members(tp)
    tagged = [m for m in members if _tagged(m, part)]
    if tagged:
        return tagged[0]
    if isinstance(part, str) and part in _SMART_UNION_TAGS:
        return tp
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel):
            fields = {f.alias or n: f for n, f in member.model_fields.items()}
            field = member.model_fields.get(part) or fields.get(part)
            if field is not None:
                return field.annotation
        origin = get_origin(member)
        if origin in (list, tuple) and isinstance(part, int):
            return get_args(member)[0]
        if origin is dict:
            return get_args(member)[1]
    return None


def line_of(doc: Any, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest node of ``loc`` that the round-trip document knows."""
    node, line = doc, None
    for key in loc:
        lc = getattr(node, "lc", None)
        try:
            if lc is not None and isinstance(key, str | int):
                line = (lc.key(key) if isinstance(key, str) else lc.item(key))[0] + 1
            node = node[key]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return line
