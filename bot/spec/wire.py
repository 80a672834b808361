"""Shared pydantic base of every wire format: camelCase keys, unknown keys get a suggestion."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from bot.spec.errors import did_you_mean

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h|d|w))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus-style duration such as `30d`, `1h30m`, `250ms`."""
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


def _check_duration(value: str) -> str:
    if not _DURATION.match(value) or duration_seconds(value) <= 0:
        raise PydanticCustomError(
            "duration",
            "expected a duration like 250ms, 5m, 1h or 30d, got '{value}'",
            {"value": value},
        )
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]


class WireModel(BaseModel):
    """Base of every file-format model: camelCase on the wire, strict about unknown keys."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known = [f.alias or name for name, f in cls.model_fields.items()]
        for key in data:
            if key not in known and key not in cls.model_fields:
                raise PydanticCustomError(
                    "unknown_key",
                    "unknown key '{key}'{hint}",
                    {"key": str(key), "hint": did_you_mean(str(key), known)},
                )
        return data


class OpenModel(BaseModel):
    """Base for free-form metadata blocks (labels, annotations) that accept any key."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True
    )


class ObjectMeta(WireModel):
    """Kubernetes-style metadata shared by every EmaC and OpenSLO document."""

    name: str
    display_name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


def wire_document(model: BaseModel) -> dict[str, Any]:
    """A wire model as written to a file: aliases, no nulls, no empty metadata maps."""
    doc: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    meta = doc.get("metadata", {})
    for key in ("labels", "annotations"):
        if not meta.get(key):
            meta.pop(key, None)
    return doc
