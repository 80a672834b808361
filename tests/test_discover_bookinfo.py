"""Istio's own bookinfo manifests: reviews weights per VirtualService variant, ratings faults."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.compile.pipeline import compile_model, load_models
from bot.discover.commands import run_accept
from bot.spec.delta import BranchWeightsChange, ModelDelta
from bot.spec.models import AcceptedJourneyModel
from bot.spec.precedence import apply_accepted_model
from bot.spec.yamlpos import read_yaml_file
from tests.test_discover_support import (
    BOOKINFO,
    bookinfo_run,
    copy_fixture,
    fixed_clock,
    parser,
)

# Leaf availabilities of fixtures/discovery/bookinfo/spec/bookinfo.yaml.
PRODUCTPAGE = DETAILS = 0.999
REVIEWS = 0.998
RATINGS = 0.995


def journey_pessimistic(weights: tuple[float, float, float], ratings: float = RATINGS) -> float:
    """series(productpage, details, branch(v1, v2→ratings, v3→ratings)): Σ w·A per route."""
    routes = (REVIEWS, REVIEWS * ratings, REVIEWS * ratings)
    return PRODUCTPAGE * DETAILS * sum(w * a for w, a in zip(weights, routes, strict=True))


def branch_change(delta: ModelDelta) -> BranchWeightsChange | None:
    found = [c for c in delta.spec.changes if isinstance(c, BranchWeightsChange)]
    return found[0] if found else None


@pytest.mark.parametrize(
    ("variant", "weights", "flags"),
    [
        pytest.param("virtual-service-reviews-50-v3.yaml", (0.5, 0.0, 0.5), set(),
                     id="50-v3 splits reviews evenly between v1 and v3"),
        pytest.param("virtual-service-reviews-80-20.yaml", (0.8, 0.2, 0.0), set(),
                     id="80-20 sends a fifth of reviews to v2"),
        pytest.param("virtual-service-reviews-90-10.yaml", (0.9, 0.1, 0.0), set(),
                     id="90-10 sends a tenth of reviews to v2"),
        pytest.param("virtual-service-reviews-v2-v3.yaml", (0.0, 0.5, 0.5), set(),
                     id="v2-v3 splits reviews between the two versions that call ratings"),
        pytest.param("virtual-service-reviews-v3.yaml", (0.0, 0.0, 1.0), set(),
                     id="v3 sends every review to v3"),
        pytest.param("virtual-service-reviews-jason-v2-v3.yaml", (0.0, 0.0, 1.0),
                     {"unknown-share:reviews"},
                     id="jason-v2-v3 routes the rest to v3 and flags jason's unknown share"),
        pytest.param("virtual-service-reviews-test-v2.yaml", (1.0, 0.0, 0.0),
                     {"unknown-share:reviews"},
                     id="test-v2 routes the rest to v1 and flags jason's unknown share"),
    ],
)  # fmt: skip
def test_reviews_weights_are_recovered_per_virtual_service_variant(
    variant: str, weights: tuple[float, float, float], flags: set[str]
) -> None:
    run = bookinfo_run(variant)
    (branch,) = run.discovery.branches
    assert branch.item.heads == ("reviews-v1", "reviews-v2", "reviews-v3")
    assert branch.item.weights == pytest.approx(weights, abs=1e-12)
    assert flags <= set(run.delta.spec.confidence.flags)
    assert "unknown-share:reviews" in flags or not any(
        f.startswith("unknown-share") for f in run.delta.spec.confidence.flags
    )
    change = branch_change(run.delta)
    impact = run.delta.spec.predicted_impact
    assert impact is not None
    if weights == (1.0, 0.0, 0.0):
        assert change is None  # the accepted model already routes everything to v1
    else:
        assert change is not None and change.before == [1.0, 0.0, 0.0]
        assert change.after == pytest.approx(list(weights), abs=1e-12)
        assert {p.signal for p in change.provenance} <= {"istio.route.weight", "istio.route"}
        assert all(p.file.endswith(variant) and p.line for p in change.provenance)
    assert impact.after.availability.pessimistic == pytest.approx(
        journey_pessimistic(weights), abs=1e-12
    )


def test_weights_from_config_alone_are_unconfirmed_so_review_is_required() -> None:
    spec = bookinfo_run("virtual-service-reviews-80-20.yaml").delta.spec
    assert spec.confidence.overall == 0.0
    assert "low-coverage" in spec.confidence.flags
    assert spec.predicted_impact is not None
    assert spec.predicted_impact.before.decision == "REVIEW"


def test_istio_default_retries_become_policies_of_the_routed_versions() -> None:
    run = bookinfo_run("virtual-service-reviews-50-v3.yaml")
    policies = {p.item.target: p.item for p in run.discovery.policies}
    assert set(policies) == {"reviews-v1", "reviews-v3"}
    retries = policies["reviews-v1"].retries
    assert retries is not None and retries.attempts == 3  # 2 retries after the first try
    assert "connect-failure" in retries.retry_on


def test_the_ratings_abort_lowers_the_predicted_bounds() -> None:
    run = bookinfo_run(
        "virtual-service-reviews-50-v3.yaml", "virtual-service-ratings-test-abort.yaml"
    )
    impact = run.delta.spec.predicted_impact
    assert impact is not None and impact.under_faults is not None
    faults = impact.under_faults
    assert faults.components == ["ratings"]
    # jason's share is unknown: at worst every ratings call is aborted, and half the
    # requests (v3) need ratings.
    assert faults.availability.pessimistic == pytest.approx(
        journey_pessimistic((0.5, 0.0, 0.5), ratings=0.0), abs=1e-12
    )
    assert faults.availability.pessimistic < impact.after.availability.pessimistic
    assert faults.availability.worst_case < impact.after.availability.worst_case
    assert [(p.file.rsplit("/", 1)[-1], p.line) for p in faults.provenance] == [
        ("virtual-service-ratings-test-abort.yaml", 15)
    ]
    assert "unknown-share:ratings" in run.delta.spec.confidence.flags


def test_a_known_jason_share_makes_the_abort_effect_a_point() -> None:
    run = bookinfo_run(
        "virtual-service-reviews-50-v3.yaml",
        "virtual-service-ratings-test-abort.yaml",
        rule_shares={("ratings", 0): 0.1},
    )
    impact = run.delta.spec.predicted_impact
    assert impact is not None and impact.under_faults is not None
    assert impact.under_faults.availability.pessimistic == pytest.approx(
        journey_pessimistic((0.5, 0.0, 0.5), ratings=RATINGS * 0.9), abs=1e-12
    )


def test_the_ratings_delay_slows_the_journey_but_fails_nothing() -> None:
    run = bookinfo_run(
        "virtual-service-reviews-50-v3.yaml", "virtual-service-ratings-test-delay.yaml"
    )
    impact = run.delta.spec.predicted_impact
    assert impact is not None and impact.under_faults is not None
    faults, after = impact.under_faults, impact.after
    assert faults.availability == after.availability
    assert faults.latency is not None and after.latency is not None
    # Half the requests wait 7 s for ratings: p90 and p99 move past the delay.
    for key in ("p90", "p99"):
        assert faults.latency[key].estimate > 7.0 > after.latency[key].upper
        assert faults.latency[key].upper > after.latency[key].upper


def compiled_with_accepted(journey: Path) -> tuple[float, float]:
    (model,) = load_models([journey / "spec" / "bookinfo.yaml"])
    file = journey / "model" / "accepted.bookinfo.yaml"
    (doc,) = read_yaml_file(file, "accepted.bookinfo.yaml")
    # What the builder does with the accepted model (idempotent if it already did).
    model = apply_accepted_model(model, AcceptedJourneyModel.model_validate(doc.data), doc)
    cj = compile_model(model)
    return cj.availability.optimistic, cj.availability.pessimistic


def test_after_accept_compiling_gives_the_predicted_bookinfo_numbers(tmp_path: Path) -> None:
    journey = copy_fixture("bookinfo", tmp_path)
    run = bookinfo_run("virtual-service-reviews-80-20.yaml", journey_dir=journey)
    delta_file = tmp_path / "delta.bookinfo.yaml"
    delta_file.write_text(run.delta_text, encoding="utf-8")
    accepted = journey / "model" / "accepted.bookinfo.yaml"
    args = parser().parse_args(["accept", str(delta_file), "--accepted", str(accepted)])
    assert run_accept(args, clock=fixed_clock) == 0
    impact = run.delta.spec.predicted_impact
    assert impact is not None
    after = impact.after.availability
    assert compiled_with_accepted(journey) == (after.optimistic, after.pessimistic)
    assert after.pessimistic == pytest.approx(journey_pessimistic((0.8, 0.2, 0.0)), abs=1e-12)
    # The default retries raise only the independence bound.
    assert after.optimistic > after.pessimistic


def test_the_bookinfo_fixture_compiles_with_its_accepted_weights() -> None:
    assert compiled_with_accepted(BOOKINFO)[1] == pytest.approx(
        journey_pessimistic((1.0, 0.0, 0.0)), abs=1e-12
    )
