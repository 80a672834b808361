"""Strict structural check of emitted Argo/Flagger objects: unknown keys are errors, with a path.

The published CRD schemas let typos through (`x-kubernetes-preserve-unknown-fields`, pruning):
a misspelt `sucessCondition` is silently dropped and the gate never checks anything. Our own
schemas (`schemas/*.json`, written from the documented fields) close every level. They use a
small subset of JSON Schema: `type` (one or a list), `properties`, `required`,
`additionalProperties` (false or a schema), `items`, `minItems`, `enum`, `minProperties`,
`maxProperties`, `dependentRequired` and local `$ref`s into `$defs`.

The schemas are package data, read once; nothing here touches user files.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from bot.spec.errors import did_you_mean

# (apiVersion, kind) of complete objects → schema file.
OBJECT_SCHEMAS = {
    ("argoproj.io/v1alpha1", "AnalysisTemplate"): "argo-analysistemplate.json",
    ("flagger.app/v1beta1", "MetricTemplate"): "flagger-metrictemplate.json",
}
# Snippets to merge into a Rollout / Canary carry no apiVersion: told apart by their one key.
SNIPPET_SCHEMAS = {
    "strategy": "argo-rollout-snippet.json",
    "analysis": "flagger-canary-analysis.json",
}
SCHEMA_FILES = (*OBJECT_SCHEMAS.values(), *SNIPPET_SCHEMAS.values())

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}
# What the problem messages call a found value.
_TYPE_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


@cache
def load_schema(name: str) -> dict[str, Any]:
    text = resources.files("bot.emit").joinpath("schemas", name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_for(obj: Any) -> str | None:
    """The schema file that describes `obj`, or None when it is not an object emac emits."""
    if not isinstance(obj, dict):
        return None
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key in OBJECT_SCHEMAS:
        return OBJECT_SCHEMAS[key]
    spec = obj.get("spec")
    if "apiVersion" not in obj and isinstance(spec, dict) and len(spec) == 1:
        return SNIPPET_SCHEMAS.get(next(iter(spec)))
    return None


def validate_crd(obj: Any, schema_name: str | None = None) -> list[str]:
    """Every structural problem of `obj` as `path: message`; empty when it is valid."""
    name = schema_name or schema_for(obj)
    if name is None:
        known = ", ".join(f"{a} {k}" for a, k in OBJECT_SCHEMAS)
        return [
            f"(root): not an object emac emits: expected one of {known}, or a Rollout "
            "`spec.strategy` / Canary `spec.analysis` snippet"
        ]
    root = load_schema(name)
    problems: list[str] = []
    _check(obj, root, root, "", problems)
    return problems


def _check(
    value: Any, schema: dict[str, Any], root: dict[str, Any], path: str, problems: list[str]
) -> None:
    if "$ref" in schema:
        schema = _resolve(root, schema["$ref"])
    where = path or "(root)"
    if "type" in schema and not _has_type(value, schema["type"]):
        expected = (
            schema["type"] if isinstance(schema["type"], str) else " or ".join(schema["type"])
        )
        problems.append(f"{where}: expected {expected}, got {_type_name(value)}")
        return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(json.dumps(v) for v in schema["enum"])
        problems.append(f"{where}: {json.dumps(value)} is not one of {allowed}")
    if isinstance(value, dict):
        _check_object(value, schema, root, path, problems)
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{where}: expected at least {schema['minItems']} item(s)")
        if "items" in schema:
            for i, item in enumerate(value):
                _check(item, schema["items"], root, f"{path}[{i}]", problems)


def _check_object(
    value: dict[str, Any],
    schema: dict[str, Any],
    root: dict[str, Any],
    path: str,
    problems: list[str],
) -> None:
    where = path or "(root)"
    props: dict[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key in schema.get("required", []):
        if key not in value:
            problems.append(f"{where}: required key '{key}' is missing")
    for key, dependents in schema.get("dependentRequired", {}).items():
        missing = [d for d in dependents if key in value and d not in value]
        if missing:
            problems.append(
                f"{where}: '{key}' is set, so {', '.join(repr(m) for m in missing)} is required too"
            )
    if len(value) < schema.get("minProperties", 0):
        problems.append(f"{where}: expected at least {schema['minProperties']} key(s)")
    if len(value) > schema.get("maxProperties", len(value)):
        problems.append(
            f"{where}: expected at most {schema['maxProperties']} key(s), got "
            f"{', '.join(sorted(map(str, value)))}"
        )
    for key, item in value.items():
        child = f"{path}.{key}" if path else str(key)
        if key in props:
            _check(item, props[key], root, child, problems)
        elif extra is False:
            problems.append(f"{child}: unknown key{did_you_mean(str(key), list(props))}")
        elif isinstance(extra, dict):
            _check(item, extra, root, child, problems)


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    prefix = "#/$defs/"
    if not ref.startswith(prefix):
        raise ValueError(f"unsupported $ref {ref!r}: only {prefix}<name> is understood")
    target: dict[str, Any] = root["$defs"][ref.removeprefix(prefix)]
    return target


def _has_type(value: Any, expected: str | list[str]) -> bool:
    names = [expected] if isinstance(expected, str) else expected
    for name in names:
        # bool is an int in Python, but never an integer or number in a manifest.
        if isinstance(value, bool) and name in ("integer", "number"):
            continue
        if isinstance(value, _JSON_TYPES[name]):
            return True
    return False


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)
