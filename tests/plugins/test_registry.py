"""The generic plugin Registry: built-ins and entry points, one loading path, clear errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from honed.errors import ConfigError
from honed.plugins import Registry, did_you_mean, has_plugin, load_target, plugin_entries

GROUP = "honed.test-things"
BUILTIN = {"json": "json:dumps", "path": "pathlib:Path", "walk": "os.path"}


def things() -> Registry:
    return Registry(GROUP, "thing", BUILTIN, field="thing")


def test_builtins_load_lazily_by_reference() -> None:
    registry = things()
    assert registry.names() == ["json", "path", "walk"] and "json" in registry
    assert registry.load("path") is Path
    assert load_target("os.path:join.__name__") == "join"
    assert registry.entry("json").builtin and "built in" in registry.entry("json").describe()


def test_unknown_name_lists_choices_and_suggests() -> None:
    with pytest.raises(ConfigError) as info:
        things().entry("jsno")
    assert info.value.field == "thing" and "unknown thing 'jsno'" in str(info.value)
    assert info.value.fix == "did you mean 'json'? use one of: json, path, walk"
    assert did_you_mean("zzz", ["json"]) == ""


def test_plugins_come_from_entry_points(on_path: Callable[..., Path]) -> None:
    assert not has_plugin(GROUP, "shiny")
    on_path("shiny-things", {"shiny_mod.py": "VALUE = 42\n"},
            {GROUP: {"shiny": "shiny_mod:VALUE", "json": "shiny_mod:VALUE"}})
    registry = things()
    assert has_plugin(GROUP, "shiny") and registry.names() == ["json", "path", "walk", "shiny"]
    entry = registry.entry("shiny")
    assert entry.distribution == "shiny-things" and not entry.builtin
    assert registry.load("shiny") == 42
    assert registry.load("json") is load_target("json:dumps")  # a built-in name wins


def test_entry_points_are_read_once_per_process(on_path: Callable[..., Path]) -> None:
    first = plugin_entries(GROUP)
    assert plugin_entries(GROUP) is first


def test_a_plugin_that_fails_to_import_names_its_distribution(
        on_path: Callable[..., Path]) -> None:
    on_path("broken-things", {"broken_mod.py": "import not_a_real_module_xyz\n"},
            {GROUP: {"broken": "broken_mod:THING", "absent": "broken_mod_gone:THING"}})
    registry = things()
    assert "broken" in registry  # listed without importing anything
    for name in ("broken", "absent"):
        with pytest.raises(ConfigError) as info:
            registry.load(name)
        text = str(info.value)
        assert f"thing plugin {name!r} failed to load" in text and "broken-things" in text
        assert f"{GROUP}: {name} = " in text and "ModuleNotFoundError" in text
