"""OTLP/JSON trace files (export requests, one per line or one per file) read into spans."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from bot.discover.otlp_batches import span_runs
from bot.discover.span_collector import SpanCollector, SpanFields
from bot.discover.spans import (
    Span,
    SpanAttributes,
    SpanKind,
    SpanSource,
    hex_id,
    http_error,
    int_value,
    trace_problem,
)

_READ_BLOCK = 64 * 1024  # ijson's C parser is fastest fed in pieces of about this size
_MAX_RESOURCE_BYTES = 16 * 1024 * 1024

_OTLP_KINDS: dict[object, SpanKind] = {
    0: SpanKind.INTERNAL,
    1: SpanKind.INTERNAL,
    2: SpanKind.SERVER,
    3: SpanKind.CLIENT,
    4: SpanKind.PRODUCER,
    5: SpanKind.CONSUMER,
    "SPAN_KIND_UNSPECIFIED": SpanKind.INTERNAL,
    "SPAN_KIND_INTERNAL": SpanKind.INTERNAL,
    "SPAN_KIND_SERVER": SpanKind.SERVER,
    "SPAN_KIND_CLIENT": SpanKind.CLIENT,
    "SPAN_KIND_PRODUCER": SpanKind.PRODUCER,
    "SPAN_KIND_CONSUMER": SpanKind.CONSUMER,
}
_OTLP_ERROR = (2, "STATUS_CODE_ERROR")
_OTLP_STATUS_NAMES: dict[object, str] = {
    1: "OK",
    2: "ERROR",
    "STATUS_CODE_OK": "OK",
    "STATUS_CODE_ERROR": "ERROR",
}


@dataclass(frozen=True)
class _Resource:
    service: str
    attributes: dict[str, str]


_NO_RESOURCE = _Resource("unknown_service", {})


def read_otlp(stream: BinaryIO, file: str) -> Iterator[Span]:
    """Stream an OTLP/JSON file's spans, each with its batch's resource attributes."""
    last: object = _NO_RESOURCE  # no parsed value is this object
    resource = _NO_RESOURCE
    for spans, raw_resource, index, batch in span_runs(stream, file):
        if raw_resource is not last:
            last, resource = raw_resource, _otlp_resource(raw_resource, file, batch)
        for raw in spans:
            f = _otlp_fields(raw, file, index, batch)
            yield Span(
                f[0], f[1], f[2], resource.service, f[3], f[4], f[5], f[6], f[7],
                SpanAttributes(f[8], resource.attributes), SpanSource(file, index), f[9],
            )  # fmt: skip
            index += 1


def collect_otlp(stream: BinaryIO, file: str, collector: SpanCollector) -> None:
    """Stream an OTLP/JSON file's spans straight into `collector`.

    The same spans `read_otlp` yields, without building a `Span` for each: on a million-span
    file the objects cost more than the reading.
    """
    file_id = collector.file_id(file)
    add = collector.add_fields
    last: object = _NO_RESOURCE
    resource = _NO_RESOURCE
    for spans, raw_resource, index, batch in span_runs(stream, file):
        if raw_resource is not last:
            last, resource = raw_resource, _otlp_resource(raw_resource, file, batch)
        service, labels = resource.service, resource.attributes
        for raw in spans:
            add(_otlp_fields(raw, file, index, batch), service, labels, file_id)
            index += 1


def _otlp_resource(value: object, file: str, batch: int) -> _Resource:
    if value is None:
        return _NO_RESOURCE
    if not isinstance(value, dict):
        raise trace_problem(file, f"resourceSpans[{batch}].resource", "is not a JSON object")
    attributes = _otlp_attributes(value.get("attributes"))
    return _Resource(attributes.get("service.name", "unknown_service"), attributes)


def _otlp_fields(raw: object, file: str, index: int, batch: int) -> SpanFields:
    """(trace id, span id, parent id, name, kind, start, end, is_error, attributes, peer)."""
    if type(raw) is not dict:
        where = f"resourceSpans[{batch}].spans"
        raise trace_problem(file, where, f"span #{index} is not a JSON object")
    get = raw.get
    # Fast paths first (lower-case hex ids, string attributes, integer times): this runs once
    # per span of a large file, so the common case is spelled out inline.
    trace_id = get("traceId")
    if type(trace_id) is not str or len(trace_id) != 32 or trace_id.strip(_LOWER_HEX):
        trace_id = _otlp_id(raw, "traceId", 16, file, index, batch)
    span_id = get("spanId")
    if type(span_id) is not str or len(span_id) != 16 or span_id.strip(_LOWER_HEX):
        span_id = _otlp_id(raw, "spanId", 8, file, index, batch)
    parent_id = get("parentSpanId") or None
    if parent_id is not None:
        if type(parent_id) is not str or len(parent_id) != 16 or parent_id.strip(_LOWER_HEX):
            parent_id = _otlp_id(raw, "parentSpanId", 8, file, index, batch)
        if not parent_id.strip("0"):
            parent_id = None
    attributes: dict[str, str] = {}
    own = get("attributes")
    if type(own) is list:
        for entry in own:
            if type(entry) is dict and "key" in entry:
                value = entry.get("value")
                text = value.get("stringValue") if type(value) is dict else None
                attributes[str(entry["key"])] = text if type(text) is str else _any_value(value)
    status = get("status")
    code = None
    if status and type(status) is dict:
        code = status.get("code")
        if code in _OTLP_STATUS_NAMES:
            attributes["otel.status_code"] = _OTLP_STATUS_NAMES[code]
        if status.get("message"):
            attributes["otel.status_description"] = str(status["message"])
    try:
        start_ns = int(get("startTimeUnixNano"))  # type: ignore[arg-type]
        end_ns = int(get("endTimeUnixNano"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        where, source = f"resourceSpans[{batch}].spans", SpanSource(file, index)
        start_ns = int_value(get("startTimeUnixNano"), source, where, "startTimeUnixNano")
        end_ns = int_value(get("endTimeUnixNano"), source, where, "endTimeUnixNano")
    return (
        trace_id,
        span_id,
        parent_id,
        str(get("name") or ""),
        _OTLP_KINDS.get(get("kind", 0), SpanKind.INTERNAL),
        start_ns,
        end_ns,
        code in _OTLP_ERROR or http_error(attributes),
        attributes,
        attributes.get("peer.service"),
    )


_LOWER_HEX = "0123456789abcdef"


def _otlp_id(raw: dict[str, Any], key: str, size: int, file: str, index: int, batch: int) -> str:
    where = f"resourceSpans[{batch}].spans"
    return hex_id(raw.get(key), size, SpanSource(file, index), where, key)


def _otlp_attributes(raw: object) -> dict[str, str]:
    out: dict[str, str] = {}
    _add_otlp_attributes(out, raw)
    return out


def _add_otlp_attributes(out: dict[str, str], raw: object) -> None:
    if type(raw) is not list:
        return
    for entry in raw:
        if type(entry) is dict and "key" in entry:
            value = entry.get("value")
            text = value.get("stringValue") if type(value) is dict else None
            out[str(entry["key"])] = text if type(text) is str else _any_value(value)


def _any_value(value: object) -> str:
    if not isinstance(value, dict):
        return ""
    for kind, inner in value.items():
        if kind == "stringValue":
            return str(inner)
        if kind == "intValue":
            return str(int(inner))
        if kind == "boolValue":
            return "true" if inner in (True, "true") else "false"
        if kind == "doubleValue":
            return repr(float(inner))
        if kind == "bytesValue":
            return str(inner)
        if kind == "arrayValue" and isinstance(inner, dict):
            return json.dumps([_any_value(v) for v in inner.get("values") or []])
        if kind == "kvlistValue" and isinstance(inner, dict):
            return json.dumps(_otlp_attributes(inner.get("values")), sort_keys=True)
    return ""
