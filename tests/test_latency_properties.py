"""Latency engine against a seeded Monte Carlo: fixed journeys at 10^6 samples, random trees."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.compile.latency import compile_latency
from bot.compile.latency_mc import simulate_latency
from bot.spec.domain import ComponentModel, Node
from tests.builders import leaf, op
from tests.test_latency_support import Q, component, interval, percentiles

SERVICES = {
    "front": component("front", 0.9995, percentiles({0.5: 0.02, 0.9: 0.05, 0.99: 0.1}, 0.2)),
    "cart": component("cart", 0.999, percentiles({0.5: 0.03, 0.9: 0.06, 0.99: 0.12}, 0.25)),
    "pricing": component("pricing", 0.999, percentiles({0.5: 0.01, 0.9: 0.04, 0.99: 0.08}, 0.15)),
    "paya": component("paya", 0.995, percentiles({0.5: 0.05, 0.9: 0.1, 0.99: 0.2}, 0.4)),
    "payb": component("payb", 0.995, percentiles({0.5: 0.06, 0.9: 0.12, 0.99: 0.25}, 0.5)),
}

FIXED = [
    pytest.param(
        op(
            "series",
            leaf("front"),
            op("parallel", leaf("cart"), leaf("pricing")),
            op("race", leaf("paya"), leaf("payb")),
        ),
        id="the paper's checkout shape with latency evidence",
    ),
    pytest.param(
        op("series", leaf("front"), op("race", leaf("paya"), leaf("payb"), hedge_delay=0.1)),
        id="a hedged payment race behind the front end",
    ),
    pytest.param(
        op("series", leaf("front"), op("retry", leaf("paya"), attempts=3, timeout=0.15)),
        id="retries cut at a per-try timeout",
    ),
    pytest.param(
        op(
            "fallback",
            op("series", leaf("cart"), leaf("paya", timeout=0.2)),
            leaf("payb"),
            timeout=0.3,
        ),
        id="a fallback from a two-step path with its own timeouts",
    ),
    pytest.param(
        op(
            "branch",
            leaf("front"),
            op("quorum", leaf("cart"), leaf("paya"), leaf("payb"), required=2),
            weights=(0.7, 0.3),
        ),
        id="a weighted branch into a two-of-three quorum",
    ),
]


@pytest.mark.parametrize("root", FIXED)
def test_estimate_matches_a_million_sample_monte_carlo(root: Node) -> None:
    result = compile_latency(root, SERVICES, Q)
    assert result is not None
    rng = np.random.default_rng(20240601)
    independent = simulate_latency(root, SERVICES, 10**6, rng)
    comonotone = simulate_latency(root, SERVICES, 10**6, rng, coupling="comonotone")
    for key, q in Q.items():
        bound = result[key]
        lo, hi = interval(independent, q)
        # Within 1% of the Monte Carlo quantile, whose own uncertainty is the interval above
        # (at 10^6 samples about ±0.1% at p50, up to ±1% at p999 where samples are few).
        assert 0.99 * lo <= bound.estimate <= 1.01 * hi, (key, bound, lo, hi)
        assert bound.bracket[0] <= hi and bound.bracket[1] >= lo, (key, bound, lo, hi)
        for samples in (independent, comonotone):
            assert bound.upper >= interval(samples, q)[0], (key, bound)


# --- random trees -------------------------------------------------------------------------------

NAMES = ("a", "b", "c")


@st.composite
def components(draw: st.DrawFn) -> dict[str, ComponentModel]:
    out = {}
    for name in NAMES:
        median = draw(st.floats(0.005, 0.05))
        p90 = median * draw(st.floats(1.2, 3.0))
        p99 = p90 * draw(st.floats(1.1, 3.0))
        top = p99 * draw(st.floats(1.05, 2.0))
        curve = percentiles({0.5: median, 0.9: p90, 0.99: p99}, top)
        out[name] = component(name, draw(st.floats(0.9, 1.0)), curve)
    return out


# Timeouts come from values that no sum of the others hits: an atom exactly at a timeout (an
# optional attempt cut again at the same τ, say) is decided by ≤ on the grid's rounding, so the
# bracket soundly spans both outcomes and its midpoint says little there.
LEAF_TIMEOUTS = [None, None, 0.041, 0.103]
FALLBACK_TIMEOUTS = [None, 0.0473, 0.157]
RETRY_TIMEOUTS = [0.0619, 0.0731, 0.0887, 0.0953, 0.1049]  # one per depth: nested retries differ


def trees(depth: int) -> st.SearchStrategy[Node]:
    leaves = st.builds(leaf, st.sampled_from(NAMES), st.sampled_from(LEAF_TIMEOUTS))
    if depth == 0:
        return leaves
    sub = trees(depth - 1)
    kids = st.lists(sub, min_size=2, max_size=3)
    return st.one_of(
        leaves,
        kids.map(lambda c: op("series", *c)),
        kids.map(lambda c: op("parallel", *c)),
        st.builds(lambda c, d: op("race", *c, hedge_delay=d), kids, st.sampled_from([0.0, 0.02])),
        st.builds(
            lambda c, t: op("fallback", *c, timeout=t), kids, st.sampled_from(FALLBACK_TIMEOUTS)
        ),
        st.builds(
            lambda c, n, t, r: op("retry", c, attempts=n, timeout=t, retriable_share=r),
            sub,
            st.integers(1, 3),
            st.sampled_from([None, RETRY_TIMEOUTS[depth]]),
            st.sampled_from([None, 0.5]),
        ),
        kids.flatmap(
            lambda c: st.lists(st.floats(0.1, 1.0), min_size=len(c), max_size=len(c)).map(
                lambda w: op("branch", *c, weights=tuple(x / sum(w) for x in w))
            )
        ),
        kids.flatmap(lambda c: st.integers(1, len(c)).map(lambda k: op("quorum", *c, required=k))),
        sub.map(lambda c: op("optional", c)),
        sub.map(lambda c: op("async", c)),
    )


# Fewer samples keep each example fast; the tolerance follows from the sample size through
# `interval` (a 5-sigma, distribution-free band on the quantile's rank), so a failure means the
# engine, not sampling noise. The estimate must still be within 1% of that band, plus a tenth of
# a millisecond for quantiles that sit on zero-latency atoms (async, instant answers).
SAMPLES = 60_000
ABSOLUTE = 1e-4


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(comps=components(), root=trees(3), seed=st.integers(0, 2**32 - 1))
def test_random_trees_agree_with_monte_carlo(
    comps: dict[str, ComponentModel], root: Node, seed: int
) -> None:
    result = compile_latency(root, comps, Q)
    assert result is not None
    rng = np.random.default_rng(seed)
    independent = simulate_latency(root, comps, SAMPLES, rng)
    comonotone = simulate_latency(root, comps, SAMPLES, rng, coupling="comonotone")
    if min(len(independent), len(comonotone)) < 2_000:  # journeys that almost never succeed
        return
    previous = None
    for key, q in Q.items():
        bound = result[key]
        assert bound.bracket[0] <= bound.estimate <= bound.bracket[1] <= bound.upper
        if previous is not None:
            assert previous.bracket[0] <= bound.bracket[0] and previous.upper <= bound.upper
        previous = bound
        lo, hi = interval(independent, q)
        assert bound.bracket[0] <= hi and bound.bracket[1] >= lo, (key, bound, lo, hi)
        assert 0.99 * lo - ABSOLUTE <= bound.estimate <= 1.01 * hi + ABSOLUTE, (key, bound, lo, hi)
        assert bound.upper >= interval(comonotone, q)[0], (key, bound)
        assert bound.upper >= lo, (key, bound)
