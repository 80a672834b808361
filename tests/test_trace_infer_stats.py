"""Wilson intervals and Beta posteriors behind every trace-derived share."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.discover.stats import (
    BetaPosterior,
    regularized_incomplete_beta,
    wilson_interval,
    wilson_lower,
)


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        # Reference values: Wilson (1927) score interval at z = 1.959964.
        pytest.param(3, 10, 0.1077913, 0.6032219, id="three of ten"),
        pytest.param(0, 10, 0.0, 0.2775328, id="none of ten reaches zero exactly"),
        pytest.param(10, 10, 0.7224672, 1.0, id="all of ten reaches one exactly"),
        pytest.param(1, 1, 0.2065493, 1.0, id="one trace alone is weak evidence"),
        pytest.param(60, 60, 0.9398281, 1.0, id="sixty of sixty"),
        pytest.param(500, 1000, 0.4690696, 0.5309304, id="half of a thousand is symmetric"),
    ],
)
def test_wilson_interval_reference_values(
    successes: int, trials: int, low: float, high: float
) -> None:
    share = wilson_interval(successes, trials)
    assert share.low == pytest.approx(low, abs=1e-6)
    assert share.high == pytest.approx(high, abs=1e-6)
    assert wilson_lower(successes, trials) == share.low


def test_no_trials_says_nothing() -> None:
    share = wilson_interval(0, 0)
    assert (share.low, share.high, share.point) == (0.0, 1.0, 0.0)


def test_impossible_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="successes <= trials"):
        wilson_interval(5, 4)


@given(st.integers(0, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_holds_the_observed_share(counts: tuple[int, int]) -> None:
    successes, trials = counts
    share = wilson_interval(successes, trials)
    assert 0.0 <= share.low <= share.point <= share.high <= 1.0


@pytest.mark.parametrize(
    ("a", "b", "x", "expected"),
    [
        # Reference values of the regularized incomplete beta function I_x(a, b).
        pytest.param(1.0, 1.0, 0.3, 0.3, id="uniform cdf is the identity"),
        pytest.param(2.0, 3.0, 0.4, 0.5248, id="beta(2,3) at 0.4"),
        pytest.param(0.5, 0.5, 0.5, 0.5, id="jeffreys prior is symmetric"),
        pytest.param(3.5, 7.5, 0.3, 0.4807486, id="beta(3.5,7.5) at 0.3"),
    ],
)
def test_incomplete_beta_reference_values(a: float, b: float, x: float, expected: float) -> None:
    assert regularized_incomplete_beta(a, b, x) == pytest.approx(expected, abs=1e-6)


def test_beta_posterior_after_observations() -> None:
    posterior = BetaPosterior.observe(3, 10)  # Jeffreys prior Beta(½, ½)
    assert (posterior.alpha, posterior.beta) == (3.5, 7.5)
    assert posterior.mean == pytest.approx(3.5 / 11)
    low, high = posterior.interval(0.95)
    # The Jeffreys interval for 3/10.
    assert low == pytest.approx(0.0926946, abs=1e-6)
    assert high == pytest.approx(0.6058183, abs=1e-6)
    assert posterior.cdf(posterior.quantile(0.25)) == pytest.approx(0.25, abs=1e-9)
