"""What traces say about one journey: inference's settings and the frozen evidence it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.discover.stats import Share

# Prometheus client libraries' default histogram buckets, in seconds.
DEFAULT_LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

CallType = Literal["sync", "async"]
Relation = Literal["parallel", "sequential"]


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
