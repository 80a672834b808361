"""Derived leaf alerts: each leaf alerted against its allocated share of the journey budget."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.emit.leaf_alerts import alerted_leaves, leaf_alert_rules
from tests.test_emit_prometheus_support import DEFAULT_LEAVES, JourneySketch, Leaf, compiled


def _rules(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _for(doc: dict[str, Any], component: str) -> list[dict[str, Any]]:
    return [r for r in _rules(doc) if r["labels"]["component"] == component]


def test_each_leaf_gets_records_over_the_alert_windows_and_two_alerts() -> None:
    doc = leaf_alert_rules(JourneySketch().build())
    assert [g["name"] for g in doc["groups"]] == [
        "emac.checkout.leaf-sli",
        "emac.checkout.leaf-alerts",
    ]
    paya = _for(doc, "paya")
    records = [r["record"] for r in paya if "record" in r]
    assert records == [
        f"journey_component:slo_errors_per_request:ratio_rate{w}"
        for w in ("5m", "30m", "1h", "6h", "3d")
    ]
    alerts = [r for r in paya if "alert" in r]
    assert [a["alert"] for a in alerts] == [
        "CheckoutLeafBudgetShareBurnTooFast",
        "CheckoutLeafBudgetShareBurnSustained",
    ]
    assert [a["labels"] for a in alerts] == [
        {"journey": "checkout", "component": "paya", "severity": "page"},
        {"journey": "checkout", "component": "paya", "severity": "ticket"},
    ]


def test_the_openslo_window_is_replaced_by_each_alert_window() -> None:
    doc = leaf_alert_rules(JourneySketch().build())
    one_hour = next(r for r in _for(doc, "cart") if r.get("record", "").endswith("ratio_rate1h"))
    assert one_hour["expr"] == (
        '1 - ((sum(increase(http_requests_total{service="cart",code=~"2.."}[1h])) '
        'or 0 * sum(increase(http_requests_total{service="cart"}[1h]))) '
        '/ (sum(increase(http_requests_total{service="cart"}[1h])) > 0))'
    )


def test_thresholds_are_burn_rates_times_the_leafs_max_error_ratio() -> None:
    doc = leaf_alert_rules(JourneySketch().build())
    page = next(r for r in _for(doc, "paya") if r.get("alert", "").endswith("TooFast"))
    assert "(14.4 * 0.007)" in page["expr"] and "(6 * 0.007)" in page["expr"]
    assert (
        "journey_component:slo_errors_per_request:ratio_rate1h"
        '{journey="checkout", component="paya"} > (14.4 * 0.007)'
    ) in page["expr"]


def test_the_annotation_explains_the_allocation() -> None:
    doc = leaf_alert_rules(JourneySketch().build())
    page = next(r for r in _for(doc, "paya") if r.get("alert", "").endswith("TooFast"))
    description = page["annotations"]["description"]
    assert "paya is allocated 70% of the checkout journey error budget (0.005 over 30d)" in (
        description
    )
    assert "at most 0.007" in description
    assert "Its own SLO (target 0.995) may still be met" in description


@pytest.mark.parametrize(
    ("leaf", "why"),
    [
        pytest.param(
            Leaf("audit", 0.99, 0.0, 0.008),
            "zero share",
            id="a leaf with no share of the budget is not alerted",
        ),
        pytest.param(
            Leaf("search", 0.99, 0.001, 1.0),
            "limit of one",
            id="a leaf whose limit is a 100% error ratio is not alerted",
        ),
        pytest.param(
            Leaf("edge", 0.99, 0.001, 0.001, total=None),
            "no SLI",
            id="a leaf without an SLI is not alerted",
        ),
    ],
)
def test_leaves_that_cannot_be_alerted_are_skipped(leaf: Leaf, why: str) -> None:
    cj = JourneySketch(leaves=(*DEFAULT_LEAVES, leaf)).build()
    assert alerted_leaves(cj) == ["front", "cart", "paya"], why


def test_a_bad_events_sli_uses_the_bad_query() -> None:
    leaf = Leaf(
        "queue",
        0.999,
        0.001,
        0.001,
        good=None,
        bad='sum(increase(q_failed_total{{q="{name}"}}[7d]))',
        total='sum(increase(q_total{{q="{name}"}}[7d]))',
    )
    doc = leaf_alert_rules(JourneySketch(leaves=(leaf,)).build())
    assert _rules(doc)[0]["expr"] == (
        '(sum(increase(q_failed_total{q="queue"}[5m])) '
        'or 0 * sum(increase(q_total{q="queue"}[5m])))'
        ' / (sum(increase(q_total{q="queue"}[5m])) > 0)'
    )


def test_no_alertable_leaf_means_no_groups() -> None:
    cj = JourneySketch(leaves=(Leaf("edge", total=None),)).build()
    assert leaf_alert_rules(cj) == {"groups": []}


@settings(max_examples=40, deadline=None)
@given(
    index=st.integers(min_value=0, max_value=len(DEFAULT_LEAVES) - 1),
    availability=st.floats(min_value=0.9, max_value=0.99999),
    max_error_ratio=st.floats(min_value=1e-6, max_value=0.5),
)
def test_changing_one_leaf_changes_only_that_leafs_rules(
    index: int, availability: float, max_error_ratio: float
) -> None:
    leaves = list(DEFAULT_LEAVES)
    changed = leaves[index].name
    leaves[index] = replace(
        leaves[index], availability=availability, max_error_ratio=max_error_ratio
    )
    before = leaf_alert_rules(JourneySketch().build())
    after = leaf_alert_rules(JourneySketch(leaves=tuple(leaves)).build())
    for leaf in DEFAULT_LEAVES:
        if leaf.name != changed:
            assert _for(before, leaf.name) == _for(after, leaf.name)
    # Record rules depend on the SLI only; the alerts carry the new limit.
    assert [r for r in _for(after, changed) if "record" in r] == [
        r for r in _for(before, changed) if "record" in r
    ]
    if leaves[index] != DEFAULT_LEAVES[index]:
        assert _for(after, changed) != _for(before, changed)


def test_paper_checkout_alerts_every_leaf_against_its_share(paper_checkout: Path) -> None:
    cj = compiled(paper_checkout)
    doc = leaf_alert_rules(cj)
    assert alerted_leaves(cj) == ["front", "cart", "pricing", "paya", "payb"]
    for name in alerted_leaves(cj):
        ticket = next(r for r in _for(doc, name) if r.get("alert", "").endswith("Sustained"))
        limit = cj.budget.leaves[name].max_error_ratio
        threshold = float(ticket["expr"].split("(1 * ")[1].split(")")[0])
        assert threshold == pytest.approx(limit, rel=1e-11)
