"""Latency engine: closed forms, success conditioning, timeouts and the any-dependence bound."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from bot.compile.latency import TimeoutFactor, compile_latency, timeout_factors
from bot.compile.latency_grid import Knots
from bot.spec.domain import ComponentModel, Node
from tests.builders import leaf, op
from tests.test_latency_support import Q, component, exponential, percentiles, uniform

UNIT = {"u": component("u", 1.0, uniform(0.0, 1.0)), "v": component("v", 1.0, uniform(0.0, 1.0))}


def _triangle(q: float) -> float:
    """Quantile of U(0,1) + U(0,1)."""
    return math.sqrt(2 * q) if q <= 0.5 else 2.0 - math.sqrt(2 * (1.0 - q))


def _exp_inverse(curve_components: dict[str, ComponentModel], p: float) -> float:
    """Exact quantile of the piecewise-linear exponential curve of component e."""
    latency = curve_components["e"].latency
    assert latency is not None
    return float(Knots.of(latency).quantiles(np.array([p]))[0])


EXP = {"e": component("e", 1.0, exponential(1.0))}


def _contains(bracket: tuple[float, float], value: float, slack: float = 1e-12) -> bool:
    return bracket[0] - slack <= value <= bracket[1] + slack


CLOSED_FORMS: list[object] = [
    pytest.param(
        op("series", leaf("u"), leaf("v")),
        UNIT,
        _triangle,
        id="a series of two uniforms has the triangular sum's quantiles",
    ),
    pytest.param(
        op("parallel", leaf("u"), leaf("v")),
        UNIT,
        math.sqrt,
        id="a parallel join of two uniforms takes the maximum",
    ),
    pytest.param(
        op("race", leaf("u"), leaf("v")),
        UNIT,
        lambda q: 1.0 - math.sqrt(1.0 - q),
        id="a race of two uniforms takes the minimum",
    ),
    pytest.param(
        op("race", leaf("u"), leaf("v"), hedge_delay=0.5),
        UNIT,
        lambda q: q if q <= 0.5 else (2.5 - math.sqrt(6.25 - 4 * (1.5 - (1.0 - q)))) / 2,
        id="a hedge sent after half a second races min(T1, 0.5 + T2)",
    ),
    pytest.param(
        op("branch", leaf("u"), op("series", leaf("u"), leaf("v")), weights=(0.5, 0.5)),
        {"u": component("u", 1.0, uniform(0.0, 1.0)), "v": component("v", 1.0, uniform(1.0, 1.0))},
        lambda q: 2 * q if q <= 0.5 else 1.0 + 2 * (q - 0.5),
        id="a branch mixes its routes' laws, never their quantiles",
    ),
    pytest.param(
        op("quorum", leaf("u"), leaf("u"), leaf("u"), required=2),
        UNIT,
        lambda q: _bisect(lambda t: 3 * t**2 - 2 * t**3, q),
        id="a two-of-three quorum answers at the second response",
    ),
    pytest.param(
        op("parallel", leaf("e"), leaf("e")),
        EXP,
        lambda q: _exp_inverse(EXP, math.sqrt(q)),
        id="the maximum of two exponentials matches F(t)^2 = q",
    ),
    pytest.param(
        op("race", leaf("e"), leaf("e")),
        EXP,
        lambda q: _exp_inverse(EXP, 1.0 - math.sqrt(1.0 - q)),
        id="the minimum of two exponentials matches 1 - (1 - F(t))^2 = q",
    ),
]


def _bisect(cdf: Callable[[float], float], q: float, lo: float = 0.0, hi: float = 1.0) -> float:
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < q else (lo, mid)
    return (lo + hi) / 2


@pytest.mark.parametrize(("root", "components", "exact"), CLOSED_FORMS)
def test_grid_bracket_contains_the_closed_form(
    root: Node, components: dict[str, ComponentModel], exact: Callable[[float], float]
) -> None:
    result = compile_latency(root, components, Q)
    assert result is not None
    for key, q in Q.items():
        bound = result[key]
        truth = exact(q)
        assert _contains(bound.bracket, truth), (key, bound, truth)
        assert bound.estimate == pytest.approx(truth, rel=0.005, abs=1e-3), (key, bound, truth)
        assert bound.bracket[0] <= bound.estimate <= bound.bracket[1] <= bound.upper


def test_exponential_curves_reproduce_the_textbook_quantiles() -> None:
    result = compile_latency(op("race", leaf("e"), leaf("e")), EXP, Q)
    assert result is not None
    # min of two Exp(1) is Exp(2); max has F(t) = (1 - e^-t)^2.
    assert result["p99"].estimate == pytest.approx(math.log(100) / 2, rel=2e-3)
    both = compile_latency(op("parallel", leaf("e"), leaf("e")), EXP, Q)
    assert both is not None
    assert both["p99"].estimate == pytest.approx(-math.log(1 - math.sqrt(0.99)), rel=2e-3)


@pytest.mark.parametrize("points", [64, 512, 4096], ids=lambda n: f"{n} grid points")
def test_bracket_stays_sound_on_coarse_grids(points: int) -> None:
    root = op("series", leaf("u"), op("parallel", leaf("u"), leaf("v")), leaf("v"))
    result = compile_latency(root, UNIT, Q, grid_points=points)
    assert result is not None
    # U + max(U, V) + V: CDF by numerical convolution of the exact densities.
    exact = {q: _bisect(_sum_with_max_cdf, q, 0.0, 3.0) for q in Q.values()}
    for key, q in Q.items():
        assert _contains(result[key].bracket, exact[q], slack=1e-4), (points, key, result[key])


def _sum_with_max_cdf(t: float, steps: int = 3000) -> float:
    """P(U + M + V ≤ t) with M = max of two uniforms (density 2m), by the midpoint rule."""
    total = 0.0
    for i in range(steps):
        m = (i + 0.5) / steps
        total += 2 * m * _triangle_cdf(t - m) / steps
    return total


def _triangle_cdf(s: float) -> float:
    if s <= 0:
        return 0.0
    if s <= 1:
        return s * s / 2
    if s <= 2:
        return 1.0 - (2 - s) ** 2 / 2
    return 1.0


# --- success conditioning and timeouts ------------------------------------------------------------


def test_race_reports_the_first_successful_response() -> None:
    # fast fails half the time; then the slow branch answers: half U(0,1), half U(1,2).
    comps = {
        "fast": component("fast", 0.5, uniform(0.0, 1.0)),
        "slow": component("slow", 1.0, uniform(1.0, 2.0)),
    }
    result = compile_latency(op("race", leaf("fast"), leaf("slow")), comps, {"p90": 0.9})
    assert result is not None
    assert _contains(result["p90"].bracket, 1.8)


def test_retry_counts_the_failed_tries_cut_at_the_per_try_timeout() -> None:
    # U(0,1) cut at 0.5: the first try succeeds half the time (U(0,0.5)); else a 0.5 s timeout
    # and a second try, successful half the time: conditionally 2/3 U(0,0.5) + 1/3 U(0.5,1).
    root = op("retry", leaf("u"), attempts=2, timeout=0.5)
    result = compile_latency(root, UNIT, {"p50": 0.5, "p90": 0.9})
    assert result is not None
    assert _contains(result["p50"].bracket, 0.375)
    assert _contains(result["p90"].bracket, 0.85)


def test_fallback_runs_alternatives_until_one_succeeds() -> None:
    # primary always fails after U(0,1); backup answers in U(0,1): the sum of two uniforms.
    comps = {
        "primary": component("primary", 0.0, uniform(0.0, 1.0)),
        "backup": component("backup", 1.0, uniform(0.0, 1.0)),
    }
    result = compile_latency(op("fallback", leaf("primary"), leaf("backup")), comps, Q)
    assert result is not None
    for key, q in Q.items():
        assert _contains(result[key].bracket, _triangle(q)), key


def test_non_retriable_failures_are_not_retried() -> None:
    # Only a retried failure adds time: with nothing retriable the journey is one try.
    comps = {"u": component("u", 0.5, uniform(0.0, 1.0), retriable_share=0.0)}
    result = compile_latency(op("retry", leaf("u"), attempts=3), comps, {"p90": 0.9})
    assert result is not None
    assert _contains(result["p90"].bracket, 0.9)


def test_optional_counts_latency_and_async_counts_none() -> None:
    comps = {
        "u": component("u", 0.3, uniform(0.0, 1.0)),
        "v": component("v", 1.0, uniform(0, 1)),
        "slow": component("slow", 1.0, uniform(5.0, 10.0)),
    }
    root = op("series", op("optional", leaf("u")), leaf("v"), op("async", leaf("slow")))
    result = compile_latency(root, comps, Q)
    assert result is not None
    for key, q in Q.items():
        assert _contains(result[key].bracket, _triangle(q)), key


def test_leaf_without_evidence_answers_instantly() -> None:
    comps = {"u": UNIT["u"], "blind": component("blind", 1.0)}
    result = compile_latency(op("series", leaf("u"), leaf("blind")), comps, {"p90": 0.9})
    assert result is not None
    assert _contains(result["p90"].bracket, 0.9)


def test_no_latency_evidence_anywhere_gives_none() -> None:
    comps = {"a": component("a"), "b": component("b")}
    assert compile_latency(op("series", leaf("a"), leaf("b")), comps, Q) is None


def test_timeout_factors_cover_leaf_retry_and_fallback_timeouts() -> None:
    own = leaf("u", timeout=0.25)
    retry = op("retry", leaf("u"), attempts=2, timeout=0.5)
    fallback = op("fallback", op("series", leaf("u"), leaf("v")), leaf("v"), timeout=1.0)
    blind = op("retry", leaf("blind"), attempts=2, timeout=0.1)
    comps = {**UNIT, "blind": component("blind", 0.9)}
    factors = timeout_factors(op("series", own, retry, fallback, blind), comps)
    assert factors[own.path] == TimeoutFactor(0.25, 0.25)
    assert factors[retry.path] == TimeoutFactor(0.5, 0.5)
    # The sum of two uniforms is below 1 half the time; any dependence: U + (1 - U) = 1 only.
    assert factors[f"{fallback.path}#0"].estimate == pytest.approx(0.5, abs=2e-3)
    assert factors[f"{fallback.path}#0"].lower == pytest.approx(0.0, abs=1e-9)
    assert factors[f"{fallback.path}#1"] == TimeoutFactor(1.0, 1.0)
    assert factors[blind.path] == TimeoutFactor(1.0, 1.0), "no evidence: the timeout never fires"


# --- any dependence -------------------------------------------------------------------------------


def test_upper_for_a_sum_is_makarovs_bound_not_the_sum_of_quantiles() -> None:
    result = compile_latency(op("series", leaf("u"), leaf("v")), UNIT, {"p99": 0.99})
    assert result is not None
    # The worst coupling puts the two 1% tails apart: P(U + V ≤ t) ≥ t − 1, so p99 is 1.99;
    # adding the two p99s (1.98) would understate it.
    assert result["p99"].upper == pytest.approx(1.99, abs=1e-9)
    assert result["p99"].upper > 0.99 + 0.99


def test_upper_for_a_join_is_frechets_bound() -> None:
    result = compile_latency(op("parallel", leaf("u"), leaf("v")), UNIT, {"p90": 0.9})
    assert result is not None
    # P(max ≤ t) ≥ 2t − 1: p90 is 0.95. Members' bounds are kept at miss probabilities 12%
    # apart, so the join may come out looser by that much of each member's 5% miss.
    assert 0.95 <= result["p90"].upper <= 0.95 + 0.12 * 0.05


def test_upper_never_below_the_independence_bracket() -> None:
    comps = {
        "a": component("a", 0.999, percentiles({0.5: 0.02, 0.99: 0.1}, 0.2)),
        "b": component("b", 0.99, percentiles({0.5: 0.05, 0.99: 0.3}, 0.6)),
    }
    root = op(
        "series",
        leaf("a"),
        op("race", leaf("b"), leaf("b"), hedge_delay=0.05),
        op("retry", leaf("a"), attempts=3, timeout=0.08),
    )
    result = compile_latency(root, comps, Q)
    assert result is not None
    for bound in result.values():
        assert bound.bracket[1] <= bound.upper
    assert [b.upper for b in result.values()] == sorted(b.upper for b in result.values())


def test_blind_subtrees_under_timeouts_and_hedges_compile() -> None:
    # Huge delays and timeouts over zero-latency leaves must neither overflow nor fire.
    comps = {**UNIT, "blind": component("blind", 0.9)}
    root = op(
        "series",
        leaf("u"),
        op("retry", op("series", leaf("blind"), leaf("blind")), attempts=2, timeout=1e6),
        op("race", leaf("blind"), leaf("blind"), hedge_delay=1e3),
    )
    result = compile_latency(root, comps, {"p50": 0.5, "p995": 0.995})
    assert result is not None
    assert set(result) == {"p50", "p995"}
    # The race waits for its hedge only when the first branch fails (10%): p50 is U's.
    assert _contains(result["p50"].bracket, 0.5, slack=1e3 / 4096)
