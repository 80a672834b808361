"""Flagger output: one MetricTemplate per canary gate and the Canary `analysis` that uses them.

The gates and thresholds are the Argo ones (`bot.emit.gates`). Flagger fills `{{ interval }}`
with the metric's interval, so the query window is set in the analysis (5m), and the error
budget is written into the burn-rate query (MetricTemplates take no arguments). Flagger rolls
back once `threshold` checks have failed: 2 matches Argo's `failureLimit: 1`.
"""

from __future__ import annotations

from typing import Any

from bot.compile.result import CompiledJourney
from bot.emit.gate_metadata import PROMETHEUS_ADDRESS, object_annotations
from bot.emit.gates import CanaryGate, GateThresholds, derive_gate_thresholds
from bot.emit.k8smeta import dns_name, object_labels
from bot.emit.promql import format_number

API_VERSION = "flagger.app/v1beta1"
ANALYSIS_INTERVAL = "1m"
FAILED_CHECKS_BEFORE_ROLLBACK = 2
MAX_WEIGHT = 50
STEP_WEIGHT = 10
INTERVAL_TEMPLATE = "{{ interval }}"


def metric_template_name(cj: CompiledJourney, gate: CanaryGate) -> str:
    # No window in the name: the Canary's metric interval sets it.
    return dns_name(f"emac-{cj.name}-{gate.slug}")


def flagger_metric_templates(cj: CompiledJourney) -> list[dict[str, Any]]:
    """A `MetricTemplate` per gate, in gate order (burn rate, latency, leaves)."""
    thresholds = derive_gate_thresholds(cj)
    return [_metric_template(cj, thresholds, gate) for gate in thresholds.gates]


def _metric_template(
    cj: CompiledJourney, thresholds: GateThresholds, gate: CanaryGate
) -> dict[str, Any]:
    query = gate.render(INTERVAL_TEMPLATE)
    if gate.divide_by_error_budget:
        query = f"{query}\n/\n{format_number(thresholds.error_budget)}"
    return {
        "apiVersion": API_VERSION,
        "kind": "MetricTemplate",
        "metadata": {
            "name": metric_template_name(cj, gate),
            "labels": object_labels(cj),
            "annotations": object_annotations(cj, (gate,), {}),
        },
        "spec": {
            "provider": {"type": "prometheus", "address": PROMETHEUS_ADDRESS},
            "query": query + "\n",
        },
    }


def flagger_canary_analysis(cj: CompiledJourney) -> dict[str, Any]:
    """The `analysis` block to merge into the journey's `Canary`."""
    thresholds = derive_gate_thresholds(cj)
    metrics = [
        {
            "name": gate.name,
            "templateRef": {"name": metric_template_name(cj, gate)},
            "thresholdRange": {"max": float(gate.threshold_text)},
            "interval": thresholds.window,
        }
        for gate in thresholds.gates
    ]
    return {
        "spec": {
            "analysis": {
                "interval": ANALYSIS_INTERVAL,
                "threshold": FAILED_CHECKS_BEFORE_ROLLBACK,
                "maxWeight": MAX_WEIGHT,
                "stepWeight": STEP_WEIGHT,
                "metrics": metrics,
            }
        }
    }
