"""Trace files read into normalised spans: OTLP/JSON, Jaeger JSON and Zipkin v2 JSON.

Each reader is recognise → load → map: `detect_format` looks at the first bytes, the format's
loader streams spans with ijson (a file larger than memory is fine), and its mapper turns each
span into a `Span` (`traces_otlp`, `traces_jaeger`, `traces_zipkin`; the span types and the
rules the three share are in `spans`).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Literal

import ijson  # type: ignore[import-untyped]

from bot.discover.span_collector import SpanCollector
from bot.discover.spans import (
    HEAD_BYTES,
    JsonSyntaxError,
    Span,
    SpanAttributes,
    SpanKind,
    SpanSource,
    first_keys,
    trace_problem,
    utf8_offset,
)
from bot.discover.traces_jaeger import read_jaeger
from bot.discover.traces_otlp import collect_otlp, read_otlp
from bot.discover.traces_zipkin import read_zipkin
from bot.spec.errors import Location, SpecError, SpecProblem

__all__ = [
    "IJSON_BACKEND",
    "MALFORMED_JSON",
    "Span",
    "SpanAttributes",
    "SpanKind",
    "SpanSource",
    "TraceFormat",
    "collect_spans",
    "detect_format",
    "read_span_files",
    "read_spans",
]

TraceFormat = Literal["otlp", "jaeger", "zipkin"]

# Which ijson backend runs (yajl2_c when the C extension is installed, else pure Python).
IJSON_BACKEND: str = ijson.backend

_LOCATE_LIMIT = 32 * 1024 * 1024  # re-read files up to this size to pin a JSON error's line
_COUNT_BLOCK = 1 << 20
_CONTINUATION = bytes(range(0x80, 0xC0))  # UTF-8 bytes that do not start a character

# What the readers raise on a file that is not valid JSON (or not UTF-8).
MALFORMED_JSON = (ijson.JSONError, json.JSONDecodeError, UnicodeDecodeError, JsonSyntaxError)


def detect_format(path: Path) -> TraceFormat:
    """Recognise a trace file by its first bytes and top-level keys."""
    try:
        with path.open("rb") as stream:
            head = stream.read(HEAD_BYTES)
    except OSError as exc:
        raise trace_problem(str(path), "", f"cannot read trace file: {exc.strerror}") from None
    return _detect(head, str(path))


def read_spans(path: Path, fmt: TraceFormat | None = None) -> Iterator[Span]:
    """Stream the spans of one trace file in file order; bad input raises one SpecError."""
    kind = fmt or detect_format(path)
    with path.open("rb") as stream:
        try:
            yield from _READERS[kind](stream, str(path))
        except MALFORMED_JSON as exc:
            raise _json_error(path, stream.tell(), exc) from None


def read_span_files(paths: Iterable[Path]) -> Iterator[Span]:
    """Every span of several trace files, one file after another."""
    for path in paths:
        yield from read_spans(path)


def collect_spans(path: Path, collector: SpanCollector) -> None:
    """Add every span of one trace file to `collector`, as `collector.add_all(read_spans(path))`.

    OTLP files, the large exports, go straight from the parser into the collector.
    """
    kind = detect_format(path)
    if kind != "otlp":
        collector.add_all(read_spans(path, kind))
        return
    with path.open("rb") as stream:
        try:
            collect_otlp(stream, str(path), collector)
        except MALFORMED_JSON as exc:
            raise _json_error(path, stream.tell(), exc) from None


_READERS: dict[str, Callable[[BinaryIO, str], Iterator[Span]]] = {
    "otlp": read_otlp,
    "jaeger": read_jaeger,
    "zipkin": read_zipkin,
}


# --- recognise -------------------------------------------------------------------------------


def _detect(head: bytes, file: str) -> TraceFormat:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        raise trace_problem(file, "", "empty file: expected OTLP, Jaeger or Zipkin JSON")
    keys = first_keys(text)
    if text[:1] == b"{":
        top = keys.get("", set())
        if "resourceSpans" in top:
            return "otlp"
        if "data" in top or ("spans" in top and "traceID" in top):
            return "jaeger"
        raise trace_problem(
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
        raise trace_problem(
            file, "[0]", f"unknown span shape: keys {sorted(first)}; expected Zipkin or Jaeger"
        )
    raise trace_problem(file, "", f"not JSON: starts with {text[:16]!r}")


def _json_error(path: Path, offset: int, exc: Exception) -> SpecError:
    """A JSON syntax error pinned to line:column: exactly where the reader knows the byte, by
    re-reading files small enough, else the byte the reader had got to."""
    if isinstance(exc, JsonSyntaxError):
        line, column = _line_and_column(path, exc.offset)
        return _located(path, line, column, exc.offset, exc.reason)
    if path.stat().st_size <= _LOCATE_LIMIT:
        located = _locate_json_error(path.read_bytes())
        if located is not None:
            return _located(path, *located)
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return trace_problem(str(path), "", f"not valid JSON before byte {offset}: {detail}")


def _located(path: Path, line: int, column: int, byte: int, reason: str) -> SpecError:
    problem = SpecProblem(
        Location(str(path), line, column), "", f"not valid JSON at byte {byte}: {reason}"
    )
    return SpecError([problem])


def _line_and_column(path: Path, offset: int) -> tuple[int, int]:
    """Line and column (in characters, from 1) of byte `offset`, counted without holding the
    file: a trace export may be one line of gigabytes."""
    line, column = 1, 1
    with path.open("rb") as stream:
        left = offset
        while left > 0 and (block := stream.read(min(_COUNT_BLOCK, left))):
            left -= len(block)
            newlines = block.count(b"\n")
            if newlines:
                line += newlines
                block = block[block.rfind(b"\n") + 1 :]
                column = 1
            column += len(block.translate(None, _CONTINUATION))  # characters, not bytes
    return line, column


def _locate_json_error(data: bytes) -> tuple[int, int, int, str] | None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[line_start : exc.start].decode("utf-8-sig")) + 1
        return line, column, exc.start, "not UTF-8 text"
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
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
        return exc.lineno, exc.colno, bom + utf8_offset(text, exc.pos), exc.msg
