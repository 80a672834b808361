"""Flagger MetricTemplates and Canary analysis: the same gates as Argo, in Flagger's terms."""

from __future__ import annotations

from typing import Any

import pytest

from bot.emit.flagger import (
    FAILED_CHECKS_BEFORE_ROLLBACK,
    flagger_canary_analysis,
    flagger_metric_templates,
)
from bot.emit.gates import derive_gate_thresholds
from tests.test_emit_gates_support import healthy, shop


def test_one_metric_template_per_gate_referenced_by_the_analysis() -> None:
    cj = shop(provider="flagger")
    templates = flagger_metric_templates(cj)
    analysis = flagger_canary_analysis(cj)["spec"]["analysis"]
    gates = derive_gate_thresholds(cj).gates
    assert [t["metadata"]["name"] for t in templates] == [
        "emac-shop-burnrate",
        "emac-shop-latency-p99",
        "emac-shop-front-error-ratio",
        "emac-shop-paya-error-ratio",
        "emac-shop-payb-error-ratio",
    ]
    assert [m["templateRef"]["name"] for m in analysis["metrics"]] == [
        t["metadata"]["name"] for t in templates
    ]
    for metric, gate in zip(analysis["metrics"], gates, strict=True):
        assert metric["name"] == gate.name
        assert metric["thresholdRange"] == {"max": float(gate.threshold_text)}
        assert metric["thresholdRange"]["max"] <= gate.threshold
        assert metric["interval"] == "5m"


def test_analysis_matches_the_argo_cadence() -> None:
    analysis = flagger_canary_analysis(healthy(provider="flagger"))["spec"]["analysis"]
    assert (analysis["interval"], analysis["maxWeight"], analysis["stepWeight"]) == ("1m", 50, 10)
    # Flagger rolls back at `threshold` failed checks; Argo's failureLimit 1 tolerates one.
    assert analysis["threshold"] == FAILED_CHECKS_BEFORE_ROLLBACK == 2


def test_queries_take_the_window_from_flagger_and_inline_the_budget() -> None:
    templates = {t["metadata"]["name"]: t for t in flagger_metric_templates(shop())}
    burn = templates["emac-shop-burnrate"]["spec"]["query"]
    assert "[{{ interval }}]" in burn and "[5m]" not in burn
    assert burn.rstrip().endswith("/\n0.005")
    assert templates["emac-shop-burnrate"]["spec"]["provider"] == {
        "type": "prometheus",
        "address": "http://prometheus.monitoring.svc:9090",
    }


def test_the_never_passing_leaf_gate_is_explained_on_its_template() -> None:
    templates = {t["metadata"]["name"]: t for t in flagger_metric_templates(shop())}
    notes = templates["emac-shop-front-error-ratio"]["metadata"]["annotations"]
    assert notes["gates.emac.dev/shop-canary-front-error-ratio-5m"].startswith("can never pass")


@pytest.mark.parametrize(
    "build",
    [pytest.param(shop, id="a failing journey"), pytest.param(healthy, id="a passing journey")],
)
def test_emitting_twice_gives_equal_output(build: Any) -> None:
    first, second = build(provider="flagger"), build(provider="flagger")
    assert flagger_metric_templates(first) == flagger_metric_templates(second)
    assert flagger_canary_analysis(first) == flagger_canary_analysis(second)
