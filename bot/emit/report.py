"""The DerivationReport: the paper's report shape, extended; input numbers carry provenance."""

from __future__ import annotations

from typing import Any

from bot.compile.availability import sharing_groups
from bot.compile.result import CompiledJourney
from bot.emit.contract import provenance_map
from bot.spec.domain import Node

ROUND = 8


def _r(value: float) -> float:
    return round(value, ROUND)


def operator_graph(node: Node) -> Any:
    """`series: [front, {parallel: [cart, pricing]}, ...]` as in the paper's report."""
    if node.op == "leaf":
        return node.component
    children = [operator_graph(c) for c in node.children]
    if node.op == "branch":
        children = [{"weight": w, "to": c} for w, c in zip(node.weights, children, strict=True)]
    body: Any = children
    if node.op == "retry":
        body = {"attempts": node.attempts, "target": children[0]}
    elif node.op == "quorum":
        body = {"required": node.required, "members": children}
    elif node.op in ("optional", "async"):
        body = children[0]
    return {node.op: body}


def _assumptions(cj: CompiledJourney) -> tuple[list[str], list[str]]:
    optimistic = [
        "Independence across all components (a component referenced twice is one random variable)"
    ]
    pessimistic: list[str] = []
    comps = cj.model.components
    for node in cj.model.root.walk():
        if node.op not in ("race", "fallback", "quorum"):
            continue
        for group in sharing_groups(node.children, comps):
            if len(group) < 2:
                continue
            members = [node.children[i].label for i in group]
            domains = set.intersection(
                *[
                    {
                        d
                        for leaf in node.children[i].leaves()
                        if leaf.component
                        for d in comps[leaf.component].failure_domains
                    }
                    for i in group
                ]
            )
            why = f"domain {', '.join(sorted(domains))}" if domains else "shared components"
            pessimistic.append(
                f"Full correlation inside {why} for {', '.join(members)} ({node.label})"
            )
    pessimistic.append("Positive association within failure domains; domains independent")
    return optimistic, pessimistic


def derivation_report(cj: CompiledJourney) -> dict[str, Any]:
    model = cj.model
    target = model.objective.availability_target
    a = cj.availability
    gating = cj.gating_bound
    interpretation = []
    meets = {name: a.get(name) >= target for name in ("optimistic", "pessimistic")}
    if meets["optimistic"] and not meets["pessimistic"]:
        interpretation.append(f"Optimistic estimate meets {target}, pessimistic bound does not.")
        interpretation.append(
            "The gap is the quantified shared-fate risk of the journey's failure domains."
        )
    elif meets["pessimistic"]:
        interpretation.append(f"Both bounds meet {target}.")
    else:
        interpretation.append(
            f"Neither bound meets {target}: the atomic targets cannot support "
            "the journey objective."
        )
    optimistic, pessimistic = _assumptions(cj)
    results: dict[str, Any] = {
        "availability": {
            "optimisticEstimate": _r(a.optimistic),
            "pessimisticBound": _r(a.pessimistic),
            "worstCaseBound": _r(a.worst_case),
            "interpretation": interpretation,
        }
    }
    if cj.latency is not None:
        results["latency"] = {
            key: {
                "estimate": _r(q.estimate),
                "upper": _r(q.upper),
                "bracket": [_r(q.bracket[0]), _r(q.bracket[1])],
            }
            for key, q in cj.latency.items()
        }
    spec = model.intent.spec
    artifacts = {}
    if spec.governance.alerts and spec.governance.alerts.prom_rule_output:
        artifacts["prometheusAlerts"] = spec.governance.alerts.prom_rule_output
    pd = spec.governance.progressive_delivery
    if pd and pd.analysis_template_output:
        artifacts["argoAnalysisTemplate"] = pd.analysis_template_output
    return {
        "apiVersion": "emac.dev/v1alpha1",
        "kind": "DerivationReport",
        "metadata": {"name": model.name, "labels": dict(model.intent.metadata.labels)},
        "spec": {
            "journey": {
                "name": model.name,
                "source": model.source,
                "operatorGraph": operator_graph(model.root),
            },
            "atomicAvailabilityTargets": {n: c.availability for n, c in model.components.items()},
            "failureDomains": {n: sorted(c.failure_domains) for n, c in model.components.items()},
            "composition": {
                "objectiveAvailabilityTarget": target,
                "optimisticAssumptions": optimistic,
                "pessimisticAssumptions": pessimistic,
                "results": results,
            },
            "budget": {
                "errorBudget": _r(cj.budget.error_budget),
                "consumed": {k: _r(v) for k, v in cj.budget.consumed.items()},
                "leaves": {
                    n: {
                        "allocated": _r(lb.allocated),
                        "maxErrorRatio": _r(lb.max_error_ratio),
                        "headroom": _r(lb.headroom),
                        "importance": _r(lb.importance),
                    }
                    for n, lb in cj.budget.leaves.items()
                },
            },
            "contributors": [
                {
                    "kind": c.kind,
                    "node": c.node,
                    "loss": _r(c.loss),
                    "journeyLoss": _r(c.journey_loss),
                }
                for c in cj.contributors
            ],
            "governance": {
                "conservativeGate": {
                    "uses": {
                        "optimistic": "optimisticEstimate",
                        "pessimistic": "pessimisticBound",
                        "worstCase": "worstCaseBound",
                    }[gating],
                    "decision": cj.decision,
                    "reasons": list(cj.reasons),
                },
                "compiledArtifacts": artifacts,
            },
            "provenance": {k: p.as_dict() for k, p in sorted(provenance_map(cj).items())},
        },
    }
