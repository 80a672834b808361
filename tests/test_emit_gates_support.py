"""Builders for the gate, guard and CRD tests: small journeys written as spec files, compiled."""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from bot.compile.pipeline import compile_texts
from bot.compile.result import CompiledJourney, LeafBudget, QuantileBound

Doc = dict[str, Any]


def ref(component: str) -> Doc:
    return {"ref": component}


def series(*steps: Doc) -> Doc:
    return {"type": "series", "steps": list(steps)}


def race(*branches: Doc) -> Doc:
    return {"type": "race", "semantics": "hedged", "branches": list(branches)}


def fallback(*alternatives: Doc) -> Doc:
    return {"type": "fallback", "alternatives": list(alternatives)}


def retry(target: Doc, attempts: int) -> Doc:
    return {"type": "retry", "attempts": attempts, "target": target}


def slo(service: str, target: float, *, bad: bool = False) -> Doc:
    """An OpenSLO ratio SLO over `http_requests_total`, good/total (or bad/total)."""

    def query(extra: str) -> Doc:
        selector = f'service="{service}"{extra}'
        return {
            "metricSource": {
                "type": "Prometheus",
                "spec": {"query": f"sum(increase(http_requests_total{{{selector}}}[30d]))"},
            }
        }

    ratio: Doc = {"counter": True, "total": query("")}
    if bad:
        ratio["bad"] = query(',code=~"5.."')
    else:
        ratio["good"] = query(',code!~"5.."')
    return {
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {"name": f"slo.{service}"},
        "spec": {
            "service": service,
            "budgetingMethod": "Occurrences",
            "indicator": {"metadata": {"name": f"sli.{service}"}, "spec": {"ratioMetric": ratio}},
            "timeWindow": [{"duration": "30d", "isRolling": True}],
            "objectives": [{"target": target}],
        },
    }


def component(availability: float | None = None, *domains: str, slo_name: str | None = None) -> Doc:
    out: Doc = {"kind": "service", "failureDomains": list(domains)}
    if slo_name is not None:
        out["atomicSLORef"] = f"openslo:{slo_name}"
    else:
        out["availability"] = availability
    return out


def journey(
    name: str,
    operator: Doc,
    components: dict[str, Doc],
    *,
    target: float = 0.995,
    latency_threshold: float | None = 0.4,
    latency_metric: str = "p99",
    latency_promql: str | None = None,
    gating: str = "pessimistic",
    latency_bound: str = "upperConfidence",
    gate: Doc | None = None,
    provider: str = "argo-rollouts",
    actions: list[Doc] | None = None,
    auto_accept: float = 0.8,
    journey_sli: bool = True,
    labels: dict[str, str] | None = None,
) -> Doc:
    objectives: Doc = {"availability": {"window": "30d", "target": target}}
    if journey_sli:
        objectives["availability"]["sli"] = {
            "goodEventQuery": f'sum(rate(journey_requests_total{{journey="{name}",'
            'result="success"}[{{ .window }}]))',
            "totalEventQuery": f'sum(rate(journey_requests_total{{journey="{name}"}}'
            "[{{ .window }}]))",
        }
    if latency_threshold is not None:
        objectives["latency"] = {
            "window": "30d",
            "objective": {"metric": latency_metric, "threshold": latency_threshold},
        }
        if latency_promql is not None:
            objectives["latency"]["evidence"] = {"promql": latency_promql}
    governance: Doc = {
        "useBoundsForAutomation": {"availability": gating, "latency": latency_bound},
        "autoAcceptConfidence": auto_accept,
        "progressiveDelivery": {
            "provider": provider,
            "gate": gate
            if gate is not None
            else {"maxCanaryBurnRate": 1.0, "maxP99LatencySeconds": 0.4},
        },
    }
    if actions is not None:
        governance["actions"] = actions
    return {
        "apiVersion": "emac.dev/v1alpha1",
        "kind": "JourneyIntent",
        "metadata": {"name": name, "labels": labels or {"team": "shop"}},
        "spec": {
            "objectives": objectives,
            "operator": operator,
            "components": components,
            "governance": governance,
        },
    }


def compiled(spec: Doc, *slos: Doc) -> CompiledJourney:
    """Compile a journey from spec documents, as `emac compile` does."""
    files = {f"spec/emac.{spec['metadata']['name']}.yaml": yaml.safe_dump(spec)}
    for doc in slos:
        files[f"atomic/{doc['metadata']['name']}.yaml"] = yaml.safe_dump(doc)
    (cj,) = compile_texts(files)
    return cj


def shop(**options: Any) -> CompiledJourney:
    """front → race(paya, payb): payments share a network; every leaf has an SLI."""
    spec = journey(
        "shop",
        series(ref("front"), race(ref("paya"), ref("payb"))),
        {
            "front": component(slo_name="slo.front"),
            "paya": component(None, "payment-network", slo_name="slo.paya"),
            "payb": component(None, "payment-network", slo_name="slo.payb"),
        },
        **options,
    )
    return compiled(spec, slo("front", 0.9995), slo("paya", 0.995), slo("payb", 0.995, bad=True))


def healthy(**options: Any) -> CompiledJourney:
    """A journey that passes with room to spare: every leaf has positive headroom."""
    spec = journey(
        "healthy",
        series(ref("api"), fallback(ref("db"), ref("replica"))),
        {
            "api": component(slo_name="slo.api"),
            "db": component(None, "zone-a", slo_name="slo.db"),
            "replica": component(None, "zone-b", slo_name="slo.replica"),
        },
        **{"target": 0.99, **options},
    )
    return compiled(spec, slo("api", 0.999), slo("db", 0.995), slo("replica", 0.995))


def with_latency(cj: CompiledJourney, estimate: float, upper: float) -> CompiledJourney:
    bound = QuantileBound(0.99, estimate, (estimate * 0.99, estimate * 1.01), upper)
    return dataclasses.replace(cj, latency={"p99": bound})


def with_leaf(cj: CompiledJourney, name: str, **changes: float) -> CompiledJourney:
    leaves = dict(cj.budget.leaves)
    leaves[name] = dataclasses.replace(leaves[name], **changes)
    return dataclasses.replace(cj, budget=dataclasses.replace(cj.budget, leaves=leaves))


def leaf_budget(cj: CompiledJourney, name: str) -> LeafBudget:
    return cj.budget.leaves[name]
