"""Argo Rollouts output: the journey's AnalysisTemplate and the canary steps that run it.

Compared with the paper's `compiled/argo/analysis-template.yaml` (same template name, args,
metric names, interval and failureLimit), on purpose:

- every metric sets `count`: Argo rejects a template used as a canary step when a metric has
  an `interval` and no `count` ("metric ... runs indefinitely", argo-rollouts issue #2691);
  5 measurements at 1m cover the 5m window;
- the burn-rate success condition is derived (see `bot.emit.gate_caps`), not copied from
  `maxCanaryBurnRate`: on the paper's example the pessimistic bound makes it 0.337042, not 1.0;
- queries read an absent success series as 0 and drop idle canaries (`total > 0`) so an
  all-failing canary fails its check and an idle one is not a NaN;
- one error-ratio metric per leaf with an SLI; a leaf whose canary serves nothing reads 0.
"""

from __future__ import annotations

from typing import Any

from bot.compile.result import CompiledJourney
from bot.emit.gate_metadata import PROMETHEUS_ADDRESS, object_annotations
from bot.emit.gates import CanaryGate, derive_gate_thresholds
from bot.emit.k8smeta import dns_name, object_labels
from bot.emit.promql import format_number

API_VERSION = "argoproj.io/v1alpha1"
INTERVAL = "1m"
COUNT = 5
FAILURE_LIMIT = 1
# (canary weight %, pause before the analysis step), as in the paper's rollout snippet.
CANARY_STEPS: tuple[tuple[int, str], ...] = ((10, "5m"), (50, "10m"))
ARG_ADDRESS = "prometheus-address"
ARG_BUDGET = "error-budget"


def template_name(cj: CompiledJourney) -> str:
    return dns_name(f"emac-{cj.name}-slo-gate")


def analysis_template(cj: CompiledJourney) -> dict[str, Any]:
    """The `AnalysisTemplate` checking the canary against every derived gate."""
    thresholds = derive_gate_thresholds(cj)
    return {
        "apiVersion": API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": {
            "name": template_name(cj),
            "labels": object_labels(cj),
            "annotations": object_annotations(cj, thresholds.gates, thresholds.skipped),
        },
        "spec": {
            "args": [
                {"name": ARG_ADDRESS, "value": PROMETHEUS_ADDRESS},
                # The error budget of the availability target: burn = error ratio / budget.
                {"name": ARG_BUDGET, "value": format_number(thresholds.error_budget)},
            ],
            "metrics": [_metric(gate, thresholds.window) for gate in thresholds.gates],
        },
    }


def _metric(gate: CanaryGate, window: str) -> dict[str, Any]:
    query = gate.render(window)
    if gate.divide_by_error_budget:
        query = f"{query}\n/\n{{{{args.{ARG_BUDGET}}}}}"
    return {
        "name": gate.name,
        "interval": INTERVAL,
        "count": COUNT,
        "successCondition": f"result[0] <= {gate.threshold_text}",
        "failureLimit": FAILURE_LIMIT,
        "provider": {
            "prometheus": {"address": f"{{{{args.{ARG_ADDRESS}}}}}", "query": query + "\n"}
        },
    }


def rollout_steps_snippet(cj: CompiledJourney) -> dict[str, Any]:
    """The canary steps to merge into the journey's `Rollout`: shift, pause, analyse."""
    steps: list[dict[str, Any]] = []
    for weight, pause in CANARY_STEPS:
        steps.append({"setWeight": weight})
        steps.append({"pause": {"duration": pause}})
        steps.append({"analysis": {"templates": [{"templateName": template_name(cj)}]}})
    return {"spec": {"strategy": {"canary": {"steps": steps}}}}
