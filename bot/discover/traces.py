"""Trace readers: OTLP/JSON, Jaeger JSON and Zipkin v2 JSON streamed into one normalised span.

Each reader is recognise → load → map: `detect_format` looks at the first bytes, the loader
streams spans with ijson (a file larger than memory is fine), and a mapper turns each
format's span into a `Span`. Longer than most modules because the three formats share the
id, attribute, error and error-reporting rules kept here in one place.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, Literal, TypeVar, overload

import ijson  # type: ignore[import-untyped]

from bot.spec.errors import Location, SpecError, SpecProblem

TraceFormat = Literal["otlp", "jaeger", "zipkin"]
_T = TypeVar("_T")

# Which ijson backend runs (yajl2_c when the C extension is installed, else pure Python).
IJSON_BACKEND: str = ijson.backend

_READ_BLOCK = 64 * 1024  # ijson's C parser is fastest fed in pieces of about this size
_HEAD_BYTES = 64 * 1024
_MAX_RESOURCE_BYTES = 16 * 1024 * 1024
_LOCATE_LIMIT = 32 * 1024 * 1024  # re-read files up to this size to pin a JSON error's line


class SpanKind(StrEnum):
    SERVER = "server"
    CLIENT = "client"
    INTERNAL = "internal"
    PRODUCER = "producer"
    CONSUMER = "consumer"


@dataclass(slots=True)  # not frozen, for the same reason as Span below
class SpanSource:
    """Where a span was read: the file and its 0-based position among the file's spans."""

    file: str
    index: int


class SpanAttributes(Mapping[str, str]):
    """A span's attributes merged over its resource's (span keys win), without copying.

    Every span of a batch shares one resource mapping; `own` and `resource` stay visible so
    inference can count resource labels once per resource instead of once per span.
    """

    __slots__ = ("own", "resource")

    def __init__(self, own: dict[str, str], resource: Mapping[str, str]) -> None:
        self.own = own
        self.resource = resource

    def __getitem__(self, key: str) -> str:
        own = self.own
        return own[key] if key in own else self.resource[key]

    def __contains__(self, key: object) -> bool:
        return key in self.own or key in self.resource

    @overload
    def get(self, key: str, /) -> str | None: ...
    @overload
    def get(self, key: str, /, default: str | _T) -> str | _T: ...
    def get(self, key: str, /, default: object = None) -> object:
        own = self.own  # a dict lookup first: this runs for every span
        return own[key] if key in own else self.resource.get(key, default)

    def __iter__(self) -> Iterator[str]:
        yield from self.own
        yield from (key for key in self.resource if key not in self.own)

    def __len__(self) -> int:
        return len(self.own) + sum(1 for key in self.resource if key not in self.own)

    def __repr__(self) -> str:
        return repr(dict(self))


# Not frozen: a frozen dataclass costs ~9x more to build, which shows at a million spans.
# Readers hand each span over once and never change it afterwards.
@dataclass(slots=True)
class Span:
    """One span, whatever format it came from; ids are lower-case hex, times Unix nanoseconds."""

    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    operation: str
    kind: SpanKind
    start_ns: int
    end_ns: int
    is_error: bool
    attributes: SpanAttributes = field(hash=False)
    source: SpanSource
    peer_service: str | None = None  # the callee a client span names (peer.service, Zipkin)
    shared: bool = False  # Zipkin: the server half of a span id shared with its client
    follows_from: bool = False  # Jaeger: the parent link is FOLLOWS_FROM (not awaited)

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)


def detect_format(path: Path) -> TraceFormat:
    """Recognise a trace file by its first bytes and top-level keys."""
    try:
        with path.open("rb") as stream:
            head = stream.read(_HEAD_BYTES)
    except OSError as exc:
        raise _problem(str(path), "", f"cannot read trace file: {exc.strerror}") from None
    return _detect(head, str(path))


def read_spans(path: Path, fmt: TraceFormat | None = None) -> Iterator[Span]:
    """Stream the spans of one trace file in file order; bad input raises one SpecError."""
    kind = fmt or detect_format(path)
    readers: dict[str, Callable[[BinaryIO, str], Iterator[Span]]] = {
        "otlp": _read_otlp,
        "jaeger": _read_jaeger,
        "zipkin": _read_zipkin,
    }
    with path.open("rb") as stream:
        try:
            yield from readers[kind](stream, str(path))
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise _json_error(path, stream.tell(), exc) from None


def read_span_files(paths: Iterable[Path]) -> Iterator[Span]:
    """Every span of several trace files, one file after another."""
    for path in paths:
        yield from read_spans(path)


# --- recognise -------------------------------------------------------------------------------


def _detect(head: bytes, file: str) -> TraceFormat:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        raise _problem(file, "", "empty file: expected OTLP, Jaeger or Zipkin JSON")
    keys = _first_keys(text)
    if text[:1] == b"{":
        top = keys.get("", set())
        if "resourceSpans" in top:
            return "otlp"
        if "data" in top or ("spans" in top and "traceID" in top):
            return "jaeger"
        raise _problem(
            file,
            "",
            f"unknown trace format: top-level keys {sorted(top)}; expected resourceSpans "
            "(OTLP), data (Jaeger API) or traceID/spans (one Jaeger trace)",
        )
    if text[:1] == b"[":
        rest = text[1:].lstrip()
        if rest[:1] in (b"[", b"]"):
            return "zipkin"
        first = keys.get("item", set())
        if "spanID" in first or "operationName" in first:
            return "jaeger"
        if "traceId" in first or "id" in first:
            return "zipkin"
        raise _problem(
            file, "[0]", f"unknown span shape: keys {sorted(first)}; expected Zipkin or Jaeger"
        )
    raise _problem(file, "", f"not JSON: starts with {text[:16]!r}")


def _first_keys(head: bytes) -> dict[str, set[str]]:
    """Map keys seen in the head of a document by prefix, up to the first complete item."""
    keys: dict[str, set[str]] = {}
    try:
        for prefix, event, value in ijson.parse(io.BytesIO(head), multiple_values=True):
            if event == "map_key":
                keys.setdefault(prefix, set()).add(value)
            elif event == "end_map" and prefix == "item":
                break
    except ijson.JSONError:
        pass  # the head is cut mid-document; the keys seen so far are enough
    return keys


# --- OTLP ------------------------------------------------------------------------------------

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


_NO_ATTRIBUTES: Mapping[str, str] = MappingProxyType({})
_NO_RESOURCE = _Resource("unknown_service", {})


@dataclass(frozen=True)
class _Marker:
    sep: int  # offset of the `{` or `,` before the key
    key: str
    value_start: int  # offset just past the colon
    opens_item: bool


def _read_otlp(stream: BinaryIO, file: str) -> Iterator[Span]:
    head = stream.read(_HEAD_BYTES)
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
                held_resource = reader.resources.get(held_batch, _NO_RESOURCE)
                yield _otlp_span(held, held_resource, SpanSource(file, index), held_batch)
                index += 1
            waiting = []
            reader.forget_before(batch)
        if resource is None:
            waiting.append((batch, raw))
            continue
        yield _otlp_span(raw, resource, SpanSource(file, index), batch)
        index += 1
    for held_batch, held in waiting:
        held_resource = reader.resources.get(held_batch, _NO_RESOURCE)
        yield _otlp_span(held, held_resource, SpanSource(file, index), held_batch)
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
        if marker.opens_item:
            self.batch += 1
        if marker.key == "resource":
            self._resource_text = bytearray()
            self._resource_skip = marker.value_start - marker.sep
        elif marker.key in _SPAN_LISTS and marker.key != self.span_list:
            raise _problem(
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
                raise _problem(
                    self.file, f"resourceSpans[{self.batch}].resource", "is not a JSON object"
                ) from None
            return  # the rest of the resource comes with the next piece
        self._resource_text = None
        self.resources[self.batch] = _otlp_resource(value, self.file, self.batch)


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
        raise _problem(file, f"resourceSpans[{batch}].resource", "is not a JSON object")
    attributes = _otlp_attributes(value.get("attributes"))
    return _Resource(attributes.get("service.name", "unknown_service"), attributes)


def _otlp_span(raw: object, resource: _Resource, source: SpanSource, batch: int) -> Span:
    if type(raw) is not dict:
        raise _problem(
            source.file,
            f"resourceSpans[{batch}].spans",
            f"span #{source.index} is not a JSON object",
        )
    get = raw.get
    # Fast paths first (hex ids, integer times): this runs once per span of a large file.
    trace_id = _fast_hex(get("traceId"), 32) or _otlp_id(raw, "traceId", 16, source, batch)
    span_id = _fast_hex(get("spanId"), 16) or _otlp_id(raw, "spanId", 8, source, batch)
    parent_raw = get("parentSpanId")
    parent_id = _fast_hex(parent_raw, 16) if parent_raw else None
    if parent_raw and parent_id is None:
        parent_id = _otlp_id(raw, "parentSpanId", 8, source, batch)
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
        where = f"resourceSpans[{batch}].spans"
        start_ns = _int(get("startTimeUnixNano"), source, where, "startTimeUnixNano")
        end_ns = _int(get("endTimeUnixNano"), source, where, "endTimeUnixNano")
    return Span(
        trace_id,
        span_id,
        parent_id,
        resource.service,
        str(get("name") or ""),
        _OTLP_KINDS.get(get("kind", 0), SpanKind.INTERNAL),
        start_ns,
        end_ns,
        code in _OTLP_ERROR or _http_error(attributes),
        SpanAttributes(attributes, resource.attributes),
        source,
        attributes.get("peer.service"),
    )


def _otlp_id(raw: dict[str, Any], key: str, size: int, source: SpanSource, batch: int) -> str:
    return _hex_id(raw.get(key), size, source, f"resourceSpans[{batch}].spans", key)


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


# --- Jaeger ----------------------------------------------------------------------------------


def _read_jaeger(stream: BinaryIO, file: str) -> Iterator[Span]:
    head = stream.read(_HEAD_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n")
    stream.seek(0)
    keys = _first_keys(head).get("", set())
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
            raise _problem(file, where, "a trace is not a JSON object")
        processes = trace.get("processes") or {}
        spans = trace.get("spans") or []
        if not isinstance(processes, dict) or not isinstance(spans, list):
            raise _problem(file, where, "expected `spans` (list) and `processes` (object)")
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
        raise _problem(source.file, where, f"span #{source.index} is not a JSON object")
    inline = raw.get("process")
    process = _JaegerProcess(inline) if isinstance(inline, dict) else None
    process = process or processes.get(str(raw.get("processID")))
    if process is None:
        raise _problem(
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
    start_us = _int(raw.get("startTime"), source, where, "startTime")
    duration_us = _int(raw.get("duration", 0), source, where, "duration")
    merged = SpanAttributes(attributes, process.tags)
    return Span(
        trace_id=_hex_id(raw.get("traceID") or trace_id, 0, source, where, "traceID"),
        span_id=_hex_id(raw.get("spanID"), 0, source, where, "spanID"),
        parent_id=_parent_id(parent, 0, source, where, "references"),
        service=process.service,
        operation=str(raw.get("operationName") or ""),
        kind=_named_kind(merged.get("span.kind")),
        start_ns=start_us * 1000,
        end_ns=(start_us + duration_us) * 1000,
        is_error=merged.get("error") == "true"
        or merged.get("otel.status_code") == "ERROR"
        or _http_error(merged),
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
                out[str(tag["key"])] = _plain(tag.get("value"))
    return out


# --- Zipkin ----------------------------------------------------------------------------------


def _read_zipkin(stream: BinaryIO, file: str) -> Iterator[Span]:
    head = stream.read(_HEAD_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n")
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
        raise _problem(source.file, where, f"span #{source.index} is not a JSON object")
    tags = raw.get("tags") or {}
    attributes = {str(k): _plain(v) for k, v in tags.items()} if isinstance(tags, dict) else {}
    local = raw.get("localEndpoint") or {}
    remote = raw.get("remoteEndpoint") or {}
    start_us = _int(raw.get("timestamp", 0), source, where, "timestamp")
    duration_us = _int(raw.get("duration", 0), source, where, "duration")
    remote_service = remote.get("serviceName") if isinstance(remote, dict) else None
    return Span(
        trace_id=_hex_id(raw.get("traceId"), 0, source, where, "traceId"),
        span_id=_hex_id(raw.get("id"), 0, source, where, "id"),
        parent_id=_parent_id(raw.get("parentId"), 0, source, where, "parentId"),
        service=str((local.get("serviceName") if isinstance(local, dict) else None) or "unknown"),
        operation=str(raw.get("name") or ""),
        kind=_ZIPKIN_KINDS.get(str(raw.get("kind", "")).upper(), SpanKind.INTERNAL),
        start_ns=start_us * 1000,
        end_ns=(start_us + duration_us) * 1000,
        # Zipkin's convention: an `error` tag marks a failed span whatever its value.
        is_error="error" in attributes or _http_error(attributes),
        attributes=SpanAttributes(attributes, _NO_ATTRIBUTES),
        source=source,
        peer_service=str(remote_service) if remote_service else None,
        shared=bool(raw.get("shared", False)),
    )


# --- shared mapping rules --------------------------------------------------------------------

_HEX = re.compile(r"[0-9a-fA-F]+")
_HEX_DIGITS = "0123456789abcdef"


def _fast_hex(raw: object, length: int) -> str | None:
    """`raw` lower-cased when it is a hex string of `length` digits, else None."""
    if type(raw) is str and len(raw) == length:
        lowered = raw.lower()
        if not lowered.strip(_HEX_DIGITS):
            return lowered
    return None


def _hex_id(raw: object, size: int, source: SpanSource, where: str, key: str) -> str:
    """An id as lower-case hex: hex in either case, or base64 of `size` bytes (protobuf JSON)."""
    if isinstance(raw, str) and raw:
        if _HEX.fullmatch(raw) and (size == 0 or len(raw) == 2 * size):
            return raw.lower()
        if size:
            try:
                decoded = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                decoded = b""
            if len(decoded) == size:
                return decoded.hex()
    shown = "missing" if raw in (None, "") else f"{raw!r} is not a hex or base64 id"
    raise _problem(source.file, f"{where}.{key}", f"span #{source.index}: {key} {shown}")


def _parent_id(raw: object, size: int, source: SpanSource, where: str, key: str) -> str | None:
    if raw in (None, ""):
        return None
    parent = _hex_id(raw, size, source, where, key)
    return None if parent.strip("0") == "" else parent


def _int(raw: object, source: SpanSource, where: str, key: str) -> int:
    try:
        return int(raw)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        shown = "missing" if raw is None else f"{raw!r} is not an integer"
        raise _problem(
            source.file, f"{where}.{key}", f"span #{source.index}: {key} {shown}"
        ) from None


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


_NAMED_KINDS = {kind.value: kind for kind in SpanKind}


def _named_kind(raw: str | None) -> SpanKind:
    return _NAMED_KINDS.get((raw or "").lower(), SpanKind.INTERNAL)


def _http_error(attributes: Mapping[str, str]) -> bool:
    status = attributes.get("http.status_code") or attributes.get("http.response.status_code")
    return status is not None and status.isdigit() and int(status) >= 500


def _problem(file: str, path: str, message: str) -> SpecError:
    return SpecError([SpecProblem(Location(file), path, message)])


def _json_error(path: Path, offset: int, exc: Exception) -> SpecError:
    """A JSON syntax error pinned to line:column when the file is small enough to re-read."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if path.stat().st_size <= _LOCATE_LIMIT:
        located = _locate_json_error(path.read_bytes())
        if located is not None:
            line, column, position, message = located
            return SpecError(
                [
                    SpecProblem(
                        Location(str(path), line, column),
                        "",
                        f"not valid JSON at byte {position}: {message}",
                    )
                ]
            )
    return _problem(str(path), "", f"not valid JSON before byte {offset}: {detail}")


def _locate_json_error(data: bytes) -> tuple[int, int, int, str] | None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return line, column, exc.start, "not UTF-8 text"
    decoder = json.JSONDecoder()
    position = 0
    try:
        while True:
            while position < len(text) and text[position] in " \t\r\n":
                position += 1
            if position >= len(text):
                return None
            _, position = decoder.raw_decode(text, position)
    except json.JSONDecodeError as exc:
        return exc.lineno, exc.colno, exc.pos, exc.msg
