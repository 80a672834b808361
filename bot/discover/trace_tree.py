"""One journey read from its traces: each rebuilt as a tree, its calls, edges and leaf requests.

A trace enters the journey at its earliest span of the entry service (and operation); the walk
of that span's subtree finds each request's calls, which `CallPatterns` compares.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Literal

from bot.discover.span_collector import SpanCollector, SpanRecord, record_provenance
from bot.discover.spans import SpanKind
from bot.discover.stats import wilson_interval
from bot.discover.trace_evidence import (
    CallEdge,
    CallType,
    DomainLabels,
    InferenceSettings,
    LabelValues,
    LatencyHistogram,
    LeafStats,
    Provenance,
    TraceCounts,
    TraceEvidence,
)
from bot.discover.trace_patterns import Call, CallPatterns

_CALLING = (SpanKind.CLIENT, SpanKind.PRODUCER)
_ENTERING = (SpanKind.SERVER, SpanKind.CONSUMER)
_ASYNC = (SpanKind.PRODUCER, SpanKind.CONSUMER)
_VIA = {
    (SpanKind.CLIENT, SpanKind.SERVER): "client→server",
    (SpanKind.PRODUCER, SpanKind.CONSUMER): "producer→consumer",
}


@dataclass
class _EdgeTally:
    call_type: CallType
    via: str
    traces: int = 0
    calls: int = 0
    errors: int = 0
    spans: list[SpanRecord] = field(default_factory=list)

    def merge(self, later: _EdgeTally, keep: int) -> None:
        self.traces += later.traces
        self.calls += later.calls
        self.errors += later.errors
        self.spans = (self.spans + later.spans)[:keep]


@dataclass
class _LeafTally:
    requests: int = 0
    errors: int = 0
    own_errors: int = 0
    cancelled: int = 0
    durations: list[float] = field(default_factory=list)
    # Provenance shows the first failed requests, after the successes seen before any failed.
    ok_spans: list[SpanRecord] = field(default_factory=list)
    error_spans: list[SpanRecord] = field(default_factory=list)

    def merge(self, later: _LeafTally, keep: int) -> None:
        if not self.errors:
            self.ok_spans = (self.ok_spans + later.ok_spans)[:keep]
        self.error_spans = (self.error_spans + later.error_spans)[:keep]
        self.requests += later.requests
        self.errors += later.errors
        self.own_errors += later.own_errors
        self.cancelled += later.cancelled
        self.durations += later.durations

    def spans(self, keep: int) -> list[SpanRecord]:
        return (self.ok_spans + self.error_spans)[:keep]


class JourneyTally:
    """What the journey's traces show, tallied trace by trace; `evidence()` freezes it."""

    def __init__(
        self,
        collector: SpanCollector,
        entry: str,
        operation: str | None,
        settings: InferenceSettings,
    ) -> None:
        self.collector = collector
        self.entry = entry
        self.operation = operation
        self.settings = settings
        self.keep = settings.provenance_spans
        self.patterns = CallPatterns(settings, collector.files)
        self.journey_traces = 0
        self.journey_spans = 0
        self.orphans = 0
        self.duplicates = 0
        self.unresolved = 0
        self.edges: dict[tuple[str, str], _EdgeTally] = {}
        self.server_view: dict[str, _LeafTally] = defaultdict(_LeafTally)
        self.client_view: dict[str, _LeafTally] = defaultdict(_LeafTally)
        self.services: dict[str, None] = {}

    def __getstate__(self) -> dict[str, object]:
        # A tally travels between processes without its collector (the spans it was fed).
        return {**self.__dict__, "collector": None}

    def merge(self, later: JourneyTally) -> None:
        """Add what `later` tallied from the traces that come after this tally's in the input.

        Merging tallies of consecutive runs of traces gives the tally of all of them, as if
        one tally had seen every trace in order (provenance keeps the same first spans).
        """
        self.journey_traces += later.journey_traces
        self.journey_spans += later.journey_spans
        self.orphans += later.orphans
        self.duplicates += later.duplicates
        self.unresolved += later.unresolved
        for key, edge in later.edges.items():
            if key in self.edges:
                self.edges[key].merge(edge, self.keep)
            else:
                self.edges[key] = edge
        for mine, theirs in (
            (self.server_view, later.server_view),
            (self.client_view, later.client_view),
        ):
            for service, leaf in theirs.items():
                mine[service].merge(leaf, self.keep)
        for service in later.services:
            self.services.setdefault(service)
        self.patterns.merge(later.patterns)

    # One trace -------------------------------------------------------------------------------

    def add_trace(self, records: list[SpanRecord]) -> None:
        recs, parents = self._tree(records)
        entry = self._entry(recs, parents)
        if entry < 0:
            return
        children: list[list[int]] = [[] for _ in recs]
        for child, parent in enumerate(parents):
            if parent >= 0:
                children[parent].append(child)
        self.journey_traces += 1
        order = [entry]
        context = [-1] * len(recs)  # span → the span that entered its service (request scope)
        context[entry] = entry
        for node in order:  # grows while walking: a breadth-first walk of the entry's subtree
            for child in children[node]:
                here, up = recs[child], recs[node]
                entered = here.service != up.service or here.kind in _ENTERING
                context[child] = child if entered else context[node]
                order.append(child)
        self.journey_spans += len(order)
        calls: dict[int, list[Call]] = defaultdict(list)
        for node in order:
            self.services.setdefault(recs[node].service)
            self._calls_of(node, node == entry, recs, parents, children, context, calls)
        seen_edges: set[tuple[str, str]] = set()
        for group in calls.values():
            for call in group:
                seen_edges.add((call.caller, call.target))
        for key in seen_edges:
            self.edges[key].traces += 1
        for node in order:
            if context[node] == node:
                # A request its caller cancelled (a lost race) is neither success nor failure.
                caller = parents[node]
                dropped = (
                    caller >= 0
                    and recs[caller].cancelled
                    and recs[caller].service != recs[node].service
                )
                self._leaf_request(recs[node], calls.get(node, []), self.server_view, dropped)
        self.patterns.add(calls)

    def _tree(self, records: list[SpanRecord]) -> tuple[list[SpanRecord], list[int]]:
        """Deduplicated spans and each one's parent position (-1: root or parent missing)."""
        recs: list[SpanRecord] = []
        plain: dict[str, int] = {}
        shared: dict[str, int] = {}
        for rec in records:
            index = shared if rec.shared else plain
            if rec.span_id in index:
                self.duplicates += 1
                continue
            index[rec.span_id] = len(recs)
            recs.append(rec)
        parents = []
        for position, rec in enumerate(recs):
            parent = -1
            if rec.shared and rec.span_id in plain:
                parent = plain[rec.span_id]  # Zipkin: the server half's parent is its client half
            elif rec.parent_id is not None:
                server_half = shared.get(rec.parent_id, -1)
                if server_half >= 0 and recs[server_half].service == rec.service:
                    parent = server_half
                else:
                    parent = plain.get(rec.parent_id, server_half)
                if parent < 0:
                    self.orphans += 1
            parents.append(parent if parent != position else -1)
        return recs, parents

    def _entry(self, recs: list[SpanRecord], parents: list[int]) -> int:
        best = -1
        for position, rec in enumerate(recs):
            if rec.service != self.entry:
                continue
            if self.operation is not None and rec.operation != self.operation:
                continue
            parent = parents[position]
            if parent >= 0 and recs[parent].service == self.entry:
                continue
            if best < 0 or rec.start_ns < recs[best].start_ns:
                best = position
        return best

    def _calls_of(
        self,
        node: int,
        is_entry: bool,
        recs: list[SpanRecord],
        parents: list[int],
        children: list[list[int]],
        context: list[int],
        calls: dict[int, list[Call]],
    ) -> None:
        rec, parent = recs[node], parents[node]
        up = recs[parent]
        if not is_entry and up.service != rec.service and up.kind not in _CALLING:
            # No client span between the services: the child itself stands for the call.
            call = Call(up.service, rec.service, rec.start_ns, rec.end_ns, rec.is_error,
                         rec.cancelled, rec.operation, rec)  # fmt: skip
            self._edge(call, "parent→child", rec.follows_from or rec.kind in _ASYNC)
            calls[context[parent]].append(call)
        if rec.kind not in _CALLING:
            return
        callees = [recs[c] for c in children[node] if recs[c].service != rec.service]
        scope = context[node] if is_entry or up.service != rec.service else context[parent]
        for callee in callees:
            # One callee: the calling span times the call (network included). Several (a
            # producer fanning out): each callee's own span is the only timing of its call.
            timed = rec if len(callees) == 1 else callee
            call = Call(rec.service, callee.service, timed.start_ns, timed.end_ns,
                         rec.is_error or callee.is_error, rec.cancelled or callee.cancelled,
                         rec.operation, rec)  # fmt: skip
            asynchronous = rec.kind in _ASYNC or callee.follows_from
            self._edge(call, _VIA.get((rec.kind, callee.kind), "parent→child"), asynchronous)
            calls[scope].append(call)
        if not callees and rec.peer_service and rec.peer_service != rec.service:
            call = Call(rec.service, rec.peer_service, rec.start_ns, rec.end_ns, rec.is_error,
                         rec.cancelled, rec.operation, rec)  # fmt: skip
            self._edge(call, "peer.service", rec.kind in _ASYNC)
            calls[scope].append(call)
            self._leaf_request(rec, [], self.client_view, False, rec.peer_service)
        elif not callees:
            self.unresolved += 1

    def _edge(self, call: Call, via: str, asynchronous: bool) -> None:
        key = (call.caller, call.target)
        tally = self.edges.get(key)
        if tally is None:
            tally = self.edges[key] = _EdgeTally("async" if asynchronous else "sync", via)
        tally.calls += 1
        tally.errors += call.is_error and not call.cancelled
        if len(tally.spans) < self.keep:
            tally.spans.append(call.span)

    def _leaf_request(
        self,
        rec: SpanRecord,
        calls: list[Call],
        view: dict[str, _LeafTally],
        dropped: bool,
        service: str = "",
    ) -> None:
        tally = view[service or rec.service]
        if rec.cancelled or dropped:
            tally.cancelled += 1
            return
        tally.requests += 1
        tally.durations.append((rec.end_ns - rec.start_ns) / 1e9)
        if rec.is_error:
            tally.errors += 1
            if not any(c.is_error and not c.cancelled for c in calls):
                tally.own_errors += 1
            if len(tally.error_spans) < self.keep:
                tally.error_spans.append(rec)
        elif len(tally.ok_spans) < self.keep and not tally.errors:
            tally.ok_spans.append(rec)

    # Evidence --------------------------------------------------------------------------------

    def evidence(self) -> TraceEvidence:
        n = self.journey_traces
        counts = TraceCounts(
            spans=self.collector.span_count,
            traces=self.collector.trace_count,
            journey_traces=n,
            journey_spans=self.journey_spans,
            orphan_spans=self.orphans,
            duplicate_spans=self.duplicates,
            unresolved_calls=self.unresolved,
        )
        labels = self.collector.label_counts()
        services = dict(self.services)
        for _, callee in self.edges:
            services.setdefault(callee)
        return TraceEvidence(
            entry_service=self.entry,
            entry_operation=self.operation,
            counts=counts,
            services=tuple(services),
            edges=tuple(self._edge_evidence(k, t, n) for k, t in sorted(self.edges.items())),
            siblings=self.patterns.sibling_patterns(),
            races=self.patterns.race_patterns(),
            retries=self.patterns.retry_patterns(),
            fallbacks=self.patterns.fallback_patterns(),
            leaves=tuple(self._leaf_evidence(s) for s in services),
            domains=tuple(self._domain_evidence(s, labels) for s in services),
        )

    def _provenance(self, spans: list[SpanRecord], signal: str) -> tuple[Provenance, ...]:
        return record_provenance(spans, self.collector.files, self.keep, signal)

    def _edge_evidence(self, key: tuple[str, str], tally: _EdgeTally, n: int) -> CallEdge:
        caller, callee = key
        return CallEdge(
            caller=caller,
            callee=callee,
            call_type=tally.call_type,
            traces=tally.traces,
            probability=wilson_interval(tally.traces, n),
            calls=tally.calls,
            errors=tally.errors,
            via=tally.via,
            provenance=self._provenance(tally.spans, f"call {caller}→{callee} ({tally.via})"),
        )

    def _leaf_evidence(self, service: str) -> LeafStats:
        server = self.server_view.get(service)
        tally = server if server is not None and (server.requests or server.cancelled) else None
        via: Literal["server spans", "client spans"] = "server spans"
        if tally is None:
            tally, via = self.client_view.get(service, _LeafTally()), "client spans"
        return LeafStats(
            service=service,
            observed_via=via,
            requests=tally.requests,
            errors=tally.errors,
            own_errors=tally.own_errors,
            cancelled=tally.cancelled,
            error_ratio=wilson_interval(tally.errors, tally.requests),
            own_error_ratio=wilson_interval(tally.own_errors, tally.requests),
            latency=_histogram(tally.durations, self.settings.latency_buckets),
            provenance=self._provenance(tally.spans(self.keep), f"requests to {service} ({via})"),
        )

    def _domain_evidence(self, service: str, labels: Counter[tuple[str, str, str]]) -> DomainLabels:
        by_key: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for (owner, key, value), count in labels.items():
            if owner == service:
                by_key[key].append((value, count))
        limit = self.settings.max_label_values
        found = []
        for key in sorted(by_key):
            values = sorted(by_key[key], key=lambda vc: (-vc[1], vc[0]))
            found.append(LabelValues(key, tuple(values[:limit]), len(values) > limit))
        return DomainLabels(service, self.collector.service_spans[service], tuple(found))


def _histogram(durations: list[float], bounds: tuple[float, ...]) -> LatencyHistogram:
    ordered = sorted(durations)
    cumulative: list[int] = []
    position = 0
    for bound in bounds:
        while position < len(ordered) and ordered[position] <= bound:
            position += 1
        cumulative.append(position)
    cumulative.append(len(ordered))
    return LatencyHistogram(bounds, tuple(cumulative), len(ordered), float(sum(ordered)))
