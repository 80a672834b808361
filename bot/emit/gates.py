"""Canary gates shared by the Argo and Flagger emitters: what each gate measures and its threshold.

Every threshold is the smallest of several caps, and records which one won:

- journey burn rate: the spec's `gate.maxCanaryBurnRate` (1.0, the rate that spends the budget
  exactly, when absent) and the burn rate at which the gating bound would still meet the
  target. A canary window lasts minutes, so it sees the journey fail the way the independence
  (optimistic) model predicts; the shared-fate failures the gating bound reserves for are rare
  events it does not see. Scaling the gating bound's loss by measured/optimistic loss, the
  journey still meets its target iff burn ≤ (1 − A_optimistic)/(1 − A_gating).
- journey latency quantile: the gating latency bound (`upper` under `upperConfidence`, else the
  `estimate`; a canary slower than the bound contradicts the evidence the compile relied on),
  `gate.maxP99LatencySeconds` (p99 only) and the objective's threshold.
- leaf error ratio (each leaf with an SLI): `error_ratio + headroom`, the largest error ratio the
  leaf may show, others fixed, with the gating bound still at target; clamped to [0, 1]. At 0 no
  leaf quality brings the journey to target, and only an error-free canary passes.

Queries select canary traffic with the matcher `rollout="canary"` and measure over a short window.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

from bot.compile.result import CompiledJourney
from bot.emit.k8smeta import annotation_name, dns_name, label_value, object_labels
from bot.emit.promql import WindowError, clean, format_number
from bot.emit.promql_scan import (
    CANARY_LABEL,
    CANARY_VALUE,
    QueryScopeError,
    canary_query,
    with_matcher,
)
from bot.spec.journey import DeliveryGate

__all__ = [
    "BURN_RATE_DEFAULT",
    "CANARY_LABEL",
    "CANARY_VALUE",
    "CANARY_WINDOW",
    "GATE_ANNOTATION_PREFIX",
    "PROMETHEUS_ADDRESS",
    "ROUNDING_NOISE",
    "SOURCE_HEADROOM",
    "SOURCE_OBJECTIVE_BURN",
    "SOURCE_OBJECTIVE_LATENCY",
    "SOURCE_POLICY_BURN",
    "SOURCE_POLICY_P99",
    "THRESHOLD_DIGITS",
    "CanaryGate",
    "Cap",
    "GateMeasure",
    "GateThresholds",
    "QueryScopeError",
    "annotation_name",
    "burn_rate_caps",
    "canary_query",
    "derive_gate_thresholds",
    "dns_name",
    "label_value",
    "latency_caps",
    "object_annotations",
    "object_labels",
    "threshold_text",
    "with_matcher",
]

CANARY_WINDOW = "5m"
BURN_RATE_DEFAULT = 1.0
THRESHOLD_DIGITS = 6
ROUNDING_NOISE = 1e-12

SOURCE_POLICY_BURN = "governance.progressiveDelivery.gate.maxCanaryBurnRate"
SOURCE_POLICY_P99 = "governance.progressiveDelivery.gate.maxP99LatencySeconds"
SOURCE_OBJECTIVE_BURN = "objective (burn rate 1 spends the error budget exactly)"
SOURCE_OBJECTIVE_LATENCY = "objectives.latency.objective.threshold"
SOURCE_HEADROOM = "leaf error ratio + headroom"

GateMeasure = Literal["burn_rate", "latency", "leaf_error_ratio"]


@dataclass(frozen=True)
class Cap:
    """One candidate limit for a gate and where it comes from."""

    source: str
    value: float


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


def threshold_text(value: float) -> str:
    """A maximum rounded *down* to 6 significant digits: a gate never admits more than derived."""
    if not math.isfinite(value):
        raise ValueError(f"a gate threshold must be finite, got {value}")
    if value <= 0:
        return "0"
    exact = Decimal(repr(value))
    exponent = exact.adjusted() - (THRESHOLD_DIGITS - 1)
    floored = exact.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_FLOOR)
    return format_number(float(floored))


def _winner(caps: list[Cap]) -> Cap:
    # min() keeps the first of equals: callers list the spec's explicit policy first.
    return min(caps, key=lambda cap: cap.value)


# --- thresholds ---------------------------------------------------------------------------


def burn_rate_caps(cj: CompiledJourney) -> list[Cap]:
    gate = _delivery_gate(cj)
    caps: list[Cap] = []
    if gate is not None and gate.max_canary_burn_rate is not None:
        caps.append(Cap(SOURCE_POLICY_BURN, gate.max_canary_burn_rate))
    else:
        caps.append(Cap(SOURCE_OBJECTIVE_BURN, BURN_RATE_DEFAULT))
    gating_loss = 1.0 - cj.gating_availability
    if gating_loss > 0:
        ratio = (1.0 - cj.availability.optimistic) / gating_loss
        caps.append(
            Cap(
                f"gating bound ({cj.gating_bound}): (1 − optimistic)/(1 − {cj.gating_bound})", ratio
            )
        )
    return caps


def latency_caps(cj: CompiledJourney, key: str) -> list[Cap]:
    caps: list[Cap] = []
    gate = _delivery_gate(cj)
    if key == "p99" and gate is not None and gate.max_p99_latency_seconds is not None:
        caps.append(Cap(SOURCE_POLICY_P99, gate.max_p99_latency_seconds))
    objective = cj.model.objective
    if objective.latency_key == key and objective.latency_threshold is not None:
        caps.append(Cap(SOURCE_OBJECTIVE_LATENCY, objective.latency_threshold))
    if cj.latency is not None and key in cj.latency:
        bound = cj.latency[key]
        upper = cj.model.governance.use_bounds_for_automation.latency == "upperConfidence"
        caps.append(
            Cap(
                f"gating latency bound ({key} {'upper' if upper else 'estimate'})",
                bound.upper if upper else bound.estimate,
            )
        )
    return caps


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
    win = _winner(caps)
    value = max(win.value, 0.0)
    sli = cj.model.intent.spec.objectives.availability.sli
    note = ""
    if sli is not None:
        try:
            good = canary_query(sli.good_event_query)
            total = canary_query(sli.total_event_query)
        except (WindowError, QueryScopeError) as exc:
            note = f"journey SLI not usable for a canary ({exc}); using the journey metric. "
            good, total = _convention_ratio(cj.name)
    else:
        good, total = _convention_ratio(cj.name)
        note = "no journey SLI in the spec: using the journey_requests_total convention. "
    ratio = f"{_or_zero(good)}\n/\n{_positive(total)}"
    query = f"(\n  1 - (\n{_indent(ratio, 4)}\n  )\n)"
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
    gate = _delivery_gate(cj)
    if gate is not None and gate.max_p99_latency_seconds is not None and "p99" not in keys:
        keys.append("p99")
    return keys


def _latency_gate(cj: CompiledJourney, key: str) -> CanaryGate:
    caps = latency_caps(cj, key)
    win = _winner(caps)
    quantile = _quantile_of(cj, key)
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
            query = canary_query(_with_quantile(promql, quantile))
        except (WindowError, QueryScopeError):
            query = None
    if query is None:
        query = canary_query(
            f"histogram_quantile(\n  {format_number(quantile)},\n  sum(rate(journey_latency_"
            f'seconds_bucket{{journey="{cj.name}"}}[{{{{ .window }}}}])) by (le)\n)'
        )
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
            ratio = f"{_or_zero(canary_query(component.sli.bad))}\n/\n{_positive(total)}"
        elif component.sli.good is not None:
            good = canary_query(component.sli.good)
            ratio = f"1 - {_or_zero(good)}\n/\n{_positive(total)}"
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
        query=f"(\n{_indent(ratio, 2)}\n) or vector(0)",
        threshold=value,
        source=SOURCE_HEADROOM,
        caps=(Cap(SOURCE_HEADROOM, raw),),
        note=note,
        passable=passable,
    )


def _gate_name(cj: CompiledJourney, slug: str) -> str:
    return f"{cj.name}-canary-{slug}-{CANARY_WINDOW}"


def _delivery_gate(cj: CompiledJourney) -> DeliveryGate | None:
    delivery = cj.model.governance.progressive_delivery
    return None if delivery is None else delivery.gate


def _quantile_of(cj: CompiledJourney, key: str) -> float:
    if key == cj.model.objective.latency_key and cj.model.objective.latency_quantile:
        return cj.model.objective.latency_quantile
    digits = key[1:]
    # `p99.9` is written as a percentage; `p999` reads its digits after the point, like 0.999.
    return float(digits) / 100 if "." in digits else int(digits) / 10 ** len(digits)


def _with_quantile(promql: str, quantile: float) -> str:
    return re.sub(
        r"(histogram_quantile\(\s*)[0-9.eE+-]+",
        lambda m: m.group(1) + format_number(quantile),
        clean(promql),
        count=1,
    )


def _convention_ratio(journey: str) -> tuple[str, str]:
    good = f'sum(rate(journey_requests_total{{journey="{journey}",result="success"}}[{{window}}]))'
    total = f'sum(rate(journey_requests_total{{journey="{journey}"}}[{{window}}]))'
    return with_matcher(good), with_matcher(total)


def _or_zero(query: str) -> str:
    return f"({query} or vector(0))"


def _positive(query: str) -> str:
    # `> 0` drops an idle canary (0/0 would read NaN and fail the check) instead of dividing.
    return f"({query} > 0)"


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())


# --- metadata shared by the emitted objects -------------------------------------------------

PROMETHEUS_ADDRESS = "http://prometheus.monitoring.svc:9090"
GATE_ANNOTATION_PREFIX = "gates.emac.dev/"


def object_annotations(
    cj: CompiledJourney, gates: tuple[CanaryGate, ...], skipped: dict[str, str]
) -> dict[str, str]:
    """Where each threshold came from, one annotation per gate, and the spec it was built from."""
    notes = {
        "emac.dev/generated": "generated by emac — do not edit",
        "emac.dev/source": cj.model.source,
    }
    for gate in gates:
        notes[GATE_ANNOTATION_PREFIX + annotation_name(gate.name)] = gate.note
    if skipped:
        notes["emac.dev/leaves-without-gate"] = "; ".join(
            f"{name}: {reason}" for name, reason in sorted(skipped.items())
        )
    return dict(sorted(notes.items()))
