"""The prompt registry: prompts, versions, aliases, gate results and word diffs between
versions; promote and rollback behind a confirmation page, for an admin only."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from honed.errors import ConfigError, GateFailed
from honed.lifecycle.promote import blocked_from_tags, promote, rollback
from honed.lifecycle.registry import PREVIOUS, PRODUCTION, PromptRef, PromptRegistry
from honed.lifecycle.report.worddiff import prompt_diff
from honed.server.errors import ApiError
from honed.web.pages import render
from honed.web.session import COOKIE, require_admin, sign_in

router = APIRouter()


def _registry(request: Request) -> PromptRegistry:
    registry = request.app.state.sources.registry()
    if registry is None:
        raise ConfigError("there is no prompt registry here yet",
                          fix="an optimization registers its best prompt: `honed optimize`")
    return registry


def _describe(version: Any) -> dict[str, Any]:
    from honed.optimizers.base import describe

    return describe(version.candidate)


def _diff(registry: PromptRegistry, name: str, a: int, b: int) -> Any:
    first = registry.get(PromptRef(name, version=a))
    second = registry.get(PromptRef(name, version=b))
    rows = {**{k: dict(v) for k, v in first.demo_rows.items()},
            **{k: dict(v) for k, v in second.demo_rows.items()}}
    return prompt_diff(f"{name}/{a}", _describe(first), f"{name}/{b}", _describe(second), rows)


@router.get("/registry", response_class=HTMLResponse)
async def prompts_page(request: Request) -> Response:
    registry = request.app.state.sources.registry()
    prompts = []
    for name in (registry.names() if registry is not None else []):
        versions = registry.versions(name) if registry is not None else []
        prompts.append({"name": name, "versions": len(versions),
                        "latest": versions[-1] if versions else None,
                        "aliases": registry.aliases(name) if registry is not None else {}})
    return render(request, "registry.html", prompts=prompts)


@router.get("/registry/{name}", response_class=HTMLResponse)
async def prompt_page(request: Request, name: str, a: int | None = None, b: int | None = None,
                      v: int | None = None, done: str = "") -> Response:
    registry = _registry(request)
    versions = registry.versions(name)
    if not versions:
        registry.get(PromptRef(name))  # the ConfigError naming the missing prompt
    aliases = registry.aliases(name)
    shown = next((x for x in versions if x.version == v), None) or next(
        (x for x in versions if x.version == aliases.get(PRODUCTION)), versions[-1])
    b = b or versions[-1].version
    a = a or aliases.get(PRODUCTION) or (versions[-2].version if len(versions) > 1 else b)
    return render(request, "prompt.html", name=name, versions=versions, aliases=aliases,
                  shown=shown, prompt=_describe(shown), a=a, b=b,
                  diff=_diff(registry, name, a, b), done=done,
                  blocked={x.version: blocked_from_tags(x.tags) for x in versions})


@router.get("/registry/{name}/diff", response_class=HTMLResponse)
async def diff_fragment(request: Request, name: str, a: int, b: int) -> Response:
    return render(request, "diff_fragment.html", diff=_diff(_registry(request), name, a, b))


@router.get("/registry/{name}/promote", response_class=HTMLResponse)
async def promote_confirm(request: Request, name: str, version: int) -> Response:
    registry = _registry(request)
    target = registry.get(PromptRef(name, version=version))
    current = registry.aliases(name).get(PRODUCTION)
    return render(request, "confirm.html", action="promote", name=name, version=target,
                  current=current, blocked=blocked_from_tags(target.tags),
                  diff=_diff(registry, name, current, version) if current else None)


MAX_FORM_BYTES = 64_000


async def form(request: Request) -> dict[str, str]:
    """A posted form (``application/x-www-form-urlencoded``): the first value of each field."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ApiError(413, "the form is too large", code="too_large")
    if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded") and body:
        raise ApiError(415, "send the form as application/x-www-form-urlencoded",
                       code="bad_form")
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def _version(fields: dict[str, str]) -> int:
    try:
        return int(fields.get("version", ""))
    except ValueError:
        raise ApiError(422, "the form needs the version number to promote",
                       code="bad_form") from None


@router.post("/registry/{name}/promote")
async def promote_action(request: Request, name: str) -> Response:
    fields = await form(request)
    require_admin(request, fields.get("csrf"))
    version, force = _version(fields), fields.get("force") == "true"
    registry = _registry(request)
    target = registry.get(PromptRef(name, version=version))
    try:
        result = promote(registry, name, version, force=force,
                         blocked=blocked_from_tags(target.tags))
    except GateFailed as exc:
        raise ApiError(409, str(exc), code="blocked") from None
    done = f"promoted {name}/{result.version} to production" + (
        f" (was {result.previous})" if result.previous else "")
    return RedirectResponse(f"/registry/{quote(name)}?done={quote(done)}", status_code=303)


@router.get("/registry/{name}/rollback", response_class=HTMLResponse)
async def rollback_confirm(request: Request, name: str) -> Response:
    registry = _registry(request)
    aliases = registry.aliases(name)
    current, previous = aliases.get(PRODUCTION), aliases.get(PREVIOUS)
    if previous is None:
        raise ConfigError(f"prompt {name!r} has no {PREVIOUS!r} version to roll back to",
                          fix="promote a version first")
    return render(request, "confirm.html", action="rollback", name=name,
                  version=registry.get(PromptRef(name, version=previous)), current=current,
                  blocked=[], diff=_diff(registry, name, current, previous) if current else None)


@router.post("/registry/{name}/rollback")
async def rollback_action(request: Request, name: str) -> Response:
    require_admin(request, (await form(request)).get("csrf"))
    result = rollback(_registry(request), name)
    done = f"rolled {name} back to version {result.version}" + (
        f" (was {result.previous})" if result.previous else "")
    return RedirectResponse(f"/registry/{quote(name)}?done={quote(done)}", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/registry") -> Response:
    return render(request, "login.html", next=_local(next), message="")


@router.post("/login")
async def login_action(request: Request) -> Response:
    fields = await form(request)
    next = fields.get("next", "/registry")
    try:
        session = sign_in(request, fields.get("key", ""))
    except ApiError as exc:
        return render(request, "login.html", status=exc.status, next=_local(next),
                      message=exc.message)
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(COOKIE, session.token, httponly=True, samesite="strict",
                        max_age=int(request.app.state.sessions.ttl_s), path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    request.app.state.sessions.close(request.cookies.get(COOKIE))
    response = RedirectResponse("/runs", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _local(target: str) -> str:
    """Only a path on this server (never another site) to go back to after signing in."""
    safe = target.startswith("/") and not target.startswith(("//", "/\\"))
    return target if safe else "/registry"
