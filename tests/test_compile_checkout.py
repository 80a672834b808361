"""The paper's checkout example, read unchanged, reproduces its numbers; so does our own copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.compile.pipeline import compile_paths
from bot.compile.result import CompiledJourney
from tests.conftest import FIXTURES, emac

OPTIMISTIC, PESSIMISTIC, WORST = 0.99747706, 0.99251449, 0.9925


def _only(paths: list[Path]) -> CompiledJourney:
    (journey,) = compile_paths(paths)
    return journey


def _check_paper_numbers(cj: CompiledJourney) -> None:
    assert round(cj.availability.optimistic, 8) == OPTIMISTIC
    assert round(cj.availability.pessimistic, 8) == PESSIMISTIC
    assert cj.availability.worst_case == pytest.approx(WORST, abs=1e-12)
    assert cj.decision == "FAIL"
    assert cj.reasons == ["pessimistic 0.99251449 < target 0.995"]
    top = cj.contributors[0]
    assert (top.kind, top.loss) == ("shared_fate", pytest.approx(0.004975, abs=1e-12))
    assert top.journey_loss == pytest.approx(OPTIMISTIC - PESSIMISTIC, abs=1e-8)
    assert cj.budget.error_budget == 0.005
    assert cj.budget.consumed["optimistic"] == pytest.approx(0.505, abs=5e-4)
    assert cj.budget.consumed["pessimistic"] == pytest.approx(1.497, abs=5e-4)
    assert cj.budget.consumed["worstCase"] == pytest.approx(1.5, abs=1e-9)


def test_paper_checkout_reproduces_the_paper(paper_checkout: Path) -> None:
    cj = _only([paper_checkout])
    _check_paper_numbers(cj)
    assert cj.contributors[0].node == "race(paya,payb)"
    assert cj.model.source == "spec/emac.checkout.yaml"
    assert cj.latency is None
    assert cj.confidence is None
    assert cj.model.pending is not None and cj.model.pending.confidence == 0.78


def test_paper_spec_given_alone_finds_its_openslo_files(paper_checkout: Path) -> None:
    cj = _only([paper_checkout / "spec" / "emac.checkout.yaml"])
    _check_paper_numbers(cj)


def test_our_checkout_fixture_gives_the_same_numbers() -> None:
    cj = _only([FIXTURES / "checkout"])
    _check_paper_numbers(cj)
    assert cj.contributors[0].node == "race(card-provider-east,card-provider-west)"


def test_budget_allocation_adds_up_to_the_error_budget(paper_checkout: Path) -> None:
    cj = _only([paper_checkout])
    leaves = cj.budget.leaves
    assert sum(lb.allocated for lb in leaves.values()) == pytest.approx(0.005, rel=1e-12)
    # Worst case of the allocation: series adds, the race takes its better member.
    worst = (
        leaves["front"].max_error_ratio
        + leaves["cart"].max_error_ratio
        + leaves["pricing"].max_error_ratio
        + min(leaves["paya"].max_error_ratio, leaves["payb"].max_error_ratio)
    )
    assert worst == pytest.approx(0.005, rel=1e-12)


def test_headroom_is_where_the_gating_bound_meets_the_target(paper_checkout: Path) -> None:
    cj = _only([paper_checkout])
    paya = cj.budget.leaves["paya"]
    # Pessimistic race = max(a_paya, a_payb); the journey meets 0.995 once
    # 0.9995·0.999·0.999·a ≥ 0.995.
    needed = 0.995 / (0.9995 * 0.999 * 0.999)
    assert paya.headroom == pytest.approx((1 - needed) - paya.error_ratio, abs=1e-12)
    # No improvement of the storefront alone can make up for the shared payment network.
    assert cj.budget.leaves["front"].headroom == pytest.approx(-0.0005, abs=1e-15)


def test_compile_json_follows_the_contract(paper_checkout: Path) -> None:
    proc = emac("compile", str(paper_checkout), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["version"] == 1
    j = doc["journeys"]["checkout"]
    assert set(j) >= {
        "source",
        "objective",
        "availability",
        "latency",
        "budget",
        "contributors",
        "decision",
        "reasons",
        "confidence",
    }
    assert j["objective"] == {
        "availability": 0.995,
        "latency": {"quantile": 0.99, "threshold": 0.4},
    }
    assert j["availability"]["optimistic"] == pytest.approx(OPTIMISTIC, abs=5e-9)
    assert j["availability"]["pessimistic"] == pytest.approx(PESSIMISTIC, abs=5e-9)
    assert j["availability"]["worstCase"] == pytest.approx(WORST, abs=5e-9)
    assert j["latency"] is None
    assert j["decision"] == "FAIL" and j["confidence"] is None
    assert j["contributors"][0]["kind"] == "shared_fate"
    assert set(j["budget"]["leaves"]["paya"]) >= {"allocated", "headroom", "importance"}


def test_text_output_is_a_table_with_the_verdict(paper_checkout: Path) -> None:
    proc = emac("compile", str(paper_checkout))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.splitlines()[0] == "checkout  (spec/emac.checkout.yaml)  FAIL"
    assert "pessimistic 0.99251449" in out
    assert "race(paya,payb)" in out


def test_derivation_report_keeps_the_papers_shape(paper_checkout: Path) -> None:
    import yaml

    proc = emac("compile", str(paper_checkout), "--format", "yaml")
    assert proc.returncode == 0, proc.stderr
    ours = yaml.safe_load(proc.stdout)
    theirs = yaml.safe_load(
        (paper_checkout / "compiled/report/derivation.checkout.yaml").read_text()
    )
    assert ours["kind"] == theirs["kind"] == "DerivationReport"
    assert ours["spec"]["journey"]["operatorGraph"] == theirs["spec"]["journey"]["operatorGraph"]
    assert ours["spec"]["atomicAvailabilityTargets"] == theirs["spec"]["atomicAvailabilityTargets"]
    for key, value in theirs["spec"]["failureDomains"].items():
        assert sorted(ours["spec"]["failureDomains"][key]) == sorted(value)
    ra = ours["spec"]["composition"]["results"]["availability"]
    ta = theirs["spec"]["composition"]["results"]["availability"]
    assert ra["optimisticEstimate"] == ta["optimisticEstimate"]
    assert ra["pessimisticBound"] == ta["pessimisticBound"]
    assert ours["spec"]["governance"]["conservativeGate"]["decision"] == "FAIL"
    prov = ours["spec"]["provenance"]["leaves.paya.availability"]
    assert prov == {
        "file": "atomic/openslo/slo.paya.availability.yaml",
        "line": 32,
        "column": 15,
        "field": "spec.objectives[0].target",
    }
