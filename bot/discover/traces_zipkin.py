"""Zipkin v2 JSON trace files (a list of spans, or a list of traces) read into spans."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import BinaryIO

import ijson  # type: ignore[import-untyped]

from bot.discover.spans import (
    HEAD_BYTES,
    Span,
    SpanAttributes,
    SpanKind,
    SpanSource,
    hex_id,
    http_error,
    int_value,
    parent_span_id,
    plain_text,
    trace_problem,
)

_NO_ATTRIBUTES: Mapping[str, str] = MappingProxyType({})


def read_zipkin(stream: BinaryIO, file: str) -> Iterator[Span]:
    """Stream a Zipkin v2 JSON file's spans."""
    head = stream.read(HEAD_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n")
    stream.seek(0)
    nested = head[1:].lstrip()[:1] == b"["
    prefix = "item.item" if nested else "item"
    for index, raw in enumerate(ijson.items(stream, prefix)):
        yield _zipkin_span(raw, SpanSource(file, index), f"[{index}]")


_ZIPKIN_KINDS = {
    "SERVER": SpanKind.SERVER,
    "CLIENT": SpanKind.CLIENT,
    "PRODUCER": SpanKind.PRODUCER,
    "CONSUMER": SpanKind.CONSUMER,
}


def _zipkin_span(raw: object, source: SpanSource, where: str) -> Span:
    if not isinstance(raw, dict):
        raise trace_problem(source.file, where, f"span #{source.index} is not a JSON object")
    tags = raw.get("tags") or {}
    attributes = {str(k): plain_text(v) for k, v in tags.items()} if isinstance(tags, dict) else {}
    local = raw.get("localEndpoint") or {}
    remote = raw.get("remoteEndpoint") or {}
    start_us = int_value(raw.get("timestamp", 0), source, where, "timestamp")
    duration_us = int_value(raw.get("duration", 0), source, where, "duration")
    remote_service = remote.get("serviceName") if isinstance(remote, dict) else None
    return Span(
        trace_id=hex_id(raw.get("traceId"), 0, source, where, "traceId"),
        span_id=hex_id(raw.get("id"), 0, source, where, "id"),
        parent_id=parent_span_id(raw.get("parentId"), 0, source, where, "parentId"),
        service=str((local.get("serviceName") if isinstance(local, dict) else None) or "unknown"),
        operation=str(raw.get("name") or ""),
        kind=_ZIPKIN_KINDS.get(str(raw.get("kind", "")).upper(), SpanKind.INTERNAL),
        start_ns=start_us * 1000,
        end_ns=(start_us + duration_us) * 1000,
        # Zipkin's convention: an `error` tag marks a failed span whatever its value.
        is_error="error" in attributes or http_error(attributes),
        attributes=SpanAttributes(attributes, _NO_ATTRIBUTES),
        source=source,
        peer_service=str(remote_service) if remote_service else None,
        shared=bool(raw.get("shared", False)),
    )
