"""Predicted effect of injected faults: bookinfo's ratings rules lower availability and latency."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.discover.mesh import fault_effects, read_config_dirs

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
NETWORKING = REFERENCE / "istio" / "bookinfo" / "networking"
ABORT = NETWORKING / "virtual-service-ratings-test-abort.yaml"
DELAY = NETWORKING / "virtual-service-ratings-test-delay.yaml"


def uniform_cdf(t: float) -> float:
    """Ratings answering uniformly within 0–100 ms."""
    return min(max(t / 0.1, 0.0), 1.0)


def test_abort_for_an_unknown_share_of_users_spans_total_loss_to_no_loss() -> None:
    effect = fault_effects(read_config_dirs([ABORT]))["ratings"]
    assert effect.availability_factor == (0.0, 1.0)
    low, high = effect.availability(0.999)
    assert low == 0.0 and high == pytest.approx(0.999, abs=1e-15)
    assert effect.delayed_share == (0.0, 0.0)
    assert [s.line for s in effect.sources] == [15]


@pytest.mark.parametrize(
    ("share", "factor"),
    [
        pytest.param(0.1, 0.9, id="jason sending 10% of requests costs ratings 10%"),
        pytest.param(0.0, 1.0, id="no jason traffic leaves ratings untouched"),
        pytest.param(1.0, 0.0, id="only jason traffic fails every ratings call"),
    ],
)
def test_abort_with_a_known_match_share_is_a_point(share: float, factor: float) -> None:
    effect = fault_effects(read_config_dirs([ABORT]), {("ratings", 0): share})["ratings"]
    assert effect.availability_factor == pytest.approx((factor, factor), abs=1e-12)


def test_the_abort_lowers_the_predicted_availability_of_a_ratings_leaf() -> None:
    target = 0.995
    effect = fault_effects(read_config_dirs([ABORT]), {("ratings", 0): 0.02})["ratings"]
    low, high = effect.availability(target)
    assert low == high == pytest.approx(target * 0.98, abs=1e-12)
    assert high < target


def test_delay_slows_an_unknown_share_of_calls_by_seven_seconds() -> None:
    effect = fault_effects(read_config_dirs([DELAY]))["ratings"]
    assert effect.availability_factor == (1.0, 1.0)
    assert effect.delayed_share == (0.0, 1.0)
    assert (effect.min_delay, effect.max_delay) == (7.0, 7.0)
    # Within 1 s: every call without the fault, anywhere from none to all with it.
    assert effect.delayed_cdf(uniform_cdf, 1.0) == (0.0, 1.0)
    # By 7.5 s every delayed call has answered too.
    assert effect.delayed_cdf(uniform_cdf, 7.5) == (1.0, 1.0)


def test_delay_with_a_known_share_lowers_the_cdf_below_the_delay_by_that_share() -> None:
    effect = fault_effects(read_config_dirs([DELAY]), {("ratings", 0): 0.25})["ratings"]
    assert effect.delayed_share == (0.25, 0.25)
    low, high = effect.delayed_cdf(uniform_cdf, 1.0)
    assert low == high == pytest.approx(0.75, abs=1e-12)


def test_competing_variants_give_the_hull_of_their_effects() -> None:
    effect = fault_effects(read_config_dirs([ABORT, DELAY]))["ratings"]
    assert effect.availability_factor == (0.0, 1.0)
    assert effect.delayed_share == (0.0, 1.0)
    assert (effect.min_delay, effect.max_delay) == (7.0, 7.0)
    assert len(effect.sources) == 2


def test_a_host_without_faults_has_no_effect() -> None:
    evidence = read_config_dirs([NETWORKING / "virtual-service-all-v1.yaml"])
    assert fault_effects(evidence) == {}


def test_rule_shares_outside_zero_one_are_refused() -> None:
    with pytest.raises(ValueError, match="rule shares for ratings"):
        fault_effects(read_config_dirs([ABORT]), {("ratings", 0): 1.5})
