"""Journey structure inferred from spans: call edges, parallel/race/retry/fallback, leaf stats.

Pure: spans in, frozen evidence out; no files, clocks or randomness. Spans are first reduced to
the few fields inference needs (`SpanCollector`), then each trace that enters the journey is
rebuilt as a tree (`trace_tree`) and its calls are compared across traces (`trace_patterns`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.discover.span_collector import (
    DEFAULT_DOMAIN_KEYS,
    DEFAULT_DOMAIN_PREFIXES,
    SpanCollector,
    is_cancelled,
)
from bot.discover.spans import Span
from bot.discover.trace_evidence import (
    DEFAULT_LATENCY_BUCKETS,
    CallEdge,
    CallType,
    DomainLabels,
    FallbackPattern,
    InferenceSettings,
    LabelValues,
    LatencyHistogram,
    LeafStats,
    Provenance,
    RacePattern,
    Relation,
    RetryPattern,
    SiblingPattern,
    TraceCounts,
    TraceEvidence,
)
from bot.discover.trace_tree import JourneyTally
from bot.gcpause import without_gc

__all__ = [
    "DEFAULT_DOMAIN_KEYS",
    "DEFAULT_DOMAIN_PREFIXES",
    "DEFAULT_LATENCY_BUCKETS",
    "CallEdge",
    "CallType",
    "DomainLabels",
    "FallbackPattern",
    "InferenceSettings",
    "LabelValues",
    "LatencyHistogram",
    "LeafStats",
    "Provenance",
    "RacePattern",
    "Relation",
    "RetryPattern",
    "SiblingPattern",
    "SpanCollector",
    "TraceCounts",
    "TraceEvidence",
    "infer_trace_evidence",
    "is_cancelled",
]


@without_gc
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
    journey = JourneyTally(
        collector, entry_service, entry_operation, settings or InferenceSettings()
    )
    for records in collector.traces.values():
        journey.add_trace(records)
    return journey.evidence()
