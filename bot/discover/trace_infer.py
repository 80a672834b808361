"""Journey structure inferred from spans: call edges, parallel/race/retry/fallback, leaf stats.

Pure: spans in, frozen evidence out; no files, clocks or randomness. Spans are first reduced to
the few fields inference needs (`SpanCollector`, so a million spans fit in memory), then each
trace that enters the journey is rebuilt as a tree and its calls are compared across traces.
Longer than most modules because the patterns share one pass over each trace's calls.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from bot.discover.stats import Share, wilson_interval, wilson_lower
from bot.discover.traces import Span, SpanKind

# Prometheus client libraries' default histogram buckets, in seconds.
DEFAULT_LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
DEFAULT_DOMAIN_KEYS: tuple[str, ...] = ("cloud.availability_zone", "cloud.region")
DEFAULT_DOMAIN_PREFIXES: tuple[str, ...] = ("k8s.",)

CallType = Literal["sync", "async"]
Relation = Literal["parallel", "sequential"]

_CALLING = (SpanKind.CLIENT, SpanKind.PRODUCER)
_ENTERING = (SpanKind.SERVER, SpanKind.CONSUMER)
_ASYNC = (SpanKind.PRODUCER, SpanKind.CONSUMER)
_VIA = {
    (SpanKind.CLIENT, SpanKind.SERVER): "client→server",
    (SpanKind.PRODUCER, SpanKind.CONSUMER): "producer→consumer",
}


# --- evidence (output) -----------------------------------------------------------------------


@dataclass(frozen=True)
class Provenance:
    """Which spans of which file support one piece of evidence."""

    file: str
    span_ids: tuple[str, ...]
    signal: str


@dataclass(frozen=True)
class CallEdge:
    """Service `caller` calls `callee` in `probability` of the journey's traces."""

    caller: str
    callee: str
    call_type: CallType
    traces: int
    probability: Share
    calls: int
    errors: int
    via: str  # client→server, parent→child or peer.service
    provenance: tuple[Provenance, ...]


@dataclass(frozen=True)
class SiblingPattern:
    """How two calls of one request relate in time: overlapping (parallel) or one after another."""

    caller: str
    first: str
    second: str
    traces: int
    overlapping: int
    relation: Relation
    confidence: float  # Wilson lower bound of the share of traces agreeing with `relation`
    provenance: tuple[Provenance, ...]


@dataclass(frozen=True)
class RacePattern:
    """Overlapping calls to alternative providers where one result wins (race) or is hedged."""

    caller: str
    providers: tuple[str, str]
    semantics: Literal["race", "hedged"]
    traces: int  # traces calling both providers from one request
    races: int  # traces where the calls overlapped with a race signal
    share: Share
    confidence: float
    winners: tuple[tuple[str, int], ...]
    cancelled: int
    hedge_delay_seconds: float | None
    provenance: tuple[Provenance, ...]


@dataclass(frozen=True)
class RetryPattern:
    """Repeated calls to the same service after a failed one, within one request."""

    caller: str
    target: str
    traces: int  # traces calling the target
    traces_with_retry: int
    retries: int
    max_attempts: int
    share: Share
    provenance: tuple[Provenance, ...]


@dataclass(frozen=True)
class FallbackPattern:
    """`fallback` called after `primary` failed; confirmed when never called after a success."""

    caller: str
    primary: str
    fallback: str
    traces: int  # traces calling the primary
    primary_failures: int  # traces where a call to the primary failed
    fallbacks: int  # traces with the fallback called after the primary failed
    violations: int  # traces with the fallback called after the primary succeeded
    confirmed: bool
    confidence: float
    provenance: tuple[Provenance, ...]


@dataclass(frozen=True)
class LatencyHistogram:
    """Prometheus-style cumulative buckets: `cumulative[i]` counts durations ≤ `bounds[i]`."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]  # one more than bounds: the last is le="+Inf" (== count)
    count: int
    sum_seconds: float


@dataclass(frozen=True)
class LeafStats:
    """Error ratio and latency of one component the journey reaches (a leaf of its operator tree).

    `errors` counts failed requests; `own_errors` those where no call the request made
    failed, i.e. the failure started in this component. Cancelled requests (the losing side of
    a race) are neither successes nor failures.
    """

    service: str
    observed_via: Literal["server spans", "client spans"]
    requests: int
    errors: int
    own_errors: int
    cancelled: int
    error_ratio: Share
    own_error_ratio: Share
    latency: LatencyHistogram
    provenance: tuple[Provenance, ...]


@dataclass(frozen=True)
class LabelValues:
    """The values one failure-domain label took on a service's spans, most frequent first."""

    key: str
    values: tuple[tuple[str, int], ...]
    truncated: bool = False

    @property
    def conflicting(self) -> bool:
        return len(self.values) > 1


@dataclass(frozen=True)
class DomainLabels:
    service: str
    spans: int
    labels: tuple[LabelValues, ...]

    def get(self, key: str) -> LabelValues | None:
        return next((label for label in self.labels if label.key == key), None)


@dataclass(frozen=True)
class TraceCounts:
    spans: int
    traces: int
    journey_traces: int
    journey_spans: int
    orphan_spans: int  # parent id names no span of the trace
    duplicate_spans: int
    unresolved_calls: int  # client spans with no callee span and no peer.service


@dataclass(frozen=True)
class TraceEvidence:
    """Everything traces say about one journey, with provenance for each item."""

    entry_service: str
    entry_operation: str | None
    counts: TraceCounts
    services: tuple[str, ...]
    edges: tuple[CallEdge, ...]
    siblings: tuple[SiblingPattern, ...]
    races: tuple[RacePattern, ...]
    retries: tuple[RetryPattern, ...]
    fallbacks: tuple[FallbackPattern, ...]
    leaves: tuple[LeafStats, ...]
    domains: tuple[DomainLabels, ...]

    def edge(self, caller: str, callee: str) -> CallEdge | None:
        return next((e for e in self.edges if (e.caller, e.callee) == (caller, callee)), None)

    def sibling(self, caller: str, first: str, second: str) -> SiblingPattern | None:
        a, b = sorted((first, second))
        return next(
            (s for s in self.siblings if (s.caller, s.first, s.second) == (caller, a, b)), None
        )

    def leaf(self, service: str) -> LeafStats | None:
        return next((leaf for leaf in self.leaves if leaf.service == service), None)

    def domain(self, service: str) -> DomainLabels | None:
        return next((d for d in self.domains if d.service == service), None)

    def provenance(self) -> tuple[Provenance, ...]:
        items: list[tuple[Provenance, ...]] = [
            *(e.provenance for e in self.edges),
            *(s.provenance for s in self.siblings),
            *(r.provenance for r in self.races),
            *(r.provenance for r in self.retries),
            *(f.provenance for f in self.fallbacks),
            *(leaf.provenance for leaf in self.leaves),
        ]
        return tuple(p for group in items for p in group)


@dataclass(frozen=True)
class InferenceSettings:
    race_start_window_ns: int = 2_000_000  # calls starting this close count as started together
    latency_buckets: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS
    max_label_values: int = 32
    provenance_spans: int = 3
    max_sibling_calls: int = 64  # pairs are compared among at most this many calls per request


# --- collection ------------------------------------------------------------------------------


class _Rec(NamedTuple):
    """The part of a span inference keeps."""

    span_id: str
    parent_id: str | None
    service: str
    operation: str
    kind: SpanKind
    start_ns: int
    end_ns: int
    is_error: bool
    cancelled: bool
    peer_service: str | None
    shared: bool
    follows_from: bool
    file: int


def is_cancelled(span: Span) -> bool:
    """Whether the span ended because its caller gave up (the losing side of a race)."""
    attrs = span.attributes
    for key in ("otel.status_description", "error.type", "error", "exception.type"):
        text = attrs.get(key)
        if text and "cancel" in text.lower():
            return True
    return (
        attrs.get("rpc.grpc.status_code") == "1"
        or attrs.get("http.status_code") == "499"
        or attrs.get("http.response.status_code") == "499"
    )


class SpanCollector:
    """Keeps what inference needs of each span, grouped by trace, and tallies domain labels."""

    def __init__(
        self,
        domain_keys: Sequence[str] = (),
        domain_prefixes: Sequence[str] = DEFAULT_DOMAIN_PREFIXES,
    ) -> None:
        self.domain_keys = frozenset((*DEFAULT_DOMAIN_KEYS, *domain_keys))
        self.domain_prefixes = tuple(domain_prefixes)
        self.traces: dict[str, list[_Rec]] = {}
        self.files: list[str] = []
        self.service_spans: Counter[str] = Counter()
        self.span_count = 0
        self._own_labels: Counter[tuple[str, str, str]] = Counter()
        # Resource attributes are shared by a batch's spans: count spans per resource object
        # (kept alive here, so its id stays unique) and read its labels once at the end.
        self._resources: dict[int, tuple[Mapping[str, str], Counter[str]]] = {}
        self._file_ids: dict[str, int] = {}
        self._strings: dict[str, str] = {}  # one copy of each service/operation name

    def add(self, span: Span) -> None:
        file_id = self._file_ids.get(span.source.file)
        if file_id is None:
            file_id = self._file_ids[span.source.file] = len(self.files)
            self.files.append(span.source.file)
        strings = self._strings
        service = strings.setdefault(span.service, span.service)
        rec = _Rec(
            span.span_id,
            span.parent_id,
            service,
            strings.setdefault(span.operation, span.operation),
            span.kind,
            span.start_ns,
            span.end_ns,
            span.is_error,
            span.is_error and is_cancelled(span),
            span.peer_service,
            span.shared,
            span.follows_from,
            file_id,
        )
        trace = self.traces.get(span.trace_id)
        if trace is None:
            self.traces[span.trace_id] = [rec]
        else:
            trace.append(rec)
        self.span_count += 1
        self.service_spans[service] += 1
        resource = span.attributes.resource
        shared = self._resources.get(id(resource))
        if shared is None:
            shared = self._resources[id(resource)] = (resource, Counter())
        shared[1][service] += 1
        keys, prefixes, labels = self.domain_keys, self.domain_prefixes, self._own_labels
        for key, value in span.attributes.own.items():
            if key in keys or key.startswith(prefixes):
                labels[(service, key, value)] += 1
                hidden = resource.get(key)
                if hidden is not None:  # the span's own value replaces its resource's
                    labels[(service, key, hidden)] -= 1

    def add_all(self, spans: Iterable[Span]) -> SpanCollector:
        for span in spans:
            self.add(span)
        return self

    def label_counts(self) -> Counter[tuple[str, str, str]]:
        """How many spans of each service carried each (label, value)."""
        counts = Counter(self._own_labels)
        keys, prefixes = self.domain_keys, self.domain_prefixes
        for resource, services in self._resources.values():
            for key, value in resource.items():
                if key in keys or key.startswith(prefixes):
                    for service, spans in services.items():
                        counts[(service, key, value)] += spans
        return +counts  # drops labels every span overrode


# --- inference -------------------------------------------------------------------------------


def infer_trace_evidence(
    spans: Iterable[Span] | SpanCollector,
    entry_service: str,
    entry_operation: str | None = None,
    *,
    domain_keys: Sequence[str] = (),
    settings: InferenceSettings | None = None,
) -> TraceEvidence:
    """Evidence for the journey entered at `entry_service` (and `entry_operation` if given)."""
    collector = (
        spans
        if isinstance(spans, SpanCollector)
        else SpanCollector(domain_keys=domain_keys).add_all(spans)
    )
    journey = _Journey(collector, entry_service, entry_operation, settings or InferenceSettings())
    for records in collector.traces.values():
        journey.add_trace(records)
    return journey.evidence()


class _Call(NamedTuple):
    caller: str
    target: str
    start_ns: int
    end_ns: int
    is_error: bool
    cancelled: bool
    operation: str
    span: _Rec


@dataclass
class _EdgeTally:
    call_type: CallType
    via: str
    traces: int = 0
    calls: int = 0
    errors: int = 0
    spans: list[_Rec] = field(default_factory=list)


@dataclass
class _PairTally:
    traces: int = 0
    overlapping: int = 0
    races: int = 0
    hedges: int = 0
    cancelled: int = 0
    winners: Counter[str] = field(default_factory=Counter)
    hedge_delays: list[int] = field(default_factory=list)
    spans: list[_Rec] = field(default_factory=list)
    race_spans: list[_Rec] = field(default_factory=list)


@dataclass
class _RetryTally:
    traces: int = 0
    failures: int = 0  # traces where a call to the target failed
    traces_with_retry: int = 0
    retries: int = 0
    max_attempts: int = 0
    spans: list[_Rec] = field(default_factory=list)


@dataclass
class _FallbackTally:
    fallbacks: int = 0
    violations: int = 0
    spans: list[_Rec] = field(default_factory=list)


@dataclass
class _LeafTally:
    requests: int = 0
    errors: int = 0
    own_errors: int = 0
    cancelled: int = 0
    durations: list[float] = field(default_factory=list)
    spans: list[_Rec] = field(default_factory=list)


class _Journey:
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
        self.journey_traces = 0
        self.journey_spans = 0
        self.orphans = 0
        self.duplicates = 0
        self.unresolved = 0
        self.edges: dict[tuple[str, str], _EdgeTally] = {}
        self.pairs: dict[tuple[str, str, str], _PairTally] = defaultdict(_PairTally)
        self.retries: dict[tuple[str, str], _RetryTally] = defaultdict(_RetryTally)
        self.fallbacks: dict[tuple[str, str, str], _FallbackTally] = defaultdict(_FallbackTally)
        self.server_view: dict[str, _LeafTally] = defaultdict(_LeafTally)
        self.client_view: dict[str, _LeafTally] = defaultdict(_LeafTally)
        self.services: dict[str, None] = {}
        self.labels = collector.label_counts()

    # One trace -------------------------------------------------------------------------------

    def add_trace(self, records: list[_Rec]) -> None:
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
        calls: dict[int, list[_Call]] = defaultdict(list)
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
        self._patterns(calls)

    def _tree(self, records: list[_Rec]) -> tuple[list[_Rec], list[int]]:
        """Deduplicated spans and each one's parent position (-1: root or parent missing)."""
        recs: list[_Rec] = []
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

    def _entry(self, recs: list[_Rec], parents: list[int]) -> int:
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
        recs: list[_Rec],
        parents: list[int],
        children: list[list[int]],
        context: list[int],
        calls: dict[int, list[_Call]],
    ) -> None:
        rec, parent = recs[node], parents[node]
        up = recs[parent]
        if not is_entry and up.service != rec.service and up.kind not in _CALLING:
            # No client span between the services: the child itself stands for the call.
            call = _Call(up.service, rec.service, rec.start_ns, rec.end_ns, rec.is_error,
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
            call = _Call(rec.service, callee.service, timed.start_ns, timed.end_ns,
                         rec.is_error or callee.is_error, rec.cancelled or callee.cancelled,
                         rec.operation, rec)  # fmt: skip
            asynchronous = rec.kind in _ASYNC or callee.follows_from
            self._edge(call, _VIA.get((rec.kind, callee.kind), "parent→child"), asynchronous)
            calls[scope].append(call)
        if not callees and rec.peer_service and rec.peer_service != rec.service:
            call = _Call(rec.service, rec.peer_service, rec.start_ns, rec.end_ns, rec.is_error,
                         rec.cancelled, rec.operation, rec)  # fmt: skip
            self._edge(call, "peer.service", rec.kind in _ASYNC)
            calls[scope].append(call)
            self._leaf_request(rec, [], self.client_view, False, rec.peer_service)
        elif not callees:
            self.unresolved += 1

    def _edge(self, call: _Call, via: str, asynchronous: bool) -> None:
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
        rec: _Rec,
        calls: list[_Call],
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
            if len(tally.spans) < self.keep:
                tally.spans.append(rec)
        elif len(tally.spans) < self.keep and not tally.errors:
            tally.spans.append(rec)

    # Patterns among the calls one request makes ----------------------------------------------

    def _patterns(self, calls: dict[int, list[_Call]]) -> None:
        pair_seen: dict[tuple[str, str, str], list[tuple[_Call, _Call]]] = defaultdict(list)
        retry_seen: dict[tuple[str, str], list[_Call]] = defaultdict(list)
        for group in calls.values():
            group.sort(key=lambda c: c.start_ns)
            limited = group[: self.settings.max_sibling_calls]
            for i, first in enumerate(limited):
                retry_seen[(first.caller, first.target)].append(first)
                for second in limited[i + 1 :]:
                    a, b = sorted((first.target, second.target))
                    pair_seen[(first.caller, a, b)].append((first, second))
        for pair, instances in pair_seen.items():
            self._pair(pair, instances)
        for target, sequence in retry_seen.items():
            self._retry(target, sequence)

    def _pair(self, key: tuple[str, str, str], instances: list[tuple[_Call, _Call]]) -> None:
        tally = self.pairs[key]
        tally.traces += 1
        overlapping = [(x, y) for x, y in instances if y.start_ns < x.end_ns]
        if len(tally.spans) < self.keep:
            tally.spans.append(instances[0][0].span)
        if overlapping:
            tally.overlapping += 1
        if key[1] != key[2]:
            self._race(tally, overlapping)
            self._fallback(key[0], instances)

    def _race(self, tally: _PairTally, overlapping: list[tuple[_Call, _Call]]) -> None:
        for first, second in overlapping:  # first started no later than second
            delay = second.start_ns - first.start_ns
            together = delay <= self.settings.race_start_window_ns
            cancelled = first.cancelled or second.cancelled
            alternatives = first.operation == second.operation
            if not (cancelled or (alternatives and together)):
                continue
            tally.races += 1
            tally.cancelled += cancelled
            if not together:
                tally.hedges += 1
                tally.hedge_delays.append(delay)
            winner = _winner(first, second)
            if winner is not None:
                tally.winners[winner.target] += 1
            if len(tally.race_spans) < self.keep:
                tally.race_spans.append(first.span)
            return

    def _fallback(self, caller: str, instances: list[tuple[_Call, _Call]]) -> None:
        for first, second in instances:
            if second.start_ns < first.end_ns:
                continue  # overlapping calls are not a fallback
            tally = self.fallbacks[(caller, first.target, second.target)]
            if first.is_error and not first.cancelled:
                tally.fallbacks += 1
                if len(tally.spans) < self.keep:
                    tally.spans.append(second.span)
            else:
                tally.violations += 1
            return

    def _retry(self, key: tuple[str, str], sequence: list[_Call]) -> None:
        tally = self.retries[key]
        tally.traces += 1
        tally.failures += any(c.is_error and not c.cancelled for c in sequence)
        retries = 0
        for earlier, later in itertools.pairwise(sequence):
            if later.start_ns >= earlier.end_ns and earlier.is_error and not earlier.cancelled:
                retries += 1
                if len(tally.spans) < self.keep:
                    tally.spans.append(later.span)
        if retries:
            tally.traces_with_retry += 1
            tally.retries += retries
            tally.max_attempts = max(tally.max_attempts, retries + 1)

    # Evidence --------------------------------------------------------------------------------

    def evidence(self) -> TraceEvidence:
        n = self.journey_traces
        counts = TraceCounts(
            spans=self.collector.span_count,
            traces=len(self.collector.traces),
            journey_traces=n,
            journey_spans=self.journey_spans,
            orphan_spans=self.orphans,
            duplicate_spans=self.duplicates,
            unresolved_calls=self.unresolved,
        )
        services = dict(self.services)
        for _, callee in self.edges:
            services.setdefault(callee)
        return TraceEvidence(
            entry_service=self.entry,
            entry_operation=self.operation,
            counts=counts,
            services=tuple(services),
            edges=tuple(self._edge_evidence(k, t, n) for k, t in sorted(self.edges.items())),
            siblings=tuple(self._sibling_evidence(k, t) for k, t in sorted(self.pairs.items())),
            races=tuple(
                self._race_evidence(k, t) for k, t in sorted(self.pairs.items()) if t.races
            ),
            retries=tuple(
                self._retry_evidence(k, t)
                for k, t in sorted(self.retries.items())
                if t.traces_with_retry
            ),
            fallbacks=tuple(
                self._fallback_evidence(k, t)
                for k, t in sorted(self.fallbacks.items())
                if t.fallbacks > t.violations
            ),
            leaves=tuple(self._leaf_evidence(s) for s in services),
            domains=tuple(self._domain_evidence(s) for s in services),
        )

    def _provenance(self, spans: list[_Rec], signal: str) -> tuple[Provenance, ...]:
        by_file: dict[int, list[str]] = defaultdict(list)
        for rec in spans[: self.keep]:
            by_file[rec.file].append(rec.span_id)
        files = self.collector.files
        return tuple(Provenance(files[f], tuple(ids), signal) for f, ids in by_file.items())

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

    def _sibling_evidence(self, key: tuple[str, str, str], tally: _PairTally) -> SiblingPattern:
        caller, first, second = key
        parallel = 2 * tally.overlapping >= tally.traces
        agreeing = tally.overlapping if parallel else tally.traces - tally.overlapping
        relation: Relation = "parallel" if parallel else "sequential"
        return SiblingPattern(
            caller=caller,
            first=first,
            second=second,
            traces=tally.traces,
            overlapping=tally.overlapping,
            relation=relation,
            confidence=wilson_lower(agreeing, tally.traces),
            provenance=self._provenance(
                tally.spans, f"{caller} calls {first} and {second}: {relation}"
            ),
        )

    def _race_evidence(self, key: tuple[str, str, str], tally: _PairTally) -> RacePattern:
        caller, first, second = key
        hedged = 2 * tally.hedges > tally.races
        share = wilson_interval(tally.races, tally.traces)
        delay = statistics.median(tally.hedge_delays) / 1e9 if hedged else None
        return RacePattern(
            caller=caller,
            providers=(first, second),
            semantics="hedged" if hedged else "race",
            traces=tally.traces,
            races=tally.races,
            share=share,
            confidence=share.low,
            winners=tuple(sorted(tally.winners.items(), key=lambda kv: (-kv[1], kv[0]))),
            cancelled=tally.cancelled,
            hedge_delay_seconds=delay,
            provenance=self._provenance(tally.race_spans, f"race {first}|{second}"),
        )

    def _retry_evidence(self, key: tuple[str, str], tally: _RetryTally) -> RetryPattern:
        caller, target = key
        return RetryPattern(
            caller=caller,
            target=target,
            traces=tally.traces,
            traces_with_retry=tally.traces_with_retry,
            retries=tally.retries,
            max_attempts=tally.max_attempts,
            share=wilson_interval(tally.traces_with_retry, tally.traces),
            provenance=self._provenance(tally.spans, f"retry {caller}→{target} after an error"),
        )

    def _fallback_evidence(
        self, key: tuple[str, str, str], tally: _FallbackTally
    ) -> FallbackPattern:
        caller, primary, fallback = key
        calls = self.retries[(caller, primary)]
        confirmed = tally.fallbacks > 0 and tally.violations == 0
        return FallbackPattern(
            caller=caller,
            primary=primary,
            fallback=fallback,
            traces=calls.traces,
            primary_failures=calls.failures,
            fallbacks=tally.fallbacks,
            violations=tally.violations,
            confirmed=confirmed,
            # How reliably a failure of the primary is followed by the fallback.
            confidence=wilson_lower(tally.fallbacks, calls.failures) if confirmed else 0.0,
            provenance=self._provenance(tally.spans, f"{fallback} called after {primary} failed"),
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
            provenance=self._provenance(tally.spans, f"requests to {service} ({via})"),
        )

    def _domain_evidence(self, service: str) -> DomainLabels:
        by_key: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for (owner, key, value), count in self.labels.items():
            if owner == service:
                by_key[key].append((value, count))
        limit = self.settings.max_label_values
        labels = []
        for key in sorted(by_key):
            values = sorted(by_key[key], key=lambda vc: (-vc[1], vc[0]))
            labels.append(LabelValues(key, tuple(values[:limit]), len(values) > limit))
        return DomainLabels(service, self.collector.service_spans[service], tuple(labels))


def _winner(first: _Call, second: _Call) -> _Call | None:
    """The call whose result was used: the one that finished first without failing."""
    usable = [c for c in (first, second) if not c.is_error and not c.cancelled]
    if not usable:
        return None
    return min(usable, key=lambda c: c.end_ns)


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
