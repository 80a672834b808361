"""Large trace inputs read and inferred on two cores, with exactly the one-process result.

The input (every file, in order) is cut in two lanes at about half its bytes, inside an OTLP
file at the start of a ResourceSpans batch. A forked child reads and infers the second lane
while this process does the first:

1. each lane collects its spans (`SpanCollector`);
2. the child names its traces; a trace that also has spans in the first lane (it straddles the
   cut) is handed over whole, its spans appended after the first lane's;
3. each side tallies its own traces (`JourneyTally`), the child sends its tally and counts,
   and this process merges them after its own.

Traces keep the order a single reader gives them (first lane's, then the child's others), so
the merged tally, provenance included, is the one a single process computes. Only trace ids,
straddling traces and the tally cross between the processes. If the child fails, or a lane's
input is malformed, everything is read again in one process, which reports the problem with
its exact location.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, BinaryIO

from bot.discover.otlp_stream import find_batch_start
from bot.discover.span_collector import CollectorTotals, SpanCollector, SpanRecord
from bot.discover.trace_evidence import InferenceSettings, TraceEvidence
from bot.discover.trace_tree import JourneyTally
from bot.discover.traces import MALFORMED_JSON, collect_spans, detect_format
from bot.discover.traces_otlp import collect_otlp
from bot.gcpause import without_gc
from bot.spec.errors import SpecError

# Below this many bytes of traces, forking and exchanging cost more than the second core saves.
MIN_PARALLEL_BYTES = 32 * 1024 * 1024
_SPLIT_SEARCH_BYTES = 4 * 1024 * 1024  # how far past the middle a batch start is looked for
_OPEN_DOCUMENT = b'{"resourceSpans":['
_CLOSE_DOCUMENT = b"]}"


@dataclass(frozen=True)
class JourneyReading:
    """Which journey the spans are read for, and how."""

    entry_service: str
    entry_operation: str | None
    domain_keys: tuple[str, ...]
    settings: InferenceSettings

    def collector(self, paths: Sequence[Path]) -> SpanCollector:
        collector = SpanCollector(domain_keys=self.domain_keys)
        for path in paths:  # every process numbers the files alike, for provenance
            collector.file_id(str(path))
        return collector

    def tally(self, collector: SpanCollector) -> JourneyTally:
        tally = JourneyTally(collector, self.entry_service, self.entry_operation, self.settings)
        for records in collector.traces.values():
            tally.add_trace(records)
        return tally


@dataclass(frozen=True)
class Part:
    """Bytes `start`..`end` of one trace file (end None: to the end of the file)."""

    path: Path
    start: int = 0
    end: int | None = None


class LaneFailed(Exception):
    """The child lane stopped without a result; the caller reads everything in one process."""


@without_gc
def infer_files(
    paths: Sequence[Path], journey: JourneyReading, *, parallel: bool | None = None
) -> TraceEvidence:
    """Evidence for `journey` from trace files, on two cores when the input is large."""
    wanted = parallel if parallel is not None else _total_bytes(paths) >= MIN_PARALLEL_BYTES
    lanes = split_lanes(paths) if wanted and _can_fork() else None
    if lanes is not None:
        try:
            return _infer_two_lanes(paths, journey, *lanes)
        except (LaneFailed, SpecError):
            pass  # one process reads it all again and reports any problem exactly
    collector = journey.collector(paths)
    for path in paths:
        collect_spans(path, collector)
    return journey.tally(collector).evidence()


def split_lanes(paths: Sequence[Path]) -> tuple[list[Part], list[Part]] | None:
    """The input cut in two at about half its bytes, or None where no cut is possible."""
    sizes = [path.stat().st_size for path in paths]
    middle, before = sum(sizes) // 2, 0
    for at, (path, size) in enumerate(zip(paths, sizes, strict=True)):
        if before + size <= middle:
            before += size
            continue
        cut = _cut_inside(path, middle - before) if detect_format(path) == "otlp" else None
        if cut is not None:
            first, second = cut
            return [*map(Part, paths[:at]), first], [second, *map(Part, paths[at + 1 :])]
        # Not splittable inside: cut before or after this file, whichever is nearer the middle.
        after = at + 1 if middle - before > size // 2 else at
        if 0 < after < len(paths):
            return list(map(Part, paths[:after])), list(map(Part, paths[after:]))
        return None
    return None


def _cut_inside(path: Path, offset: int) -> tuple[Part, Part] | None:
    with path.open("rb") as stream:
        stream.seek(offset)
        start = find_batch_start(stream.read(_SPLIT_SEARCH_BYTES))
        if start is None:
            return None
        start += offset
        # The first part ends before the separator that precedes the batch.
        back = max(0, start - 4096)
        stream.seek(back)
        head = stream.read(start - back).rstrip(b" \t\r\n")
    if head.endswith(b","):
        end = back + len(head) - 1
    elif head.endswith(b"["):
        end = back + len(head)
    else:
        return None
    return Part(path, 0, end), Part(path, start, None)


def _infer_two_lanes(
    paths: Sequence[Path], journey: JourneyReading, first: list[Part], second: list[Part]
) -> TraceEvidence:
    context = multiprocessing.get_context("fork")
    mine, theirs = context.Pipe()
    child = context.Process(target=_second_lane, args=(theirs, paths, journey, second))
    child.start()
    theirs.close()
    try:
        collector = journey.collector(paths)
        for part in first:
            _collect_part(part, collector)
        their_traces: list[str] = _receive(mine)
        straddling = [trace for trace in their_traces if trace in collector.traces]
        mine.send(straddling)
        handed: dict[str, list[SpanRecord]] = _receive(mine)
        for trace, records in handed.items():
            collector.traces[trace].extend(records)
        tally = journey.tally(collector)
        their_tally, their_totals = _receive(mine)
        tally.merge(their_tally)
        collector.absorb(their_totals)
        return tally.evidence()
    finally:
        mine.close()
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
            child.join()


def _second_lane(
    conn: Connection, paths: Sequence[Path], journey: JourneyReading, parts: list[Part]
) -> None:
    try:
        collector = journey.collector(paths)
        for part in parts:
            _collect_part(part, collector)
        conn.send(("ok", list(collector.traces)))
        straddling: list[str] = conn.recv()
        conn.send(("ok", {trace: collector.traces.pop(trace) for trace in straddling}))
        tally = journey.tally(collector)
        totals: CollectorTotals = collector.totals()
        conn.send(("ok", (tally, totals)))
    except BaseException as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _receive(conn: Connection) -> Any:
    try:
        status, value = conn.recv()
    except EOFError:
        raise LaneFailed("the second lane exited without a result") from None
    if status != "ok":
        raise LaneFailed(value)
    return value


def _collect_part(part: Part, collector: SpanCollector) -> None:
    if part.start == 0 and part.end is None:
        collect_spans(part.path, collector)
        return
    with part.path.open("rb") as stream:
        prefix = _OPEN_DOCUMENT if part.start else b""
        suffix = _CLOSE_DOCUMENT if part.end is not None else b""
        piece = _FilePiece(stream, part.start, part.end, prefix, suffix)
        try:
            collect_otlp(piece, str(part.path), collector)  # type: ignore[arg-type]
        except MALFORMED_JSON as exc:
            raise LaneFailed(f"{part.path}: {exc}") from None


class _FilePiece:
    """`prefix` + bytes start..end of a file + `suffix`, read like a file from its start."""

    def __init__(
        self, raw: BinaryIO, start: int, end: int | None, prefix: bytes, suffix: bytes
    ) -> None:
        self._raw, self._start, self._end = raw, start, end
        self._prefix, self._suffix = prefix, suffix
        self.seek(0)

    def seek(self, position: int) -> int:
        if position != 0:
            raise ValueError("a file piece is only re-read from its start")
        self._raw.seek(self._start)
        self._left = None if self._end is None else self._end - self._start
        self._pending = [self._prefix]
        self._position = 0
        self._done = False
        return 0

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        while self._pending and not self._pending[0]:
            self._pending.pop(0)
        if self._pending:
            piece = self._pending.pop(0)
        elif self._done:
            return b""
        else:
            want = size if size > 0 else 1 << 20
            if self._left is not None:
                want = min(want, self._left)
            piece = self._raw.read(want) if want else b""
            if self._left is not None:
                self._left -= len(piece)
            if not piece:
                self._done = True
                piece = self._suffix
        self._position += len(piece)
        return piece


def _total_bytes(paths: Sequence[Path]) -> int:
    return sum(path.stat().st_size for path in paths)


def _can_fork() -> bool:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) >= 2 and "fork" in multiprocessing.get_all_start_methods()
