"""Argo Rollouts AnalysisTemplate and canary steps, compared with the paper's by parsed content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.compile.pipeline import compile_paths
from bot.compile.result import CompiledJourney
from bot.emit.argo import COUNT, analysis_template, rollout_steps_snippet
from bot.emit.gates import derive_gate_thresholds
from tests.test_emit_gates_support import healthy, shop


@pytest.fixture(scope="module")
def checkout(paper_checkout: Path) -> CompiledJourney:
    (cj,) = compile_paths([paper_checkout])
    return cj


def _paper(paper_checkout: Path, name: str) -> Any:
    return yaml.safe_load((paper_checkout / "compiled" / "argo" / name).read_text())


def _metrics(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in template["spec"]["metrics"]}


def test_checkout_template_keeps_the_papers_name_args_and_metrics(
    checkout: CompiledJourney, paper_checkout: Path
) -> None:
    ours = analysis_template(checkout)
    paper = _paper(paper_checkout, "analysis-template.yaml")
    assert (ours["apiVersion"], ours["kind"]) == (paper["apiVersion"], paper["kind"])
    assert ours["metadata"]["name"] == paper["metadata"]["name"] == "emac-checkout-slo-gate"
    assert paper["metadata"]["labels"].items() <= ours["metadata"]["labels"].items()
    assert ours["spec"]["args"] == paper["spec"]["args"]  # prometheus-address, error-budget 0.005
    ours_m, paper_m = _metrics(ours), _metrics(paper)
    assert paper_m.keys() <= ours_m.keys()
    for name, theirs in paper_m.items():
        mine = ours_m[name]
        assert mine["interval"] == theirs["interval"] == "1m"
        assert mine["failureLimit"] == theirs["failureLimit"] == 1
        assert mine["provider"]["prometheus"]["address"] == "{{args.prometheus-address}}"
    latency = "checkout-canary-latency-p99-5m"
    assert ours_m[latency]["successCondition"] == paper_m[latency]["successCondition"]


def test_checkout_differences_from_the_paper_are_the_documented_ones(
    checkout: CompiledJourney, paper_checkout: Path
) -> None:
    ours_m = _metrics(analysis_template(checkout))
    paper_m = _metrics(_paper(paper_checkout, "analysis-template.yaml"))
    burn = "checkout-canary-burnrate-5m"
    # The paper copies maxCanaryBurnRate (1.0); the pessimistic bound derives 0.337042:
    # (1 − 0.99747706) / (1 − 0.99251449).
    assert paper_m[burn]["successCondition"] == "result[0] <= 1.0"
    assert ours_m[burn]["successCondition"] == "result[0] <= 0.337042"
    # Every metric is bounded: Argo rejects an interval without count in a canary step.
    assert all("count" not in m for m in paper_m.values())
    assert all(m["count"] == COUNT for m in ours_m.values())
    # One extra gate per leaf with an SLI, in the spec's order.
    extra = [n for n in ours_m if n not in paper_m]
    assert extra == [
        f"checkout-canary-{leaf}-error-ratio-5m"
        for leaf in ("front", "cart", "pricing", "paya", "payb")
    ]


def test_checkout_queries_measure_what_the_papers_do(
    checkout: CompiledJourney, paper_checkout: Path
) -> None:
    ours_m = _metrics(analysis_template(checkout))
    paper_m = _metrics(_paper(paper_checkout, "analysis-template.yaml"))
    for name in paper_m:
        mine = ours_m[name]["provider"]["prometheus"]["query"]
        theirs = paper_m[name]["provider"]["prometheus"]["query"]
        for selector in (
            'journey_requests_total{journey="checkout",result="success",rollout="canary"}[5m]',
            'journey_requests_total{journey="checkout",rollout="canary"}[5m]',
            'journey_latency_seconds_bucket{journey="checkout",rollout="canary"}[5m]',
        ):
            assert (selector in mine) == (selector in theirs), (name, selector)
    burn = ours_m["checkout-canary-burnrate-5m"]["provider"]["prometheus"]["query"]
    assert burn.rstrip().endswith("/\n{{args.error-budget}}")


def test_checkout_rollout_steps_equal_the_papers(
    checkout: CompiledJourney, paper_checkout: Path
) -> None:
    assert rollout_steps_snippet(checkout) == _paper(paper_checkout, "rollout-snippet.yaml")


def test_every_metric_states_its_derived_threshold_and_why() -> None:
    cj = shop()
    template = analysis_template(cj)
    notes = template["metadata"]["annotations"]
    for gate in derive_gate_thresholds(cj).gates:
        metric = _metrics(template)[gate.name]
        assert metric["successCondition"] == f"result[0] <= {gate.threshold_text}"
        assert notes[f"gates.emac.dev/{gate.name}"] == gate.note
    assert notes["gates.emac.dev/shop-canary-front-error-ratio-5m"].startswith("can never pass")


def test_the_error_budget_argument_is_the_journeys_budget() -> None:
    args = {a["name"]: a["value"] for a in analysis_template(healthy())["spec"]["args"]}
    assert args["error-budget"] == "0.01"


@pytest.mark.parametrize(
    "build",
    [pytest.param(shop, id="a failing journey"), pytest.param(healthy, id="a passing journey")],
)
def test_emitting_twice_gives_equal_output(build: Any) -> None:
    first, second = build(), build()
    assert analysis_template(first) == analysis_template(second)
    assert rollout_steps_snippet(first) == rollout_steps_snippet(second)
    text = yaml.safe_dump(analysis_template(first), sort_keys=False)
    assert yaml.safe_dump(analysis_template(second), sort_keys=False) == text
