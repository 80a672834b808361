"""OTLP/JSON trace files (export requests, one per line or one per file) read into spans."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import ijson  # type: ignore[import-untyped]

from bot.discover.span_collector import SpanCollector
from bot.discover.spans import (
    HEAD_BYTES,
    Span,
    SpanAttributes,
    SpanKind,
    SpanSource,
    fast_hex,
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

# The keys of one ResourceSpans object. In OTLP/JSON these names occur as keys nowhere else,
# and a `"key":` preceded by `{` or `,` can only be a real key in valid JSON (a quote inside a
# string is escaped), so finding them in the raw bytes marks where each batch starts and where
# its resource is, without a Python step per JSON token.
_ITEM_KEYS = (b"resource", b"scopeSpans", b"instrumentationLibrarySpans", b"schemaUrl")
_SPAN_LISTS = ("scopeSpans", "instrumentationLibrarySpans")
_WHITESPACE = b" \t\r\n"


@dataclass(frozen=True)
class _Resource:
    service: str
    attributes: dict[str, str]


_NO_RESOURCE = _Resource("unknown_service", {})


@dataclass(frozen=True)
class _Marker:
    sep: int  # offset of the `{` or `,` before the key
    key: str
    value_start: int  # offset just past the colon
    opens_item: bool


def read_otlp(stream: BinaryIO, file: str) -> Iterator[Span]:
    """Stream an OTLP/JSON file's spans, each with its batch's resource attributes."""
    for raw, resource, index, batch in _raw_spans(stream, file):
        f = _otlp_fields(raw, file, index, batch)
        yield Span(
            f[0], f[1], f[2], resource.service, f[3], f[4], f[5], f[6], f[7],
            SpanAttributes(f[8], resource.attributes), SpanSource(file, index), f[9],
        )  # fmt: skip


def collect_otlp(stream: BinaryIO, file: str, collector: SpanCollector) -> None:
    """Stream an OTLP/JSON file's spans straight into `collector`.

    The same spans `read_otlp` yields, without building a `Span` for each: on a million-span
    file the objects cost more than the reading.
    """
    file_id = collector.file_id(file)
    add = collector.add_fields
    for raw, resource, index, batch in _raw_spans(stream, file):
        f = _otlp_fields(raw, file, index, batch)
        add(
            f[0], f[1], f[2], resource.service, f[3], f[4], f[5], f[6], f[7], f[8],
            resource.attributes, f[9], file_id,
        )  # fmt: skip


_RawSpan = tuple[object, _Resource, int, int]  # (span as parsed, its resource, index, batch)


def _raw_spans(stream: BinaryIO, file: str) -> Iterator[_RawSpan]:
    """Each span as ijson parsed it, with its batch's resource, position and batch number."""
    head = stream.read(HEAD_BYTES)
    stream.seek(0)
    span_list = "scopeSpans"
    if b'"instrumentationLibrarySpans"' in head and b'"scopeSpans"' not in head:
        span_list = "instrumentationLibrarySpans"
    reader = _BatchTrackingReader(stream, file, span_list)
    prefix = f"resourceSpans.item.{span_list}.item.spans.item"
    waiting: list[tuple[int, object]] = []  # (batch, span) of a batch whose resource is unseen
    index = 0
    for raw in ijson.items(reader, prefix, multiple_values=True, buf_size=_READ_BLOCK):
        batch = reader.batch
        resource = reader.resources.get(batch)
        if waiting and (waiting[0][0] != batch or resource is not None):
            for held_batch, held in waiting:
                yield held, reader.resources.get(held_batch, _NO_RESOURCE), index, held_batch
                index += 1
            waiting = []
            reader.forget_before(batch)
        if resource is None:
            waiting.append((batch, raw))
            continue
        yield raw, resource, index, batch
        index += 1
    for held_batch, held in waiting:
        yield held, reader.resources.get(held_batch, _NO_RESOURCE), index, held_batch
        index += 1


class _BatchTrackingReader:
    """A file wrapper handing ijson bytes up to each batch-level key, noting batch and resource.

    ijson's reading generator yields every item parsed from one `read()` before it reads
    again, so when a span is yielded, `batch` is the ResourceSpans it was written in and
    `resources[batch]` its resource once that has been read. Only resources are parsed here;
    the spans stay with ijson's C parser.
    """

    def __init__(self, raw: BinaryIO, file: str, span_list: str) -> None:
        self.raw = raw
        self.file = file
        self.span_list = span_list
        self.batch = -1
        self.resources: dict[int, _Resource] = {}
        self._buf = b""
        self._pos = 0
        self._safe_end = 0  # bytes before this offset of _buf have had their markers found
        self._markers: list[_Marker] = []
        self._eof = False
        self._resource_text: bytearray | None = None
        self._resource_skip = 0
        self._schema_opened = False

    def read(self, size: int = -1) -> bytes:
        while self._pos >= self._safe_end:
            if not self._refill():
                return b""
        while self._markers and self._markers[0].sep == self._pos:
            self._enter(self._markers.pop(0))
        end = self._safe_end if size < 0 else min(self._safe_end, self._pos + size)
        if self._markers:
            end = min(end, self._markers[0].sep)
        piece = self._buf[self._pos : end]
        self._pos = end
        if self._resource_text is not None:
            self._continue_resource(piece)
        return piece

    def forget_before(self, batch: int) -> None:
        for old in [b for b in self.resources if b < batch]:
            del self.resources[old]

    def _refill(self) -> bool:
        if self._eof:
            return False
        block = self.raw.read(_READ_BLOCK)
        buf = self._buf[self._pos :] + block
        if block:
            # Cut at the last `{` or `,`: a key marker never straddles the cut then.
            cut = max(buf.rfind(b"{"), buf.rfind(b","))
            if cut <= 0 and len(buf) <= _MAX_RESOURCE_BYTES:
                cut = 0  # no safe cut yet (one long string): read more first
            elif cut <= 0:
                cut = len(buf)
        else:
            self._eof = True
            cut = len(buf)
        self._buf, self._pos, self._safe_end = buf, 0, cut
        self._markers = _find_markers(buf[:cut])
        return cut > 0 or not self._eof

    def _enter(self, marker: _Marker) -> None:
        if marker.key == "schemaUrl":
            # `{"schemaUrl"` opens a ResourceSpans or one of its ScopeSpans: which one shows
            # at the next marker (a batch's resource or span list after a comma).
            self._schema_opened = marker.opens_item
            return
        if marker.opens_item or self._schema_opened:
            self.batch += 1
        self._schema_opened = False
        if marker.key == "resource":
            self._resource_text = bytearray()
            self._resource_skip = marker.value_start - marker.sep
        elif marker.key in _SPAN_LISTS and marker.key != self.span_list:
            raise trace_problem(
                self.file,
                f"resourceSpans[{self.batch}].{marker.key}",
                f"mixes {marker.key} with {self.span_list}; write one of the two",
            )

    def _continue_resource(self, piece: bytes) -> None:
        assert self._resource_text is not None
        # The first piece after a resource marker starts at the marker: skip to the value.
        self._resource_text += piece[self._resource_skip :]
        self._resource_skip = max(0, self._resource_skip - len(piece))
        text = bytes(self._resource_text).decode("utf-8", errors="replace").lstrip()
        try:
            value, _ = json.JSONDecoder().raw_decode(text)
        except json.JSONDecodeError:
            if len(self._resource_text) > _MAX_RESOURCE_BYTES:
                raise trace_problem(
                    self.file, f"resourceSpans[{self.batch}].resource", "is not a JSON object"
                ) from None
            return  # the rest of the resource comes with the next piece
        self._resource_text = None
        self.resources[self.batch] = _otlp_resource(value, self.file, self.batch)


def find_batch_start(window: bytes) -> int | None:
    """Where the first ResourceSpans object that opens inside `window` starts (its `{`)."""
    for marker in _find_markers(window):
        if marker.opens_item and marker.key != "schemaUrl":
            return marker.sep
    return None


def _find_markers(segment: bytes) -> list[_Marker]:
    found: list[_Marker] = []
    for key in _ITEM_KEYS:
        quoted = b'"' + key + b'"'
        at = segment.find(quoted)
        while at != -1:
            after = at + len(quoted)
            while after < len(segment) and segment[after] in _WHITESPACE:
                after += 1
            before = at - 1
            while before >= 0 and segment[before] in _WHITESPACE:
                before -= 1
            is_key = after < len(segment) and segment[after] == ord(":")
            if is_key and before >= 0 and segment[before] in b"{,":
                opens = segment[before] == ord("{")
                found.append(_Marker(before, key.decode(), after + 1, opens))
            at = segment.find(quoted, after)
    found.sort(key=lambda m: m.sep)
    return found


def _otlp_resource(value: object, file: str, batch: int) -> _Resource:
    if value is None:
        return _NO_RESOURCE
    if not isinstance(value, dict):
        raise trace_problem(file, f"resourceSpans[{batch}].resource", "is not a JSON object")
    attributes = _otlp_attributes(value.get("attributes"))
    return _Resource(attributes.get("service.name", "unknown_service"), attributes)


_Fields = tuple[str, str, str | None, str, SpanKind, int, int, bool, dict[str, str], str | None]


def _otlp_fields(raw: object, file: str, index: int, batch: int) -> _Fields:
    """(trace id, span id, parent id, name, kind, start, end, is_error, attributes, peer)."""
    if type(raw) is not dict:
        where = f"resourceSpans[{batch}].spans"
        raise trace_problem(file, where, f"span #{index} is not a JSON object")
    get = raw.get
    # Fast paths first (hex ids, integer times): this runs once per span of a large file.
    trace_id = fast_hex(get("traceId"), 32) or _otlp_id(raw, "traceId", 16, file, index, batch)
    span_id = fast_hex(get("spanId"), 16) or _otlp_id(raw, "spanId", 8, file, index, batch)
    parent_raw = get("parentSpanId")
    parent_id = fast_hex(parent_raw, 16) if parent_raw else None
    if parent_raw and parent_id is None:
        parent_id = _otlp_id(raw, "parentSpanId", 8, file, index, batch)
    if parent_id is not None and not parent_id.strip("0"):
        parent_id = None
    attributes: dict[str, str] = {}
    own = get("attributes")
    if own:
        _add_otlp_attributes(attributes, own)
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
