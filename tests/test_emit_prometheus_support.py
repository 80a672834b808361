"""Builders and helpers shared by the Prometheus emitter and promtool tests (no tests here)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.compile.pipeline import compile_paths
from bot.compile.result import AvailabilityBounds, Budget, CompiledJourney, LeafBudget
from bot.spec.domain import ComponentModel, JourneyModel, Node, Objective, Provenance, SliQueries
from bot.spec.journey import JourneyIntent
from tests.conftest import require_binary

PAPER_POLICY: dict[str, Any] = {
    "page": [
        {"burnRate": 14.4, "longWindow": "1h", "shortWindow": "5m"},
        {"burnRate": 6, "longWindow": "6h", "shortWindow": "30m"},
    ],
    "ticket": [{"burnRate": 1, "longWindow": "3d", "shortWindow": "6h"}],
}
GOOD = 'sum(rate(journey_requests_total{{journey="{name}",result="success"}}[{{{{ .window }}}}]))'
TOTAL = 'sum(rate(journey_requests_total{{journey="{name}"}}[{{{{ .window }}}}]))'
_HERE = Provenance("spec.yaml", 1, 1, "spec")


@dataclass(frozen=True)
class Leaf:
    """One leaf of a built journey: its atomic target, SLI and share of the journey budget."""

    name: str
    availability: float = 0.999
    allocated: float = 0.001
    max_error_ratio: float = 0.001
    good: str | None = 'sum(increase(http_requests_total{{service="{name}",code=~"2.."}}[30d]))'
    bad: str | None = None
    total: str | None = 'sum(increase(http_requests_total{{service="{name}"}}[30d]))'

    def sli(self) -> SliQueries | None:
        if self.total is None:
            return None
        fill = {"name": self.name}
        return SliQueries(
            good=self.good.format(**fill) if self.good else None,
            bad=self.bad.format(**fill) if self.bad else None,
            total=self.total.format(**fill),
        )


DEFAULT_LEAVES = (
    Leaf("front", 0.9995, 0.0005, 0.0005),
    Leaf("cart", 0.999, 0.001, 0.001),
    Leaf("paya", 0.995, 0.0035, 0.007),
)


@dataclass(frozen=True)
class JourneySketch:
    """Just enough of a journey to exercise the emitters; `build()` makes the CompiledJourney."""

    name: str = "checkout"
    target: float = 0.995
    window: str = "30d"
    alerts: dict[str, Any] | None = field(default_factory=lambda: {"burnRatePolicy": PAPER_POLICY})
    sli: bool = True
    leaves: tuple[Leaf, ...] = DEFAULT_LEAVES
    labels: dict[str, str] = field(default_factory=lambda: {"team": "payments"})
    namespace: str | None = None
    latency_promql: str | None = None

    def build(self) -> CompiledJourney:
        objectives: dict[str, Any] = {
            "availability": {"window": self.window, "target": self.target},
        }
        if self.sli:
            objectives["availability"]["sli"] = {
                "goodEventQuery": GOOD.format(name=self.name),
                "totalEventQuery": TOTAL.format(name=self.name),
            }
        if self.latency_promql is not None:
            objectives["latency"] = {
                "window": self.window,
                "objective": {"metric": "p99", "threshold": 0.4},
                "evidence": {"promql": self.latency_promql},
            }
        metadata: dict[str, Any] = {"name": self.name, "labels": self.labels}
        if self.namespace:
            metadata["namespace"] = self.namespace
        governance: dict[str, Any] = {}
        if self.alerts is not None:
            governance["alerts"] = self.alerts
        intent = JourneyIntent.model_validate(
            {
                "apiVersion": "emac.dev/v1alpha1",
                "kind": "JourneyIntent",
                "metadata": metadata,
                "spec": {
                    "objectives": objectives,
                    "operator": {
                        "type": "series",
                        "steps": [{"ref": leaf.name} for leaf in self.leaves],
                    },
                    "components": {
                        leaf.name: {"availability": leaf.availability} for leaf in self.leaves
                    },
                    "governance": governance,
                },
            }
        )
        root = Node(
            "series",
            "spec.operator",
            _HERE,
            children=tuple(
                Node("leaf", f"spec.operator.steps[{i}]", _HERE, component=leaf.name)
                for i, leaf in enumerate(self.leaves)
            ),
        )
        components = {
            leaf.name: ComponentModel(
                name=leaf.name,
                kind="service",
                availability=leaf.availability,
                availability_source=_HERE,
                failure_domains=frozenset(),
                domains_source=_HERE,
                sli=leaf.sli(),
            )
            for leaf in self.leaves
        }
        model = JourneyModel(
            name=self.name,
            source=f"spec/{self.name}.yaml",
            objective=Objective(self.target, self.window),
            root=root,
            components=components,
            governance=intent.spec.governance,
            intent=intent,
        )
        budget = Budget(
            error_budget=1.0 - self.target,
            consumed={},
            leaves={
                leaf.name: LeafBudget(
                    leaf.allocated, leaf.max_error_ratio, 0.0, 1.0, 1.0 - leaf.availability
                )
                for leaf in self.leaves
            },
        )
        return CompiledJourney(
            model=model,
            availability=AvailabilityBounds(0.99, 0.99, 0.99),
            node_bounds={},
            latency=None,
            budget=budget,
            contributors=[],
            decision="PASS",
            reasons=[],
            confidence=None,
        )


def compiled(path: Path) -> CompiledJourney:
    """The one journey the compiler finds under `path`."""
    (cj,) = compile_paths([path])
    return cj


def promtool() -> str:
    """The promtool binary: `EMAC_PROMTOOL`, else PATH; fails in CI when missing."""
    return require_binary("promtool", "EMAC_PROMTOOL")


def write_rule_file(path: Path, doc: dict[str, Any]) -> Path:
    """A rule file promtool can read: PrometheusRule resources are unwrapped to their spec."""
    groups = doc["spec"] if doc.get("kind") == "PrometheusRule" else doc
    path.write_text(yaml.safe_dump(groups, sort_keys=False))
    return path


def run_promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *map(str, args)], capture_output=True, text=True, check=False
    )
