"""Span, the one normalised span every trace reader yields, and the mapping rules they share.

The three readers share the id, attribute, error and error-reporting rules kept here, so a
trace means the same whichever format it was written in.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar, overload

import ijson  # type: ignore[import-untyped]

from bot.spec.errors import Location, SpecError, SpecProblem

_T = TypeVar("_T")

HEAD_BYTES = 64 * 1024  # how much of a file is read to recognise its format and shape


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


# --- shared reading rules --------------------------------------------------------------------


def first_keys(head: bytes) -> dict[str, set[str]]:
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


_HEX = re.compile(r"[0-9a-fA-F]+")
_HEX_DIGITS = "0123456789abcdef"


def fast_hex(raw: object, length: int) -> str | None:
    """`raw` lower-cased when it is a hex string of `length` digits, else None."""
    if type(raw) is str and len(raw) == length:
        lowered = raw.lower()
        if not lowered.strip(_HEX_DIGITS):
            return lowered
    return None


def hex_id(raw: object, size: int, source: SpanSource, where: str, key: str) -> str:
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
    raise trace_problem(source.file, f"{where}.{key}", f"span #{source.index}: {key} {shown}")


def parent_span_id(raw: object, size: int, source: SpanSource, where: str, key: str) -> str | None:
    if raw in (None, ""):
        return None
    parent = hex_id(raw, size, source, where, key)
    return None if parent.strip("0") == "" else parent


def int_value(raw: object, source: SpanSource, where: str, key: str) -> int:
    try:
        return int(raw)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        shown = "missing" if raw is None else f"{raw!r} is not an integer"
        raise trace_problem(
            source.file, f"{where}.{key}", f"span #{source.index}: {key} {shown}"
        ) from None


def plain_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


_NAMED_KINDS = {kind.value: kind for kind in SpanKind}


def named_kind(raw: str | None) -> SpanKind:
    return _NAMED_KINDS.get((raw or "").lower(), SpanKind.INTERNAL)


def http_error(attributes: Mapping[str, str]) -> bool:
    status = attributes.get("http.status_code") or attributes.get("http.response.status_code")
    return status is not None and status.isdigit() and int(status) >= 500


def trace_problem(file: str, path: str, message: str) -> SpecError:
    return SpecError([SpecProblem(Location(file), path, message)])


def utf8_offset(text: str, index: int) -> int:
    """The byte offset, in `text` encoded as UTF-8, of the character at `index`."""
    return index if text.isascii() else len(text[:index].encode("utf-8"))


class JsonSyntaxError(ValueError):
    """Malformed JSON where the reader knows the exact byte of the file it stopped at."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"{reason} at byte {offset}")
        self.offset = offset
        self.reason = reason
