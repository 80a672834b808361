"""`emac review --format json`: the review as data, for scripts and the Action's outputs."""

from __future__ import annotations

from typing import Any

from bot.review.model import NumberDelta, ReviewResult


def _delta(d: NumberDelta) -> dict[str, float | None]:
    return {"base": d.base, "head": d.head, "delta": d.delta}


def review_document(result: ReviewResult) -> dict[str, Any]:
    return {
        "version": 1,
        "base": result.base_sha,
        "head": result.head_sha,
        "conclusion": result.conclusion,
        "decision": result.decision,
        "changedFiles": result.changed_files,
        "errors": result.errors,
        "staleArtifacts": result.stale_artifacts,
        "journeys": {
            j.name: {
                "status": j.status,
                "decision": j.decision,
                "reasons": j.reasons,
                "gatingBound": j.gating_bound,
                "regression": j.regression,
                "availability": {k: _delta(v) for k, v in j.availability.items()},
                "latency": {
                    q: {k: _delta(v) for k, v in kv.items()} for q, kv in j.latency.items()
                },
                "consumed": {k: _delta(v) for k, v in j.consumed.items()},
                "leaves": {n: {k: _delta(v) for k, v in kv.items()} for n, kv in j.leaves.items()},
                "causes": [
                    {
                        "file": c.file,
                        "line": c.line,
                        "field": c.field,
                        "before": c.before,
                        "after": c.after,
                        "kind": c.kind,
                        "confidence": c.confidence,
                    }
                    for c in j.causes
                ],
                "changedNodes": sorted(j.changed_nodes),
            }
            for j in result.journeys
        },
    }
