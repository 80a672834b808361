"""The `emac compile --format json` document (contract version 1, see DESIGN.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.compile.result import CompiledJourney

CONTRACT_VERSION = 1


def journey_document(cj: CompiledJourney) -> dict[str, Any]:
    """One journey's entry. Keys of the contract keep their meaning; later keys are additions."""
    obj = cj.model.objective
    latency_objective = None
    if obj.latency_quantile is not None:
        latency_objective = {"quantile": obj.latency_quantile, "threshold": obj.latency_threshold}
    latency = None
    if cj.latency is not None:
        latency = {
            key: {
                "estimate": q.estimate,
                "upper": q.upper,
                "quantile": q.quantile,
                "bracket": [q.bracket[0], q.bracket[1]],
            }
            for key, q in cj.latency.items()
        }
    gov = cj.model.governance.use_bounds_for_automation
    return {
        "source": cj.model.source,
        "objective": {"availability": obj.availability_target, "latency": latency_objective},
        "availability": cj.availability.as_dict(),
        "latency": latency,
        "budget": {
            "errorBudget": cj.budget.error_budget,
            "consumed": dict(cj.budget.consumed),
            "leaves": {
                name: {
                    "allocated": lb.allocated,
                    "headroom": lb.headroom,
                    "importance": lb.importance,
                    "maxErrorRatio": lb.max_error_ratio,
                    "errorRatio": lb.error_ratio,
                }
                for name, lb in cj.budget.leaves.items()
            },
        },
        "contributors": [
            {
                "kind": c.kind,
                "node": c.node,
                "loss": c.loss,
                "journeyLoss": c.journey_loss,
                "path": c.path,
            }
            for c in cj.contributors
        ],
        "decision": cj.decision,
        "reasons": list(cj.reasons),
        "confidence": cj.confidence,
        "flags": list(cj.flags),
        "gating": {"availability": gov.availability, "latency": gov.latency},
        "model": {
            "accepted": cj.model.accepted.file if cj.model.accepted else None,
            "pending": None
            if cj.model.pending is None
            else {"file": cj.model.pending.file, "confidence": cj.model.pending.confidence},
        },
        "nodes": {
            node.path: {"op": node.op, "label": node.label, **cj.node_bounds[node.path].as_dict()}
            for node in cj.model.root.walk()
        },
        "provenance": {key: p.as_dict() for key, p in sorted(provenance_map(cj).items())},
    }


def provenance_map(cj: CompiledJourney) -> dict[str, Any]:
    """Where each input number came from, keyed by the field it feeds."""
    out = dict(cj.provenance)
    for name, comp in cj.model.components.items():
        out[f"leaves.{name}.availability"] = comp.availability_source
        out[f"leaves.{name}.failureDomains"] = comp.domains_source
        if comp.latency is not None:
            out[f"leaves.{name}.latency"] = comp.latency.source
    return out


def compile_document(journeys: Sequence[CompiledJourney]) -> dict[str, Any]:
    return {
        "version": CONTRACT_VERSION,
        "journeys": {cj.name: journey_document(cj) for cj in journeys},
    }
