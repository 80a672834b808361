"""The compiled journey: bounds, latency, budgets, contributors and decision, with provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.spec.domain import JourneyModel, Provenance

Decision = Literal["PASS", "FAIL", "REVIEW"]
BoundName = Literal["optimistic", "pessimistic", "worstCase"]
BOUND_NAMES: tuple[BoundName, ...] = ("optimistic", "pessimistic", "worstCase")


@dataclass(frozen=True)
class TimeoutFactor:
    """P(attempt latency ≤ timeout) of a node that carries a timeout: the F(τ) of a·F(τ)."""

    estimate: float  # under independence
    lower: float  # sound under any dependence between hops


@dataclass(frozen=True)
class AvailabilityBounds:
    """Journey (or node) success probability under three correlation assumptions."""

    optimistic: float
    pessimistic: float
    worst_case: float

    def get(self, name: BoundName) -> float:
        return {
            "optimistic": self.optimistic,
            "pessimistic": self.pessimistic,
            "worstCase": self.worst_case,
        }[name]

    def as_dict(self) -> dict[str, float]:
        return {
            "optimistic": self.optimistic,
            "pessimistic": self.pessimistic,
            "worstCase": self.worst_case,
        }


@dataclass(frozen=True)
class QuantileBound:
    """One latency quantile: independence estimate with its guaranteed grid bracket, and a
    bound that holds under any dependence between hops."""

    quantile: float
    estimate: float
    bracket: tuple[float, float]
    upper: float


@dataclass(frozen=True)
class LeafBudget:
    """A leaf's share of the journey error budget.

    allocated: share of the journey budget (the shares add up to the error budget) such that,
      if every leaf stays within its share, the worst-case bound meets the target.
    max_error_ratio: the leaf error ratio that share corresponds to.
    headroom: how much the leaf's error ratio may grow (others fixed) before the gating bound
      crosses the target; negative when the journey already misses and the leaf must improve.
    importance: Birnbaum importance of the leaf under the gating bound,
      A(leaf always up) − A(leaf always down).
    """

    allocated: float
    max_error_ratio: float
    headroom: float
    importance: float
    error_ratio: float


@dataclass(frozen=True)
class Contributor:
    """Something that costs the journey availability: a shared-fate group or a leaf."""

    kind: Literal["shared_fate", "leaf", "timeout"]
    node: str
    loss: float
    journey_loss: float
    path: str


@dataclass(frozen=True)
class Budget:
    error_budget: float
    consumed: dict[str, float]
    leaves: dict[str, LeafBudget]


@dataclass(frozen=True)
class CompiledJourney:
    """Everything `emac compile` derives for one journey."""

    model: JourneyModel
    availability: AvailabilityBounds
    node_bounds: dict[str, AvailabilityBounds]
    latency: dict[str, QuantileBound] | None
    budget: Budget
    contributors: list[Contributor]
    decision: Decision
    reasons: list[str]
    confidence: float | None
    flags: list[str] = field(default_factory=list)
    provenance: dict[str, Provenance] = field(default_factory=dict)
    # P(within timeout) per node carrying one, as the bounds used them (what-ifs reuse them).
    timeouts: dict[str, TimeoutFactor] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def gating_bound(self) -> BoundName:
        return self.model.governance.use_bounds_for_automation.availability

    @property
    def gating_availability(self) -> float:
        return self.availability.get(self.gating_bound)
