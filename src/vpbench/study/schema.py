"""Study-config validation against the JSON schema with messages that name the key and allowed values.

Snakemake's own ``validate`` reports raw jsonschema errors ("'x' was unexpected"); researchers need the
path of the bad key and what they could have written instead, before any job runs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from vpbench.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"


def load_schema(path: str | Path | None = None) -> dict[str, Any]:
    """Read the YAML JSON-schema of a study config."""
    return yaml.safe_load(Path(path or SCHEMA_PATH).read_text(encoding="utf-8"))


def _key_path(error: ValidationError) -> str:
    parts = [str(part) for part in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


def _allowed_keys(schema: Mapping[str, Any]) -> str:
    return ", ".join(sorted(schema.get("properties", {}))) or "(none)"


def describe(error: ValidationError) -> str:
    """One human sentence for a schema violation: where, what is wrong, what is allowed."""
    where = _key_path(error)
    if "propertyNames" in error.schema_path:  # the instance is a key of the mapping at ``where``
        rule = error.schema.get("description") or error.message
        return f"{where}: key {error.instance!r} is not allowed; {rule}"
    if error.validator in ("maxLength", "minLength"):
        longest = error.validator == "maxLength"
        shown = error.instance if len(error.instance) <= 40 else f"{error.instance[:37]}..."
        return (
            f"{where}: {shown!r} ({len(error.instance)} characters) is too {'long' if longest else 'short'}; "
            f"allowed: {'at most' if longest else 'at least'} {error.validator_value} characters"
        )
    if error.validator == "additionalProperties":
        unexpected = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        keys = ", ".join(repr(key) for key in unexpected)
        return f"{where}: unknown key {keys}; allowed keys: {_allowed_keys(error.schema)}"
    if error.validator == "enum":
        allowed = ", ".join(repr(value) for value in error.validator_value)
        return f"{where}: {error.instance!r} is not allowed; allowed values: {allowed}"
    if error.validator == "required":
        return f"{where}: {error.message}; required keys: {', '.join(error.validator_value)}"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{where}: {error.instance!r} has the wrong type; expected {expected}"
    if error.validator == "oneOf" and error.context:
        options = "; ".join(sorted({sub.message for sub in error.context}))
        return f"{where}: {error.instance!r} matches none of the allowed forms ({options})"
    if error.validator == "uniqueItems":
        return f"{where}: {error.instance!r} lists a value twice; list each value once"
    description = error.schema.get("description")
    hint = f" ({description})" if description else ""
    return f"{where}: {error.message}{hint}"


def _fill_defaults(config: MutableMapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Fill schema defaults into ``config`` in place, also inside ``additionalProperties`` entries
    (e.g. every model's ``dense_variant``): defaults live in the schema only."""
    for key, subschema in schema.get("properties", {}).items():
        if key not in config and "default" in subschema:
            default = subschema["default"]
            config[key] = copy.deepcopy(default)
        if isinstance(config.get(key), MutableMapping):
            _fill_defaults(config[key], subschema)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        for key, value in config.items():
            if key not in schema.get("properties", {}) and isinstance(value, MutableMapping):
                _fill_defaults(value, extra)


def validate_config(config: MutableMapping[str, Any], schema: Mapping[str, Any] | None = None) -> None:
    """Raise :class:`ConfigError` listing every schema violation; fill defaults into ``config``."""
    schema = schema or load_schema()
    errors = sorted(Draft202012Validator(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("invalid study config:\n  - " + "\n  - ".join(describe(e) for e in errors))
    _fill_defaults(config, schema)
