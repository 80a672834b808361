"""Canary gates shared by the Argo and Flagger emitters: what each gate measures and its threshold.

Every threshold is the smallest of several caps, and records which one won (the journey burn-rate
and latency caps, and why they hold, are in `bot.emit.gate_caps`):

- leaf error ratio (each leaf with an SLI): `error_ratio + headroom`, the largest error ratio the
  leaf may show, others fixed, with the gating bound still at target; clamped to [0, 1]. At 0 no
  leaf quality brings the journey to target, and only an error-free canary passes.

Queries select canary traffic with the matcher `rollout="canary"` and measure over a short window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.compile.result import CompiledJourney
from bot.emit.gate_caps import (
    SOURCE_HEADROOM,
    Cap,
    burn_rate_caps,
    delivery_gate,
    latency_caps,
    threshold_text,
    winning_cap,
)
from bot.emit.gate_queries import (
    convention_latency,
    convention_ratio,
    indent,
    or_zero,
    positive,
    quantile_of,
    with_quantile,
)
from bot.emit.promql import WindowError, format_number
from bot.emit.promql_scan import QueryScopeError, canary_query

CANARY_WINDOW = "5m"
ROUNDING_NOISE = 1e-12

GateMeasure = Literal["burn_rate", "latency", "leaf_error_ratio"]


@dataclass(frozen=True)
class CanaryGate:
    """One canary check: a PromQL measurement (window left open) and the most it may read.

    `query` holds `{window}` where the measurement window goes; `divide_by_error_budget` marks
    the burn-rate gate, whose error ratio each provider divides by the budget its own way.
    """

    name: str
    slug: str
    measure: GateMeasure
    subject: str
    query: str
    threshold: float
    source: str
    caps: tuple[Cap, ...]
    note: str
    passable: bool = True
    divide_by_error_budget: bool = False

    def render(self, window: str) -> str:
        return self.query.replace("{window}", window)

    @property
    def threshold_text(self) -> str:
        return threshold_text(self.threshold)


@dataclass(frozen=True)
class GateThresholds:
    """Every canary gate of one journey, in a stable order: burn rate, latency, then leaves."""

    journey: str
    error_budget: float
    window: str
    burn_rate: CanaryGate
    latency: tuple[CanaryGate, ...]
    leaves: tuple[CanaryGate, ...]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def gates(self) -> tuple[CanaryGate, ...]:
        return (self.burn_rate, *self.latency, *self.leaves)


def derive_gate_thresholds(cj: CompiledJourney) -> GateThresholds:
    """Every canary gate for the journey, thresholds derived from its compiled bounds."""
    skipped: dict[str, str] = {}
    leaves: list[CanaryGate] = []
    for name in cj.model.leaf_components():
        gate_or_reason = _leaf_gate(cj, name)
        if isinstance(gate_or_reason, str):
            skipped[name] = gate_or_reason
        else:
            leaves.append(gate_or_reason)
    return GateThresholds(
        journey=cj.name,
        error_budget=cj.budget.error_budget,
        window=CANARY_WINDOW,
        burn_rate=_burn_gate(cj),
        latency=tuple(_latency_gate(cj, key) for key in _latency_keys(cj)),
        leaves=tuple(leaves),
        skipped=skipped,
    )


def _burn_gate(cj: CompiledJourney) -> CanaryGate:
    caps = burn_rate_caps(cj)
    win = winning_cap(caps)
    value = max(win.value, 0.0)
    sli = cj.model.intent.spec.objectives.availability.sli
    note = ""
    if sli is not None:
        try:
            good = canary_query(sli.good_event_query)
            total = canary_query(sli.total_event_query)
        except (WindowError, QueryScopeError) as exc:
            note = f"journey SLI not usable for a canary ({exc}); using the journey metric. "
            good, total = convention_ratio(cj.name)
    else:
        good, total = convention_ratio(cj.name)
        note = "no journey SLI in the spec: using the journey_requests_total convention. "
    ratio = f"{or_zero(good)}\n/\n{positive(total)}"
    query = f"(\n  1 - (\n{indent(ratio, 4)}\n  )\n)"
    passable = value > 0
    note += (
        f"canary burn rate ≤ {threshold_text(value)} ({win.source})"
        if passable
        else "can never pass: the optimistic bound is perfect but the gating bound is not"
    )
    return CanaryGate(
        name=_gate_name(cj, "burnrate"),
        slug="burnrate",
        measure="burn_rate",
        subject=cj.name,
        query=query,
        threshold=value,
        source=win.source,
        caps=tuple(caps),
        note=note,
        passable=passable,
        divide_by_error_budget=True,
    )


def _latency_keys(cj: CompiledJourney) -> list[str]:
    keys: list[str] = []
    if cj.model.objective.latency_key is not None and cj.model.objective.latency_threshold:
        keys.append(cj.model.objective.latency_key)
    gate = delivery_gate(cj)
    if gate is not None and gate.max_p99_latency_seconds is not None and "p99" not in keys:
        keys.append("p99")
    return keys


def _latency_gate(cj: CompiledJourney, key: str) -> CanaryGate:
    caps = latency_caps(cj, key)
    win = winning_cap(caps)
    quantile = quantile_of(cj, key)
    latency = cj.model.intent.spec.objectives.latency
    promql = latency.evidence.promql if latency and latency.evidence else None
    query: str | None = None
    if (
        promql is not None
        and key != cj.model.objective.latency_key
        and ("histogram_quantile" not in promql)
    ):
        promql = None  # another quantile cannot be read off a query that is not a histogram's
    if promql is not None:
        try:
            query = canary_query(with_quantile(promql, quantile))
        except (WindowError, QueryScopeError):
            query = None
    if query is None:
        query = convention_latency(cj.name, quantile)
    return CanaryGate(
        name=_gate_name(cj, f"latency-{key}"),
        slug=f"latency-{key}",
        measure="latency",
        subject=cj.name,
        query=query,
        threshold=win.value,
        source=win.source,
        caps=tuple(caps),
        note=f"canary {key} ≤ {threshold_text(win.value)}s ({win.source})",
    )


def _leaf_gate(cj: CompiledJourney, name: str) -> CanaryGate | str:
    component = cj.model.components[name]
    if component.sli is None:
        return "no SLI queries (its atomic SLO has no ratio indicator)"
    leaf = cj.budget.leaves.get(name)
    if leaf is None:
        return "no budget entry"
    try:
        total = canary_query(component.sli.total)
        if component.sli.bad is not None:
            ratio = f"{or_zero(canary_query(component.sli.bad))}\n/\n{positive(total)}"
        elif component.sli.good is not None:
            good = canary_query(component.sli.good)
            ratio = f"1 - {or_zero(good)}\n/\n{positive(total)}"
        else:
            return "SLI has neither a good nor a bad query"
    except (WindowError, QueryScopeError) as exc:
        return f"SLI query not usable for a canary: {exc}"
    raw = leaf.error_ratio + leaf.headroom
    # error_ratio and headroom are computed apart: a leaf no quality can rescue sums to ~1e-17.
    value = 0.0 if raw <= ROUNDING_NOISE else min(raw, 1.0)
    passable = value > 0
    if not passable:
        note = (
            f"can never pass: even an error-free {name} leaves the {cj.gating_bound} bound "
            "below target (only a canary with zero errors reads ≤ 0)"
        )
    elif leaf.headroom <= 0:
        note = (
            f"headroom {format_number(leaf.headroom)} ≤ 0: at its declared error ratio "
            f"{format_number(leaf.error_ratio)} {name} keeps the journey below target; the "
            f"canary passes only if it does better (≤ {threshold_text(value)})"
        )
    else:
        note = (
            f"{name} may reach error ratio {threshold_text(value)} (declared "
            f"{format_number(leaf.error_ratio)}, headroom {format_number(leaf.headroom)})"
        )
    return CanaryGate(
        # A leaf whose canary serves no requests has nothing new to judge: it reads 0.
        name=_gate_name(cj, f"{name}-error-ratio"),
        slug=f"{name}-error-ratio",
        measure="leaf_error_ratio",
        subject=name,
        query=f"(\n{indent(ratio, 2)}\n) or vector(0)",
        threshold=value,
        source=SOURCE_HEADROOM,
        caps=(Cap(SOURCE_HEADROOM, raw),),
        note=note,
        passable=passable,
    )


def _gate_name(cj: CompiledJourney, slug: str) -> str:
    return f"{cj.name}-canary-{slug}-{CANARY_WINDOW}"
