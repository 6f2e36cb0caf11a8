"""Plugins: modules that register model families, compression methods, VP methods, datasets or figure
kinds before a study is validated, so a user extends vpbench without editing it.

A study lists them under ``plugins:`` (importable module names or ``.py`` files, relative to the
working directory); installed packages can also declare an entry point in the group ``vpbench.plugins``,
which every process loads. Each plugin is imported once per process, whichever way it is named.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from vpbench.errors import ConfigError

ENTRY_POINT_GROUP = "vpbench.plugins"
_LOADED: dict[str, ModuleType] = {}
_ENTRY_POINTS_LOADED = False


def _import_file(path: Path) -> ModuleType:
    resolved = path.resolve()
    name = f"vpbench_plugin_{resolved.stem}_{hashlib.sha256(str(resolved).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise ImportError(f"not a Python module: {resolved}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _key(name: str) -> str:
    if name.endswith(".py") or "/" in name:
        return str(Path(name).resolve())
    return name


def load_plugin(name: str) -> ModuleType:
    """Import one plugin (a module name or a ``.py`` path) once; errors name the plugin and the cause."""
    key = _key(name)
    if key in _LOADED:
        return _LOADED[key]
    try:
        if name.endswith(".py") or "/" in name:
            path = Path(name)
            if not path.is_file():
                raise FileNotFoundError(f"no such file: {path.resolve()}")
            module = _import_file(path)
        else:
            module = importlib.import_module(name)
    except Exception as error:
        raise ConfigError(
            f"plugins: cannot load plugin {name!r}: {type(error).__name__}: {error}. A plugin is an "
            "importable module name or a .py file relative to the working directory"
        ) from error
    _LOADED[key] = module
    return module


def load_entry_point_plugins() -> list[str]:
    """Import every installed plugin of the ``vpbench.plugins`` entry-point group (once per process)."""
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return []
    _ENTRY_POINTS_LOADED = True
    names = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.value in _LOADED:
            continue
        try:
            _LOADED[entry.value] = entry.load()
        except Exception as error:
            raise ConfigError(
                f"installed vpbench plugin {entry.name!r} ({entry.value}) failed to load: "
                f"{type(error).__name__}: {error}"
            ) from error
        names.append(entry.name)
    return names


def load_plugins(names: Iterable[str]) -> list[ModuleType]:
    """Load the installed plugins, then the study's ``plugins:`` entries, in order."""
    load_entry_point_plugins()
    return [load_plugin(str(name)) for name in names]
