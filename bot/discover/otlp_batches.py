"""OTLP/JSON in the layout exporters write, parsed one batch (ResourceSpans) at a time.

Exporters write `{"resourceSpans":[batch, batch, ...]}`, one request per file or one per line.
Parsing a whole batch with orjson costs under a third of what ijson's token stream does (the
`json` module, about half), so such files are read batch by batch, holding one batch in
memory. orjson parses each batch where it can; where it refuses what `json` accepts (NaN, a
lone surrogate) or the batch ends a request, `json` parses it: the values are `json`'s (but
for integers beyond 64 bits, which OTLP does not have).

Wherever a file strays from that layout (another top-level key, a batch larger than
`MAX_BATCH_BYTES`), the general streaming reader (`otlp_stream`) takes over from that point,
so every valid file reads the same spans either way, numbered the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import BinaryIO

import orjson

from bot.discover.otlp_stream import find_batch_start, stream_raw_spans
from bot.discover.spans import JsonSyntaxError, trace_problem, utf8_offset

MAX_BATCH_BYTES = 64 * 1024 * 1024  # a larger batch is streamed span by span instead
READ_BLOCK = 256 * 1024
_LOOKAHEAD = 256  # bytes the separators between batches are matched in

_WS = rb"[ \t\r\n]*"
_OPEN = re.compile(_WS + rb'\{[ \t\r\n]*"resourceSpans"[ \t\r\n]*:[ \t\r\n]*\[' + _WS)
_CLOSE = re.compile(_WS + rb"\][ \t\r\n]*\}" + _WS)
_COMMA = re.compile(_WS + rb"," + _WS)
_SPACE = re.compile(_WS)
_SPAN_LISTS = ("scopeSpans", "instrumentationLibrarySpans")
_DECODER = json.JSONDecoder()

# Spans as parsed that share a batch, with its resource as parsed, the first span's index in
# the file and the batch's: a batch read whole gives one run per scope, the stream one span.
SpanRun = tuple[list[object], object, int, int]


def span_runs(stream: BinaryIO, file: str) -> Iterator[SpanRun]:
    """The spans of an OTLP/JSON file as parsed, run by run, in file order."""
    buffer = _Buffer(stream)
    batches = _Batches(file)
    inside = False  # between the batches of one request (else between requests)
    while True:
        buffer.skip_space()
        if not inside:
            if buffer.at_end():
                return
            buffer.want(_LOOKAHEAD)
            if buffer.match(_OPEN) is None:
                break  # not the common layout from here on
            buffer.skip_space()
            if buffer.match(_CLOSE) is not None:
                continue  # an empty request
            inside = True
        parsed = buffer.next_batch()
        if parsed is None:
            break  # not an object, or too large to hold: streamed instead
        yield from batches.spans(parsed[0])
        buffer.skip_space()
        buffer.want(_LOOKAHEAD)
        if buffer.match(_COMMA) is not None:
            continue
        if buffer.match(_CLOSE) is not None:
            inside = False
            continue
        # Something else follows the batch: the streaming reader goes on from here as if
        # inside a request whose batches so far were one empty object.
        yield from batches.handover(buffer, b'{"resourceSpans":[{}')
        return
    yield from batches.handover(buffer, b'{"resourceSpans":[' if inside else b"")


class _Batches:
    """Numbers batches and spans and takes each span out of its parsed batch."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.batch = 0
        self.index = 0
        self.span_list: str | None = None

    def spans(self, value: object) -> Iterator[SpanRun]:
        batch = self.batch
        self.batch += 1
        keys = [key for key in _SPAN_LISTS if key in value] if type(value) is dict else []
        if not keys:
            return
        assert type(value) is dict
        key = keys[0]
        if self.span_list is None:
            self.span_list = key
        if len(keys) > 1 or key != self.span_list:
            other = keys[1] if len(keys) > 1 else self.span_list
            raise trace_problem(
                self.file,
                f"resourceSpans[{batch}].{key}",
                f"mixes {key} with {other}; write one of the two",
            )
        scopes = value[key]
        resource = value.get("resource")
        for scope in scopes if type(scopes) is list else ():
            spans = scope.get("spans") if type(scope) is dict else None
            if type(spans) is list and spans:
                yield spans, resource, self.index, batch
                self.index += len(spans)

    def handover(self, buffer: _Buffer, prefix: bytes) -> Iterator[SpanRun]:
        rest = _Chained(prefix + buffer.remaining(), buffer.raw)
        streamed = stream_raw_spans(rest, self.file, self.batch, self.index)  # type: ignore[arg-type]
        for raw, resource, index, batch in streamed:
            yield [raw], resource, index, batch


class _Buffer:
    """The unread bytes of a stream, read ahead in blocks."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.data = b""
        self.base = 0  # where `data` starts in the stream
        self.pos = 0
        self.eof = False

    def want(self, size: int) -> None:
        """Read until `size` bytes past the position are held, or the stream ends."""
        while len(self.data) - self.pos < size and not self.eof:
            self._read(READ_BLOCK)

    def skip_space(self) -> None:
        while True:
            found = _SPACE.match(self.data, self.pos)
            self.pos = found.end() if found is not None else self.pos
            if self.pos < len(self.data) or self.eof:
                return
            self._read(READ_BLOCK)

    def at_end(self) -> bool:
        return self.eof and self.pos >= len(self.data)

    def match(self, pattern: re.Pattern[bytes]) -> re.Match[bytes] | None:
        found = pattern.match(self.data, self.pos)
        if found is not None:
            self.pos = found.end()
        return found

    def next_batch(self) -> tuple[object] | None:
        """The batch (a JSON object) at the position, parsed; the position moves past it.

        The batch is held whole before it is parsed: it ends before the next one opens. None
        (nothing consumed) where no object starts here or it is larger than MAX_BATCH_BYTES.
        """
        self.want(1)
        if self.data[self.pos : self.pos + 1] != b"{":
            return None
        self.base += self.pos
        self.data, self.pos = self.data[self.pos :], 0
        search = 1
        while True:
            end = find_batch_start(self.data, search)
            if end is None and not self.eof:
                if len(self.data) > MAX_BATCH_BYTES:
                    return None
                search = max(search, len(self.data) - 64)  # a key may straddle the read
                self._read(max(READ_BLOCK, len(self.data)))
                continue
            if end is not None:  # the common case: `batch,` and the next batch
                item = self.data[:end].rstrip(b" \t\r\n,")
                try:
                    value = orjson.loads(item)
                except orjson.JSONDecodeError:
                    pass  # json below finds where the batch ends, or what is wrong with it
                else:
                    self.pos = len(item)
                    return (value,)
            try:
                text = self.data[:end].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise JsonSyntaxError(self.base + exc.start, "not UTF-8 text") from None
            try:
                value, stop = _DECODER.raw_decode(text)
            except json.JSONDecodeError as exc:
                # What looked like the next batch may sit inside this one (in a field OTLP
                # does not define): read on, unless the text is simply not JSON.
                if end is None or exc.pos < len(text.rstrip()) - 1:
                    raise JsonSyntaxError(self.base + utf8_offset(text, exc.pos), exc.msg) from None
                search = end + 1
                continue
            self.pos = utf8_offset(text, stop)
            return (value,)

    def remaining(self) -> bytes:
        return self.data[self.pos :]

    def _read(self, size: int) -> None:
        block = self.raw.read(size)
        if block:
            self.data += block
        else:
            self.eof = True


class _Chained:
    """`head` followed by the rest of a stream, read like a file from its start."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self._head, self._raw = head, raw
        self._start = raw.tell()
        self._used = 0

    def read(self, size: int = -1) -> bytes:
        if self._used < len(self._head):
            end = len(self._head) if size < 0 else min(len(self._head), self._used + size)
            piece = self._head[self._used : end]
            self._used = end
            return piece
        return self._raw.read(size)

    def seek(self, position: int) -> int:
        if position != 0:
            raise ValueError("a chained stream is only re-read from its start")
        self._used = 0
        self._raw.seek(self._start)
        return 0

    def tell(self) -> int:
        return self._start + self._used
