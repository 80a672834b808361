"""Patterns among the calls one request makes: parallel or sequential, race, retry, fallback.

Each request's calls are compared pairwise (at most `max_sibling_calls` of them) and the
outcome tallied across traces; the evidence keeps a few spans of each pattern as provenance.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from bot.discover.span_collector import SpanRecord, record_provenance
from bot.discover.stats import wilson_interval, wilson_lower
from bot.discover.trace_evidence import (
    FallbackPattern,
    InferenceSettings,
    Provenance,
    RacePattern,
    Relation,
    RetryPattern,
    SiblingPattern,
)


class Call(NamedTuple):
    """One call a request made: caller, callee, its timing and how it ended."""

    caller: str
    target: str
    start_ns: int
    end_ns: int
    is_error: bool
    cancelled: bool
    operation: str
    span: SpanRecord


@dataclass
class _PairTally:
    traces: int = 0
    overlapping: int = 0
    races: int = 0
    hedges: int = 0
    cancelled: int = 0
    winners: Counter[str] = field(default_factory=Counter)
    hedge_delays: list[int] = field(default_factory=list)
    spans: list[SpanRecord] = field(default_factory=list)
    race_spans: list[SpanRecord] = field(default_factory=list)

    def merge(self, later: _PairTally, keep: int) -> None:
        self.traces += later.traces
        self.overlapping += later.overlapping
        self.races += later.races
        self.hedges += later.hedges
        self.cancelled += later.cancelled
        self.winners += later.winners
        self.hedge_delays += later.hedge_delays
        self.spans = (self.spans + later.spans)[:keep]
        self.race_spans = (self.race_spans + later.race_spans)[:keep]


@dataclass
class _RetryTally:
    traces: int = 0
    failures: int = 0  # traces where a call to the target failed
    traces_with_retry: int = 0
    retries: int = 0
    max_attempts: int = 0
    spans: list[SpanRecord] = field(default_factory=list)

    def merge(self, later: _RetryTally, keep: int) -> None:
        self.traces += later.traces
        self.failures += later.failures
        self.traces_with_retry += later.traces_with_retry
        self.retries += later.retries
        self.max_attempts = max(self.max_attempts, later.max_attempts)
        self.spans = (self.spans + later.spans)[:keep]


@dataclass
class _FallbackTally:
    fallbacks: int = 0
    violations: int = 0
    spans: list[SpanRecord] = field(default_factory=list)

    def merge(self, later: _FallbackTally, keep: int) -> None:
        self.fallbacks += later.fallbacks
        self.violations += later.violations
        self.spans = (self.spans + later.spans)[:keep]


class CallPatterns:
    """How the calls of each request relate, tallied across the journey's traces."""

    def __init__(self, settings: InferenceSettings, files: Sequence[str]) -> None:
        self.settings = settings
        self.keep = settings.provenance_spans
        self.files = files  # the collector's files, which provenance names by position
        self.pairs: dict[tuple[str, str, str], _PairTally] = defaultdict(_PairTally)
        self.retries: dict[tuple[str, str], _RetryTally] = defaultdict(_RetryTally)
        self.fallbacks: dict[tuple[str, str, str], _FallbackTally] = defaultdict(_FallbackTally)

    def merge(self, later: CallPatterns) -> None:
        """Add the patterns `later` tallied from the traces after this one's (see JourneyTally)."""
        for pair, tally in later.pairs.items():
            self.pairs[pair].merge(tally, self.keep)
        for target, retry in later.retries.items():
            self.retries[target].merge(retry, self.keep)
        for fallback, chosen in later.fallbacks.items():
            self.fallbacks[fallback].merge(chosen, self.keep)

    def add(self, calls: dict[int, list[Call]]) -> None:
        pair_seen: dict[tuple[str, str, str], list[tuple[Call, Call]]] = defaultdict(list)
        retry_seen: dict[tuple[str, str], list[Call]] = defaultdict(list)
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

    def _pair(self, key: tuple[str, str, str], instances: list[tuple[Call, Call]]) -> None:
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

    def _race(self, tally: _PairTally, overlapping: list[tuple[Call, Call]]) -> None:
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

    def _fallback(self, caller: str, instances: list[tuple[Call, Call]]) -> None:
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

    def _retry(self, key: tuple[str, str], sequence: list[Call]) -> None:
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

    def sibling_patterns(self) -> tuple[SiblingPattern, ...]:
        return tuple(self._sibling_evidence(k, t) for k, t in sorted(self.pairs.items()))

    def race_patterns(self) -> tuple[RacePattern, ...]:
        return tuple(self._race_evidence(k, t) for k, t in sorted(self.pairs.items()) if t.races)

    def retry_patterns(self) -> tuple[RetryPattern, ...]:
        return tuple(
            self._retry_evidence(k, t)
            for k, t in sorted(self.retries.items())
            if t.traces_with_retry
        )

    def fallback_patterns(self) -> tuple[FallbackPattern, ...]:
        """Fallbacks called more often after the primary failed than after it succeeded."""
        return tuple(
            self._fallback_evidence(k, t)
            for k, t in sorted(self.fallbacks.items())
            if t.fallbacks > t.violations
        )

    def _provenance(self, spans: list[SpanRecord], signal: str) -> tuple[Provenance, ...]:
        return record_provenance(spans, self.files, self.keep, signal)

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


def _winner(first: Call, second: Call) -> Call | None:
    """The call whose result was used: the one that finished first without failing."""
    usable = [c for c in (first, second) if not c.is_error and not c.cancelled]
    if not usable:
        return None
    return min(usable, key=lambda c: c.end_ns)
