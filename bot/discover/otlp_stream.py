"""OTLP/JSON of any layout streamed span by span with ijson, each span with its batch's resource.

The general reader behind `otlp_batches`: it takes over wherever a file strays from the common
layout, and it never holds more than one span and one resource in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import ijson  # type: ignore[import-untyped]

from bot.discover.spans import HEAD_BYTES, trace_problem

READ_BLOCK = 64 * 1024  # ijson's C parser is fastest fed in pieces of about this size
_MAX_RESOURCE_BYTES = 16 * 1024 * 1024

# The keys of one ResourceSpans object. In OTLP/JSON these names occur as keys nowhere else,
# and a `"key":` preceded by `{` or `,` can only be a real key in valid JSON (a quote inside a
# string is escaped), so finding them in the raw bytes marks where each batch starts and where
# its resource is, without a Python step per JSON token.
_ITEM_KEYS = (b"resource", b"scopeSpans", b"instrumentationLibrarySpans", b"schemaUrl")
_SPAN_LISTS = ("scopeSpans", "instrumentationLibrarySpans")
_WHITESPACE = b" \t\r\n"


RawSpan = tuple[object, object, int, int]  # (span, its batch's resource, index, batch)


@dataclass(frozen=True)
class _Marker:
    sep: int  # offset of the `{` or `,` before the key
    key: str
    value_start: int  # offset just past the colon
    opens_item: bool


def stream_raw_spans(
    stream: BinaryIO, file: str, first_batch: int = 0, first_index: int = 0
) -> Iterator[RawSpan]:
    """Each span as ijson parsed it, with its batch's resource (as parsed), index and batch.

    `first_batch` and `first_index` number the batches and spans when the stream starts
    part-way through a file.
    """
    head = stream.read(HEAD_BYTES)
    stream.seek(0)
    span_list = "scopeSpans"
    if b'"instrumentationLibrarySpans"' in head and b'"scopeSpans"' not in head:
        span_list = "instrumentationLibrarySpans"
    reader = _BatchTrackingReader(stream, file, span_list, first_batch)
    prefix = f"resourceSpans.item.{span_list}.item.spans.item"
    waiting: list[tuple[int, object]] = []  # (batch, span) of a batch whose resource is unseen
    index = first_index
    for raw in ijson.items(reader, prefix, multiple_values=True, buf_size=READ_BLOCK):
        batch = reader.batch
        resource = reader.resources.get(batch)
        if waiting and (waiting[0][0] != batch or resource is not None):
            for held_batch, held in waiting:
                yield held, reader.resources.get(held_batch), index, held_batch
                index += 1
            waiting = []
            reader.forget_before(batch)
        if resource is None:
            waiting.append((batch, raw))
            continue
        yield raw, resource, index, batch
        index += 1
    for held_batch, held in waiting:
        yield held, reader.resources.get(held_batch), index, held_batch
        index += 1


class _BatchTrackingReader:
    """A file wrapper handing ijson bytes up to each batch-level key, noting batch and resource.

    ijson's reading generator yields every item parsed from one `read()` before it reads
    again, so when a span is yielded, `batch` is the ResourceSpans it was written in and
    `resources[batch]` its resource once that has been read. Only resources are parsed here;
    the spans stay with ijson's C parser.
    """

    def __init__(self, raw: BinaryIO, file: str, span_list: str, first_batch: int) -> None:
        self.raw = raw
        self.file = file
        self.span_list = span_list
        self.batch = first_batch - 1
        self.resources: dict[int, object] = {}  # each batch's resource as parsed
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
        block = self.raw.read(READ_BLOCK)
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
        self.resources[self.batch] = {} if value is None else value


_OPENING_KEYS = (b'"resource"', b'"scopeSpans"', b'"instrumentationLibrarySpans"')


def find_batch_start(data: bytes, start: int = 0) -> int | None:
    """Where the first ResourceSpans object opening at or after `start` begins (its `{`).

    Found by its first key, the resource or the span list (a batch that opens with its
    schemaUrl is not found; the next one is).
    """
    best: int | None = None
    for quoted in _OPENING_KEYS:
        at = data.find(quoted, start)
        while at != -1 and (best is None or at < best):
            before, after = at - 1, at + len(quoted)
            while before >= start and data[before] in _WHITESPACE:
                before -= 1
            while after < len(data) and data[after] in _WHITESPACE:
                after += 1
            if before >= start and data[before] == ord("{") and data[after : after + 1] == b":":
                best = before
                break
            at = data.find(quoted, after)
    return best


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
