"""Canary gate thresholds derived from compiled bounds: which cap wins, and the numbers."""

from __future__ import annotations

import dataclasses
import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.compile.result import CompiledJourney
from bot.emit.gate_caps import (
    SOURCE_HEADROOM,
    SOURCE_OBJECTIVE_BURN,
    SOURCE_OBJECTIVE_LATENCY,
    SOURCE_POLICY_BURN,
    SOURCE_POLICY_P99,
    threshold_text,
)
from bot.emit.gates import derive_gate_thresholds
from bot.emit.promql_scan import QueryScopeError, with_matcher
from tests.test_emit_gates_support import healthy, shop, with_latency, with_leaf

GATING_CAP = "gating bound (pessimistic): (1 − optimistic)/(1 − pessimistic)"


def _bound_cap(cj: CompiledJourney) -> float:
    return (1 - cj.availability.optimistic) / (1 - cj.gating_availability)


# --- journey burn rate ------------------------------------------------------------------------


def test_pessimistic_gating_caps_the_burn_rate_below_the_policy() -> None:
    cj = shop()
    gate = derive_gate_thresholds(cj).burn_rate
    # (1 − 0.9994750125) / (1 − 0.9945025): the canary may burn ~9.5% of the budget rate.
    assert gate.threshold == pytest.approx(0.000524987500 / 0.0054975, rel=1e-9)
    assert gate.threshold == pytest.approx(_bound_cap(cj), rel=1e-15)
    assert gate.source == GATING_CAP
    assert [c.source for c in gate.caps] == [SOURCE_POLICY_BURN, GATING_CAP]
    assert gate.passable


@pytest.mark.parametrize(
    ("gating", "policy", "expected", "source"),
    [
        pytest.param(
            "optimistic",
            {"maxCanaryBurnRate": 0.5},
            0.5,
            SOURCE_POLICY_BURN,
            id="optimistic gating leaves the policy's 0.5 as the tighter cap",
        ),
        pytest.param(
            "optimistic",
            {},
            1.0,
            SOURCE_OBJECTIVE_BURN,
            id="without maxCanaryBurnRate the objective's burn rate 1 applies",
        ),
        pytest.param(
            "optimistic",
            {"maxCanaryBurnRate": 1.0},
            1.0,
            SOURCE_POLICY_BURN,
            id="a tie between the policy and the bound goes to the policy",
        ),
        pytest.param(
            "pessimistic",
            {"maxCanaryBurnRate": 2.0},
            None,
            GATING_CAP,
            id="a lax policy of 2.0 is overruled by the pessimistic bound",
        ),
    ],
)
def test_burn_rate_gate_takes_the_smallest_cap(
    gating: str, policy: dict[str, float], expected: float | None, source: str
) -> None:
    cj = shop(gating=gating, gate=policy)
    gate = derive_gate_thresholds(cj).burn_rate
    assert gate.threshold == pytest.approx(
        expected if expected is not None else _bound_cap(cj), rel=1e-12
    )
    assert gate.source == source


def test_burn_rate_gate_never_exceeds_the_policy() -> None:
    for policy in (0.05, 0.2, 1.0, 3.0):
        gate = derive_gate_thresholds(shop(gate={"maxCanaryBurnRate": policy})).burn_rate
        assert gate.threshold <= policy
        assert all(gate.threshold <= cap.value for cap in gate.caps)


# --- latency ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bound", "latency_bound", "gate", "expected", "source"),
    [
        pytest.param(
            None,
            "upperConfidence",
            {"maxP99LatencySeconds": 0.4},
            0.4,
            SOURCE_POLICY_P99,
            id="without latency evidence the policy and the objective agree on 0.4",
        ),
        pytest.param(
            None,
            "upperConfidence",
            {},
            0.4,
            SOURCE_OBJECTIVE_LATENCY,
            id="without a policy the objective's threshold is the gate",
        ),
        pytest.param(
            (0.25, 0.31),
            "upperConfidence",
            {"maxP99LatencySeconds": 0.4},
            0.31,
            "gating latency bound (p99 upper)",
            id="upperConfidence gates on the dependence-proof upper bound",
        ),
        pytest.param(
            (0.25, 0.31),
            "estimate",
            {"maxP99LatencySeconds": 0.4},
            0.25,
            "gating latency bound (p99 estimate)",
            id="estimate gates on the independence estimate",
        ),
        pytest.param(
            (0.3, 0.55),
            "upperConfidence",
            {"maxP99LatencySeconds": 0.35},
            0.35,
            SOURCE_POLICY_P99,
            id="a bound above maxP99LatencySeconds is capped by the policy",
        ),
    ],
)
def test_latency_gate_takes_the_smallest_cap(
    bound: tuple[float, float] | None,
    latency_bound: str,
    gate: dict[str, float],
    expected: float,
    source: str,
) -> None:
    cj = shop(latency_bound=latency_bound, gate=gate)
    if bound is not None:
        cj = with_latency(cj, *bound)
    (latency,) = derive_gate_thresholds(cj).latency
    assert latency.threshold == expected
    assert latency.source == source
    assert latency.name == "shop-canary-latency-p99-5m"
    assert "histogram_quantile(\n  0.99," in latency.render("5m")


def test_a_p95_objective_and_a_p99_policy_give_two_latency_gates() -> None:
    promql = 'histogram_quantile(0.95, sum(rate(lat_bucket{job="x"}[{{ .window }}])) by (le))'
    cj = shop(
        latency_metric="p95",
        latency_threshold=0.3,
        latency_promql=promql,
        gate={"maxP99LatencySeconds": 0.5},
    )
    p95, p99 = derive_gate_thresholds(cj).latency
    assert (p95.name, p95.threshold, p95.source) == (
        "shop-canary-latency-p95-5m",
        0.3,
        SOURCE_OBJECTIVE_LATENCY,
    )
    assert p95.render("5m") == (
        'histogram_quantile(0.95, sum(rate(lat_bucket{job="x",rollout="canary"}[5m])) by (le))'
    )
    assert (p99.name, p99.threshold, p99.source) == (
        "shop-canary-latency-p99-5m",
        0.5,
        SOURCE_POLICY_P99,
    )
    assert p99.render("5m").startswith("histogram_quantile(0.99, sum(rate(lat_bucket{")


def test_no_latency_objective_and_no_policy_means_no_latency_gate() -> None:
    cj = shop(latency_threshold=None, gate={"maxCanaryBurnRate": 1.0})
    assert derive_gate_thresholds(cj).latency == ()


# --- leaves -----------------------------------------------------------------------------------


def test_leaf_gate_is_error_ratio_plus_headroom() -> None:
    cj = healthy()
    gates = {g.subject: g for g in derive_gate_thresholds(cj).leaves}
    api = cj.budget.leaves["api"]
    assert api.headroom > 0
    assert gates["api"].threshold == pytest.approx(api.error_ratio + api.headroom, rel=1e-15)
    assert gates["api"].threshold == pytest.approx(0.009975249381, rel=1e-9)
    assert gates["api"].source == SOURCE_HEADROOM
    # The fallback covers a dead primary entirely: the gate is capped at an error ratio of 1.
    assert gates["db"].threshold == 1.0


def test_negative_headroom_tightens_the_gate_below_the_declared_ratio() -> None:
    cj = shop()
    gates = {g.subject: g for g in derive_gate_thresholds(cj).leaves}
    paya = cj.budget.leaves["paya"]
    assert paya.headroom < 0
    assert gates["paya"].threshold == pytest.approx(0.005 + paya.headroom, rel=1e-12)
    assert gates["paya"].threshold < paya.error_ratio
    assert gates["paya"].passable
    assert "≤ 0" in gates["paya"].note


def test_a_leaf_no_quality_can_rescue_gets_a_gate_that_never_passes() -> None:
    gates = {g.subject: g for g in derive_gate_thresholds(shop()).leaves}
    # Even a perfect front leaves the shared-fate payment race below 0.995.
    assert gates["front"].threshold == 0.0
    assert not gates["front"].passable
    assert gates["front"].note.startswith("can never pass")


def test_leaf_gate_is_clamped_to_zero_and_one() -> None:
    cj = with_leaf(healthy(), "api", headroom=-0.5)
    gates = {g.subject: g for g in derive_gate_thresholds(cj).leaves}
    assert gates["api"].threshold == 0.0
    cj = with_leaf(healthy(), "api", headroom=7.0)
    gates = {g.subject: g for g in derive_gate_thresholds(cj).leaves}
    assert gates["api"].threshold == 1.0


def test_changing_one_leaf_changes_only_that_leafs_gate() -> None:
    base = shop()
    changed = with_leaf(base, "paya", error_ratio=0.002, headroom=0.0005)
    before = {g.subject: g for g in derive_gate_thresholds(base).gates}
    after = {g.subject: g for g in derive_gate_thresholds(changed).gates}
    assert after.keys() == before.keys()
    differing = sorted(k for k in before if before[k] != after[k])
    assert differing == ["paya"]
    assert after["paya"].threshold == pytest.approx(0.0025, rel=1e-12)


def test_leaf_queries_scope_the_sli_to_canary_traffic_over_the_window() -> None:
    gates = {g.subject: g for g in derive_gate_thresholds(shop()).leaves}
    paya = gates["paya"].render("5m")
    assert 'http_requests_total{service="paya",code!~"5..",rollout="canary"}[5m]' in paya
    assert "[30d]" not in paya
    assert paya.rstrip().endswith("or vector(0)")
    payb = gates["payb"].render("5m")  # its SLO counts bad events
    assert payb.startswith(
        '(\n  (sum(increase(http_requests_total{service="payb",code=~"5..",'
        'rollout="canary"}[5m])) or vector(0))\n  /'
    )


def test_leaves_without_an_sli_are_listed_not_gated() -> None:
    from tests.test_emit_gates_support import compiled, component, journey, ref, series

    spec = journey(
        "bare",
        series(ref("a"), ref("b")),
        {"a": component(0.999), "b": component(0.999)},
        target=0.99,
    )
    thresholds = derive_gate_thresholds(compiled(spec))
    assert thresholds.leaves == ()
    assert set(thresholds.skipped) == {"a", "b"}


def test_a_journey_without_sli_uses_the_journey_metric_convention() -> None:
    from tests.test_emit_gates_support import compiled, component, journey, ref

    spec = journey("login", ref("auth"), {"auth": component(0.999)}, target=0.99, journey_sli=False)
    gate = derive_gate_thresholds(compiled(spec)).burn_rate
    assert 'journey_requests_total{journey="login",result="success",rollout="canary"}[5m]' in (
        gate.render("5m")
    )
    assert "convention" in gate.note


def test_deriving_twice_gives_equal_gates() -> None:
    assert derive_gate_thresholds(shop()) == derive_gate_thresholds(shop())
    cj = with_latency(healthy(), 0.2, 0.3)
    assert derive_gate_thresholds(cj) == derive_gate_thresholds(dataclasses.replace(cj))


# --- rendering --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(0.3370428844940006, "0.337042", id="six significant digits, rounded down"),
        pytest.param(0.0025083, "0.0025083", id="short values are kept as they are"),
        pytest.param(0.99999999, "0.999999", id="rounding down never reaches the next digit"),
        pytest.param(0.4, "0.4", id="a threshold from the spec reads as written"),
        pytest.param(1.0, "1", id="integers lose their decimal point"),
        pytest.param(0.0, "0", id="zero stays zero"),
    ],
)
def test_threshold_text_never_admits_more_than_derived(value: float, text: str) -> None:
    assert threshold_text(value) == text
    assert float(text) <= value


# --- canary scoping of PromQL -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(
            'sum(rate(x_total{job="a"}[{window}]))',
            'sum(rate(x_total{job="a",rollout="canary"}[{window}]))',
            id="a matcher joins the existing ones",
        ),
        pytest.param(
            "sum(rate(x_total[5m]))",
            'sum(rate(x_total{rollout="canary"}[5m]))',
            id="a bare range selector gains braces",
        ),
        pytest.param("x_total", 'x_total{rollout="canary"}', id="a bare instant selector too"),
        pytest.param(
            'sum by (le) (rate(h_bucket{a="{b}"}[1m]))',
            'sum by (le) (rate(h_bucket{a="{b}",rollout="canary"}[1m]))',
            id="label lists and braces inside strings are left alone",
        ),
        pytest.param(
            'x{rollout="stable"}',
            'x{rollout="stable"}',
            id="a selector already matching on rollout is kept",
        ),
        pytest.param(
            "rate(a[5m] offset 1h) / on(job) group_left b",
            'rate(a{rollout="canary"}[5m] offset 1h) / on(job) group_left b{rollout="canary"}',
            id="offset and vector matching keywords are not metrics",
        ),
        pytest.param(
            '{__name__="up"}',
            '{__name__="up",rollout="canary"}',
            id="a selector without a metric name",
        ),
        pytest.param(
            'x{a="1",} or vector(0)',
            'x{a="1",rollout="canary"} or vector(0)',
            id="a trailing comma is reused",
        ),
    ],
)
def test_with_matcher_scopes_every_selector(query: str, expected: str) -> None:
    assert with_matcher(query) == expected


def test_a_query_without_selectors_cannot_be_scoped() -> None:
    with pytest.raises(QueryScopeError, match="no metric selector"):
        with_matcher("vector(1)")


# --- properties -------------------------------------------------------------------------------

_shop_once = functools.cache(shop)


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=1e-12, max_value=1e3, allow_nan=False))
def test_rendered_thresholds_are_below_and_within_1e_5_of_the_exact_value(value: float) -> None:
    rendered = float(threshold_text(value))
    assert rendered <= value
    assert value - rendered <= value * 1e-5


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=-1.0, max_value=1.0))
def test_any_leaf_budget_gives_its_clamped_sum_and_leaves_other_gates_alone(
    error_ratio: float, headroom: float
) -> None:
    base = _shop_once()
    cj = with_leaf(base, "paya", error_ratio=error_ratio, headroom=headroom)
    gates = {g.subject: g for g in derive_gate_thresholds(cj).gates}
    raw = error_ratio + headroom
    expected = 0.0 if raw <= 1e-12 else min(raw, 1.0)
    assert gates["paya"].threshold == expected
    assert 0.0 <= gates["paya"].threshold <= 1.0
    assert gates["paya"].passable == (expected > 0)
    untouched = {g.subject: g for g in derive_gate_thresholds(base).gates}
    assert {k: v for k, v in gates.items() if k != "paya"} == {
        k: v for k, v in untouched.items() if k != "paya"
    }
