"""Spec text shared by the benchmark scripts: OpenSLO ratio SLOs and operator-group steps."""

from __future__ import annotations

import os
import platform

SLO_TEMPLATE = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: {slo}
spec:
  service: {component}
  indicator:
    metadata:
      name: {slo}-ratio
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec:
              query: sum(rate(http_requests_total{{app="{component}",code!~"5.."}}[5m]))
        total:
          metricSource:
            type: Prometheus
            spec:
              query: sum(rate(http_requests_total{{app="{component}"}}[5m]))
  timeWindow:
    - duration: 30d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: {component} availability
      target: {target}
"""


def group_step(kind: str, names: list[str], *, hedged: bool = False) -> str:
    """One step of a series: a branch (equal weights summing to 1) or a group of leaves."""
    if kind == "branch":
        w = round(1 / len(names), 6)
        weights = [w] * (len(names) - 1) + [round(1 - w * (len(names) - 1), 6)]
        routes = "".join(
            f"          - weight: {wt}\n            target: {{ref: {n}}}\n"
            for wt, n in zip(weights, names, strict=True)
        )
        return f"      - type: branch\n        routes:\n{routes}"
    key = "alternatives" if kind == "fallback" else "branches"
    extra = "        semantics: hedged\n" if hedged and kind == "race" else ""
    refs = "".join(f"          - ref: {n}\n" for n in names)
    return f"      - type: {kind}\n{extra}        {key}:\n{refs}"


def governance(*, max_p99_seconds: float) -> str:
    """The governance block every benchmark journey ends with: conservative gates, Argo."""
    return (
        "  governance:\n"
        "    useBoundsForAutomation:\n"
        "      availability: pessimistic\n"
        "      latency: upperConfidence\n"
        "    alerts:\n"
        "      sloBudgetWindow: 30d\n"
        "    progressiveDelivery:\n"
        "      provider: argo-rollouts\n"
        "      gate:\n"
        "        maxCanaryBurnRate: 1.0\n"
        f"        maxP99LatencySeconds: {max_p99_seconds:g}\n"
    )


def machine() -> str:
    return (
        f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}"
    )
