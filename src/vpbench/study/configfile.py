"""Reading a study file strictly: duplicate keys and Python-object tags are errors, not silent choices.

Snakemake parses ``--configfile`` itself (JSON, then YAML where the last of two equal keys wins) before
the workflow sees the config. The workflow re-reads every config file with :func:`read_study_file`, so
a study whose meaning depends on which duplicate wins is refused, naming the key and both lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vpbench.errors import ConfigError


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses a mapping key given twice."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(
                f"{key_node.start_mark.name}: key {key!r} is given twice in one mapping (lines {seen[key]} "
                f"and {line}); YAML would silently keep the last one. Keep one of them"
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_study_file(path: str | Path) -> dict[str, Any]:
    """The study in ``path`` (YAML or JSON); duplicate keys and non-standard tags raise ConfigError."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as stream:  # the stream's name is the path in every mark
            loaded = yaml.load(stream, Loader=_StrictLoader)
    except OSError as error:
        raise ConfigError(f"study file {path}: cannot read it ({error.strerror or error})") from None
    except yaml.constructor.ConstructorError as error:
        mark = error.problem_mark
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        if "python/" in str(error.problem):
            raise ConfigError(
                f"{where}: a Python-object tag ({_tag(error)}) is not allowed in a study; a study holds only "
                "plain YAML values (strings, numbers, booleans, null, lists and mappings). Remove the tag"
            ) from None
        raise ConfigError(f"{where}: {error.problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"study file {path} is not valid YAML: {error}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"study file {path}: the top level must be a mapping of study keys")
    return loaded


def _tag(error: yaml.constructor.ConstructorError) -> str:
    problem = str(error.problem)
    start = problem.find("tag:yaml.org,2002:")
    if start < 0:
        return problem
    tag = problem[start + len("tag:yaml.org,2002:") :].split("'")[0]
    return f"!!{tag}"


def read_study_file_or_stop(path: str | Path) -> dict[str, Any]:
    """:func:`read_study_file` for a Snakefile: a refusal stops the workflow with just its message. A
    missing file is left to Snakemake, which names the full path it looked at."""
    if not Path(path).is_file():
        return {}
    try:
        return read_study_file(path)
    except ConfigError as error:
        from snakemake.exceptions import WorkflowError

        raise WorkflowError(str(error)) from None
