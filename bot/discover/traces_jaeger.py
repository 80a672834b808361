"""Jaeger JSON trace files (the query API's `data` list, one trace or bare spans) as spans."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

import ijson  # type: ignore[import-untyped]

from bot.discover.spans import (
    HEAD_BYTES,
    Span,
    SpanAttributes,
    SpanSource,
    first_keys,
    hex_id,
    http_error,
    int_value,
    named_kind,
    parent_span_id,
    plain_text,
    trace_problem,
)


def read_jaeger(stream: BinaryIO, file: str) -> Iterator[Span]:
    """Stream a Jaeger JSON file's spans, each with its process's service and tags."""
    head = stream.read(HEAD_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n")
    stream.seek(0)
    keys = first_keys(head).get("", set())
    index = 0
    if head[:1] == b"[":
        # A bare list of spans, each with its process inline.
        for position, raw in enumerate(ijson.items(stream, "item")):
            yield _jaeger_span(raw, {}, SpanSource(file, index), f"[{position}]", None)
            index += 1
        return
    # Jaeger writes a trace's processes after its spans, so a trace is the unit read at once.
    traces = ijson.items(stream, "data.item") if "data" in keys else ijson.items(stream, "")
    for number, trace in enumerate(traces):
        where = f"data[{number}]" if "data" in keys else ""
        if not isinstance(trace, dict):
            raise trace_problem(file, where, "a trace is not a JSON object")
        processes = trace.get("processes") or {}
        spans = trace.get("spans") or []
        if not isinstance(processes, dict) or not isinstance(spans, list):
            raise trace_problem(file, where, "expected `spans` (list) and `processes` (object)")
        known = {
            str(pid): _JaegerProcess(process)
            for pid, process in processes.items()
            if isinstance(process, dict)
        }
        for position, raw in enumerate(spans):
            path = f"{where}.spans[{position}]" if where else f"spans[{position}]"
            yield _jaeger_span(raw, known, SpanSource(file, index), path, trace.get("traceID"))
            index += 1


class _JaegerProcess:
    """A Jaeger process: the service name and its tags, the span's resource attributes."""

    __slots__ = ("service", "tags")

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.service = str(raw.get("serviceName") or "unknown_service")
        self.tags = _jaeger_tags(raw.get("tags"))


def _jaeger_span(
    raw: object,
    processes: Mapping[str, _JaegerProcess],
    source: SpanSource,
    where: str,
    trace_id: object,
) -> Span:
    if not isinstance(raw, dict):
        raise trace_problem(source.file, where, f"span #{source.index} is not a JSON object")
    inline = raw.get("process")
    process = _JaegerProcess(inline) if isinstance(inline, dict) else None
    process = process or processes.get(str(raw.get("processID")))
    if process is None:
        raise trace_problem(
            source.file, f"{where}.processID", f"no process {raw.get('processID')!r} in the trace"
        )
    attributes = _jaeger_tags(raw.get("tags"))
    parent, follows = None, False
    for ref in raw.get("references") or []:
        if isinstance(ref, dict) and ref.get("refType", "CHILD_OF") == "CHILD_OF":
            parent, follows = ref.get("spanID"), False
            break
        if isinstance(ref, dict) and parent is None:
            parent, follows = ref.get("spanID"), True
    parent = parent or raw.get("parentSpanID")
    start_us = int_value(raw.get("startTime"), source, where, "startTime")
    duration_us = int_value(raw.get("duration", 0), source, where, "duration")
    merged = SpanAttributes(attributes, process.tags)
    return Span(
        trace_id=hex_id(raw.get("traceID") or trace_id, 0, source, where, "traceID"),
        span_id=hex_id(raw.get("spanID"), 0, source, where, "spanID"),
        parent_id=parent_span_id(parent, 0, source, where, "references"),
        service=process.service,
        operation=str(raw.get("operationName") or ""),
        kind=named_kind(merged.get("span.kind")),
        start_ns=start_us * 1000,
        end_ns=(start_us + duration_us) * 1000,
        is_error=merged.get("error") == "true"
        or merged.get("otel.status_code") == "ERROR"
        or http_error(merged),
        attributes=merged,
        source=source,
        peer_service=merged.get("peer.service"),
        follows_from=follows,
    )


def _jaeger_tags(raw: object) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(raw, list):
        for tag in raw:
            if isinstance(tag, dict) and "key" in tag:
                out[str(tag["key"])] = plain_text(tag.get("value"))
    return out
