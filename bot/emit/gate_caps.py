"""Canary gate limits: the caps each threshold is the least of, and how a threshold is written.

- journey burn rate: the spec's `gate.maxCanaryBurnRate` (1.0, the rate that spends the budget
  exactly, when absent) and the burn rate at which the gating bound would still meet the
  target. A canary window lasts minutes, so it sees the journey fail the way the independence
  (optimistic) model predicts; the shared-fate failures the gating bound reserves for are rare
  events it does not see. Scaling the gating bound's loss by measured/optimistic loss, the
  journey still meets its target iff burn ≤ (1 − A_optimistic)/(1 − A_gating).
- journey latency quantile: the gating latency bound (`upper` under `upperConfidence`, else the
  `estimate`; a canary slower than the bound contradicts the evidence the compile relied on),
  `gate.maxP99LatencySeconds` (p99 only) and the objective's threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from bot.compile.result import CompiledJourney
from bot.emit.promql import format_number
from bot.spec.journey import DeliveryGate

BURN_RATE_DEFAULT = 1.0
THRESHOLD_DIGITS = 6

SOURCE_POLICY_BURN = "governance.progressiveDelivery.gate.maxCanaryBurnRate"
SOURCE_POLICY_P99 = "governance.progressiveDelivery.gate.maxP99LatencySeconds"
SOURCE_OBJECTIVE_BURN = "objective (burn rate 1 spends the error budget exactly)"
SOURCE_OBJECTIVE_LATENCY = "objectives.latency.objective.threshold"
SOURCE_HEADROOM = "leaf error ratio + headroom"


@dataclass(frozen=True)
class Cap:
    """One candidate limit for a gate and where it comes from."""

    source: str
    value: float


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


def winning_cap(caps: list[Cap]) -> Cap:
    # min() keeps the first of equals: callers list the spec's explicit policy first.
    return min(caps, key=lambda cap: cap.value)


def delivery_gate(cj: CompiledJourney) -> DeliveryGate | None:
    delivery = cj.model.governance.progressive_delivery
    return None if delivery is None else delivery.gate


def burn_rate_caps(cj: CompiledJourney) -> list[Cap]:
    gate = delivery_gate(cj)
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
    gate = delivery_gate(cj)
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
