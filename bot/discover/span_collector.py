"""Spans reduced to the few fields inference keeps, grouped by trace, with domain label tallies.

Keeping only these fields (and one copy of each name) lets a million spans fit in memory.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from bot.discover.spans import Span, SpanAttributes, SpanKind
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


def is_cancelled(attrs: Mapping[str, str]) -> bool:
    """Whether a span with these attributes ended because its caller gave up (a lost race)."""
    for key in ("otel.status_description", "error.type", "error", "exception.type"):
        text = attrs.get(key)
        if text and "cancel" in text.lower():
            return True
    return (
        attrs.get("rpc.grpc.status_code") == "1"
        or attrs.get("http.status_code") == "499"
        or attrs.get("http.response.status_code") == "499"
    )


# (trace id, span id, parent id, operation, kind, start, end, is_error, own attributes, peer)
SpanFields = tuple[str, str, str | None, str, SpanKind, int, int, bool, dict[str, str], str | None]

# Records are built with tuple.__new__: a NamedTuple's own __new__ is a Python function, and
# a million spans make a million records.
_new_record = tuple.__new__


class CollectorTotals(NamedTuple):
    """The counts of a collector: spans, traces, spans per service, raw label tallies."""

    spans: int
    traces: int
    service_spans: Counter[str]
    labels: Counter[tuple[str, str, str]]


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
        self._absorbed_traces = 0
        self._label_key: dict[str, bool] = {}  # attribute key → whether it is a domain label

    @property
    def trace_count(self) -> int:
        """Traces kept here plus those counted by collectors absorbed with `absorb`."""
        return len(self.traces) + self._absorbed_traces

    def totals(self) -> CollectorTotals:
        """What this collector counted, without its spans (small enough to send anywhere)."""
        return CollectorTotals(
            self.span_count, len(self.traces), self.service_spans, self._label_tally()
        )

    def absorb(self, totals: CollectorTotals) -> None:
        """Count what another collector counted (its traces stay where they are)."""
        self.span_count += totals.spans
        self._absorbed_traces += totals.traces
        self.service_spans.update(totals.service_spans)
        self._own_labels.update(totals.labels)

    def file_id(self, file: str) -> int:
        """The position of `file` in `files`, registering it on first sight."""
        file_id = self._file_ids.get(file)
        if file_id is None:
            file_id = self._file_ids[file] = len(self.files)
            self.files.append(file)
        return file_id

    def add(self, span: Span) -> None:
        attrs = span.attributes
        fields = (
            span.trace_id, span.span_id, span.parent_id, span.operation, span.kind,
            span.start_ns, span.end_ns, span.is_error, attrs.own, span.peer_service,
        )  # fmt: skip
        self.add_fields(
            fields,
            span.service,
            attrs.resource,
            self.file_id(span.source.file),
            span.shared,
            span.follows_from,
        )

    def add_fields(
        self,
        fields: SpanFields,
        service: str,
        resource: Mapping[str, str],
        file_id: int,
        shared: bool = False,
        follows_from: bool = False,
    ) -> None:
        """Keep one span given as its fields; a reader on a hot path skips building a Span."""
        trace_id, span_id, parent_id, operation, kind, start, end, is_error, own, peer = fields
        strings = self._strings
        service = strings.setdefault(service, service)
        rec = _new_record(
            SpanRecord,
            (
                span_id, parent_id, service, strings.setdefault(operation, operation), kind,
                start, end, is_error, is_error and is_cancelled(SpanAttributes(own, resource)),
                peer, shared, follows_from, file_id,
            ),
        )  # fmt: skip
        trace = self.traces.get(trace_id)
        if trace is None:
            self.traces[trace_id] = [rec]
        else:
            trace.append(rec)
        self.span_count += 1
        self.service_spans[service] += 1
        shared_resource = self._resources.get(id(resource))
        if shared_resource is None:
            shared_resource = self._resources[id(resource)] = (resource, Counter())
        shared_resource[1][service] += 1
        labels, label_key = self._own_labels, self._label_key
        for key, value in own.items():
            wanted = label_key.get(key)
            if wanted is None:
                wanted = label_key[key] = key in self.domain_keys or key.startswith(
                    self.domain_prefixes
                )
            if wanted:
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
        return +self._label_tally()  # drops labels every span overrode

    def _label_tally(self) -> Counter[tuple[str, str, str]]:
        counts = Counter(self._own_labels)
        keys, prefixes = self.domain_keys, self.domain_prefixes
        for resource, services in self._resources.values():
            for key, value in resource.items():
                if key in keys or key.startswith(prefixes):
                    for service, spans in services.items():
                        counts[(service, key, value)] += spans
        return counts


def record_provenance(
    records: Sequence[SpanRecord], files: Sequence[str], keep: int, signal: str
) -> tuple[Provenance, ...]:
    """The first `keep` of `records` as provenance, one item per file they were read from."""
    by_file: dict[int, list[str]] = defaultdict(list)
    for rec in records[:keep]:
        by_file[rec.file].append(rec.span_id)
    return tuple(Provenance(files[f], tuple(ids), signal) for f, ids in by_file.items())
