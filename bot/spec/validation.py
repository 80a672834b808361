"""Turn pydantic validation errors into positioned SpecProblems."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.spec.errors import SpecProblem
from bot.spec.yamlpos import PathKey, YamlDocument

ModelT = TypeVar("ModelT", bound=BaseModel)


def _clean_loc(loc: tuple[int | str, ...]) -> PathKey:
    # Discriminated-union tags ("op:series") are pydantic bookkeeping, not keys in the file.
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith("op:")))


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problems_from_validation(
    doc: YamlDocument, exc: ValidationError, prefix: PathKey = ()
) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    for err in exc.errors(include_url=False):
        path = (*prefix, *_clean_loc(err["loc"]))
        kind = err["type"]
        if kind == "unknown_key":
            key = str(err.get("ctx", {}).get("key", ""))
            problems.append(doc.problem((*path, key), err["msg"], key=True))
        elif kind == "missing":
            problems.append(doc.problem(path, "required field is missing"))
        elif kind in ("extra_forbidden",):
            problems.append(doc.problem(path, "unknown key", key=True))
        else:
            message = err["msg"]
            if not message.endswith(")") or "got" not in message:
                message = f"{message} (got {_describe(err.get('input'))})"
            problems.append(doc.problem(path, message))
    return problems


def validate_document(
    doc: YamlDocument, model: type[ModelT]
) -> tuple[ModelT | None, list[SpecProblem]]:
    """Validate one document against its wire model; problems carry positions."""
    try:
        return model.model_validate(doc.data), []
    except ValidationError as exc:
        return None, problems_from_validation(doc, exc)
