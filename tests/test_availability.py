"""Availability semantics per operator, as tabled in DESIGN.md."""

from __future__ import annotations

import pytest

from bot.compile.availability import (
    TimeoutFactor,
    frechet_at_least,
    node_bounds,
    poisson_binomial_at_least,
)
from tests.builders import comp, leaf, op, race, series


def bounds(root, *components, timeouts=None):  # type: ignore[no-untyped-def]
    b = node_bounds(root, {c.name: c for c in components}, timeouts)[root.path]
    return b.optimistic, b.pessimistic, b.worst_case


def test_paper_checkout_expression() -> None:
    root = series(
        leaf("front"),
        op("parallel", leaf("cart"), leaf("pricing")),
        race(leaf("paya"), leaf("payb")),
    )
    o, p, w = bounds(
        root,
        comp("front", 0.9995),
        comp("cart", 0.999),
        comp("pricing", 0.999),
        comp("paya", 0.995, "payment-network"),
        comp("payb", 0.995, "payment-network"),
    )
    assert (round(o, 8), round(p, 8), round(w, 10)) == (0.99747706, 0.99251449, 0.9925)


@pytest.mark.parametrize(
    ("root", "components", "expected"),
    [
        pytest.param(
            race(leaf("a"), leaf("b")),
            [comp("a", 0.9), comp("b", 0.8)],
            (0.98, 0.98, 0.9),
            id="a race of independent providers multiplies failures",
        ),
        pytest.param(
            race(leaf("a"), leaf("b")),
            [comp("a", 0.9, "d"), comp("b", 0.8, "d")],
            (0.98, 0.9, 0.9),
            id="a shared failure domain removes the redundancy gain",
        ),
        pytest.param(
            op("fallback", leaf("a"), leaf("b"), leaf("c")),
            [comp("a", 0.9, "x"), comp("b", 0.8, "x"), comp("c", 0.5)],
            (1 - 0.1 * 0.2 * 0.5, 1 - 0.1 * 0.5, 0.9),
            id="fallback groups sharing alternatives and combines groups independently",
        ),
        pytest.param(
            op("retry", leaf("a"), attempts=3),
            [comp("a", 0.9)],
            (1 - 0.1**3, 0.9, 0.9),
            id="retry helps only under independence",
        ),
        pytest.param(
            op("retry", leaf("a"), attempts=2, retriable_share=0.5),
            [comp("a", 0.9)],
            (0.9 + 0.1 * 0.5 * 0.9, 0.9, 0.9),
            id="retry with a retriable share retries only that share of failures",
        ),
        pytest.param(
            op("quorum", leaf("a"), leaf("b"), leaf("c"), required=2),
            [comp("a", 0.9), comp("b", 0.9), comp("c", 0.9)],
            (0.972, 0.972, 0.85),
            id="2-of-3 quorum: Poisson binomial vs Fréchet",
        ),
        pytest.param(
            op("quorum", leaf("a"), leaf("b"), leaf("c"), required=2),
            [comp("a", 0.9, "z"), comp("b", 0.9, "z"), comp("c", 0.9)],
            (0.972, 0.85, 0.85),
            id="a quorum whose members share a zone gets Fréchet",
        ),
        pytest.param(
            op("branch", leaf("a"), leaf("b"), weights=(0.25, 0.75)),
            [comp("a", 0.8), comp("b", 0.96)],
            (0.92, 0.92, 0.92),
            id="a weighted branch mixes availabilities",
        ),
        pytest.param(
            series(leaf("a"), op("optional", leaf("b")), op("async", leaf("c"))),
            [comp("a", 0.99), comp("b", 0.5), comp("c", 0.1)],
            (0.99, 0.99, 0.99),
            id="optional and async steps never fail the journey",
        ),
        pytest.param(
            series(leaf("a"), leaf("a")),
            [comp("a", 0.9)],
            (0.9, 0.9, 0.9),
            id="a component called twice is one random variable",
        ),
        pytest.param(
            race(series(leaf("db"), leaf("a")), series(leaf("db"), leaf("b"))),
            [comp("db", 0.9), comp("a", 0.8), comp("b", 0.8)],
            (0.9 * 0.96, 0.72, 0.7),
            id="alternatives through one database are conditioned on its state",
        ),
    ],
)
def test_operator_semantics(root, components, expected) -> None:  # type: ignore[no-untyped-def]
    assert bounds(root, *components) == pytest.approx(expected, abs=1e-12)


def test_timeouts_turn_the_latency_tail_into_failures() -> None:
    root = series(leaf("a", timeout=0.3))
    factors = {root.children[0].path: TimeoutFactor(estimate=0.98, lower=0.97)}
    o, p, w = bounds(root, comp("a", 0.99), timeouts=factors)
    assert o == pytest.approx(0.99 * 0.98)
    assert p == pytest.approx(0.99 * 0.97)
    assert w == pytest.approx(0.99 + 0.97 - 1)


def test_per_try_timeouts_apply_to_every_attempt() -> None:
    root = op("retry", leaf("a"), attempts=2, timeout=0.2)
    factors = {root.path: TimeoutFactor(estimate=0.9, lower=0.9)}
    o, p, _ = bounds(root, comp("a", 0.99), timeouts=factors)
    per_try = 0.99 * 0.9
    assert o == pytest.approx(1 - (1 - per_try) ** 2)
    assert p == pytest.approx(per_try)


@pytest.mark.parametrize(
    ("probs", "k", "expected"),
    [
        pytest.param([0.9, 0.8], 1, 0.9, id="k=1 is the best member"),
        pytest.param([0.9, 0.8], 2, 0.7, id="k=n is 1 minus the summed failures"),
        pytest.param([0.99, 0.99, 0.5], 2, 0.98, id="a weak member is better left out"),
    ],
)
def test_frechet_quorum_bound(probs: list[float], k: int, expected: float) -> None:
    assert frechet_at_least(probs, k) == pytest.approx(expected)


def test_poisson_binomial_matches_enumeration() -> None:
    probs = [0.9, 0.7, 0.6, 0.95]
    import itertools

    exact = 0.0
    for states in itertools.product((0, 1), repeat=4):
        w = 1.0
        for s, p in zip(states, probs, strict=True):
            w *= p if s else 1 - p
        if sum(states) >= 3:
            exact += w
    assert poisson_binomial_at_least(probs, 3) == pytest.approx(exact, abs=1e-15)
