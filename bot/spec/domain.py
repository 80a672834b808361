"""Format-neutral journey model the compiler works on: operator nodes, components, provenance."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from bot.spec.domain_kinds import OpKind as OpKind  # re-exported: the domain's vocabulary
from bot.spec.journey import Governance, JourneyIntent

# Quantiles every compile reports, keyed as in the JSON contract.
REPORTED_QUANTILES: dict[str, float] = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}


@dataclass(frozen=True)
class Provenance:
    """Where a number came from: file, line, column and field path."""

    file: str
    line: int
    column: int
    field: str

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "column": self.column, "field": self.field}


@dataclass(frozen=True)
class LatencyCurve:
    """A leaf latency distribution as a piecewise-linear CDF through (seconds, probability) knots.

    Knots start at probability 0 and end at probability 1 with non-decreasing coordinates; the
    linear interpolation between them is what Prometheus' histogram_quantile assumes too.
    """

    knots: tuple[tuple[float, float], ...]
    source: Provenance

    def cdf(self, t: float) -> float:
        pts = self.knots
        if t < pts[0][0]:
            return 0.0
        for (t0, p0), (t1, p1) in itertools.pairwise(pts):
            if t <= t1:
                return p1 if t1 == t0 else p0 + (p1 - p0) * (t - t0) / (t1 - t0)
        return 1.0

    @property
    def max_seconds(self) -> float:
        return self.knots[-1][0]


@dataclass(frozen=True)
class ComponentModel:
    """A leaf component with its atomic availability, failure domains and latency evidence."""

    name: str
    kind: str
    availability: float
    availability_source: Provenance
    failure_domains: frozenset[str]
    domains_source: Provenance
    latency: LatencyCurve | None = None
    retriable_share: float | None = None
    slo_name: str | None = None
    sli: SliQueries | None = None


@dataclass(frozen=True)
class SliQueries:
    """A leaf's ratio SLI as written in its OpenSLO SLO (windows as written, e.g. `[30d]`)."""

    good: str | None
    bad: str | None
    total: str


@dataclass(frozen=True)
class Node:
    """One operator in the journey expression; leaves name a component."""

    op: OpKind
    path: str
    source: Provenance
    children: tuple[Node, ...] = ()
    component: str | None = None
    timeout: float | None = None
    weights: tuple[float, ...] = ()
    required: int = 0
    attempts: int = 1
    retriable_share: float | None = None
    hedge_delay: float = 0.0

    @property
    def label(self) -> str:
        """A short human name: `race(paya,payb)`, or the op and spec path when too long."""
        if self.op == "leaf":
            return self.component or "?"
        text = f"{self.op}({','.join(c.label for c in self.children)})"
        return text if len(text) <= 60 else f"{self.op}@{self.path}"

    def walk(self) -> list[Node]:
        """Every node of the subtree, parents before children (iterative: trees may be deep)."""
        return list(self._preorder)

    def leaves(self) -> list[Node]:
        return list(self._leaves)

    # Nodes are immutable, so their traversals are computed once; the compiler walks subtrees
    # many times (sharing groups, sensitivities).
    @cached_property
    def _preorder(self) -> tuple[Node, ...]:
        out: list[Node] = []
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children))
        return tuple(out)

    @cached_property
    def _leaves(self) -> tuple[Node, ...]:
        return tuple(n for n in self._preorder if n.op == "leaf")


@dataclass(frozen=True)
class Objective:
    availability_target: float
    availability_window: str
    latency_quantile: float | None = None
    latency_key: str | None = None
    latency_threshold: float | None = None


@dataclass(frozen=True)
class ModelEvidence:
    """A journey model file the compile used or saw, and how much it is trusted."""

    file: str
    kind: Literal["AcceptedJourneyModel", "DiscoveredJourneyModel"]
    confidence: float | None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class JourneyModel:
    """Everything the compiler needs for one journey, resolved and validated."""

    name: str
    source: str
    objective: Objective
    root: Node
    components: dict[str, ComponentModel]
    governance: Governance
    intent: JourneyIntent
    provenance: dict[str, Provenance] = field(default_factory=dict)
    accepted: ModelEvidence | None = None
    pending: ModelEvidence | None = None

    def leaf_components(self) -> list[str]:
        """Distinct component names in first-reference order."""
        seen: dict[str, None] = {}
        for leaf in self.root.leaves():
            assert leaf.component is not None
            seen.setdefault(leaf.component, None)
        return list(seen)
