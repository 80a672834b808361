"""Spans reduced to the few fields inference keeps, grouped by trace, with domain label tallies.

Keeping only these fields (and one copy of each name) lets a million spans fit in memory.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from bot.discover.spans import Span, SpanKind
from bot.discover.trace_evidence import Provenance
from bot.gcpause import without_gc

DEFAULT_DOMAIN_KEYS: tuple[str, ...] = ("cloud.availability_zone", "cloud.region")
DEFAULT_DOMAIN_PREFIXES: tuple[str, ...] = ("k8s.",)


class SpanRecord(NamedTuple):
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
        self.traces: dict[str, list[SpanRecord]] = {}
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
        rec = SpanRecord(
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

    @without_gc
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


def record_provenance(
    records: Sequence[SpanRecord], files: Sequence[str], keep: int, signal: str
) -> tuple[Provenance, ...]:
    """The first `keep` of `records` as provenance, one item per file they were read from."""
    by_file: dict[int, list[str]] = defaultdict(list)
    for rec in records[:keep]:
        by_file[rec.file].append(rec.span_id)
    return tuple(Provenance(files[f], tuple(ids), signal) for f, ids in by_file.items())
