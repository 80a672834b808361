"""Action guards: allowed / blocked / needs-review per action, with the conditions behind it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.compile.pipeline import compile_paths
from bot.compile.result import CompiledJourney
from bot.emit.guard_document import action_guard
from bot.emit.guards import DEFAULT_ACTIONS, UnknownActionError, evaluate_guard
from bot.spec.domain import Node
from bot.spec.guard import ActionGuard
from tests.test_emit_gates_support import (
    compiled,
    component,
    fallback,
    healthy,
    journey,
    ref,
    retry,
    series,
    shop,
)


def _verdicts(cj: CompiledJourney) -> dict[str, str]:
    return {a: evaluate_guard(cj, a).verdict for a in DEFAULT_ACTIONS}


def test_paper_checkout_blocks_every_default_action(paper_checkout: Path) -> None:
    (cj,) = compile_paths([paper_checkout])
    verdicts = {a: evaluate_guard(cj, a) for a in DEFAULT_ACTIONS}
    assert {a: v.verdict for a, v in verdicts.items()} == dict.fromkeys(DEFAULT_ACTIONS, "blocked")
    assert {v.exit_code for v in verdicts.values()} == {1}
    assert verdicts["promote-canary"].reason == "not decision == PASS (observed FAIL)"
    # The payment race gives no gain under the pessimistic bound: dropping payb costs nothing,
    # and the journey is already below target.
    (reduced,) = [
        c for c in verdicts["disable-redundancy"].conditions if c.check.startswith("reduced:")
    ]
    assert reduced.observed == pytest.approx(0.99251449, abs=1e-8)
    assert not reduced.holds


def test_a_passing_journey_allows_every_default_action() -> None:
    cj = healthy()
    assert cj.decision == "PASS"
    assert _verdicts(cj) == dict.fromkeys(DEFAULT_ACTIONS, "allowed")
    assert evaluate_guard(cj, "promote-canary").exit_code == 0


def test_disable_redundancy_uses_a_lower_bound_from_the_node_bounds() -> None:
    cj = healthy()
    verdict = evaluate_guard(cj, "disable-redundancy")
    reduced = next(c for c in verdict.conditions if c.check.startswith("reduced:"))
    # 0.999 · (1 − 0.005²) minus the group's loss 0.999975 − 0.995: 0.994000025 ≥ 0.99.
    assert reduced.observed == pytest.approx(0.998975025 - 0.004975, abs=1e-12)
    # The exact product 0.999 · 0.995 = 0.994005 is never below the lower bound.
    assert isinstance(reduced.observed, float) and reduced.observed <= 0.999 * 0.995
    assert reduced.holds


@pytest.mark.parametrize(
    ("target", "verdict", "label"),
    [
        pytest.param(
            None,
            "blocked",
            "fallback(db,replica) with only db",
            id="no target keeps each group's first alternative",
        ),
        pytest.param(
            "replica",
            "blocked",
            "fallback(db,replica) without replica",
            id="a component target drops that alternative",
        ),
        pytest.param(
            "fallback(db,replica)",
            "blocked",
            "fallback(db,replica) with only db",
            id="a group named by its label keeps its first alternative",
        ),
        pytest.param(
            "spec.operator.steps[1]",
            "blocked",
            "fallback(db,replica) with only db",
            id="a group named by its spec path too",
        ),
    ],
)
def test_disabling_redundancy_that_carries_the_target_is_blocked(
    target: str | None, verdict: str, label: str
) -> None:
    # 0.995 target: with the fallback 0.998975 passes, db alone (≥ 0.994) does not.
    actions = [{"name": "drop-replica", "kind": "disable-redundancy", "target": target}]
    cj = healthy(
        target=0.995, actions=[{k: v for k, v in a.items() if v is not None} for a in actions]
    )
    result = evaluate_guard(cj, "drop-replica")
    assert result.verdict == verdict
    assert label in result.reason


def test_an_unknown_redundancy_target_needs_review_with_a_suggestion() -> None:
    cj = healthy(actions=[{"name": "disable-redundancy", "target": "replika"}])
    result = evaluate_guard(cj, "disable-redundancy")
    assert result.verdict == "needs-review"
    assert result.exit_code == 3
    assert 'did you mean "replica"?' in result.reason


def test_failover_checks_the_destination_serving_alone() -> None:
    cj = healthy(target=0.995, actions=[{"name": "failover", "target": "replica"}])
    result = evaluate_guard(cj, "failover")
    assert result.verdict == "blocked"
    assert "fallback(db,replica) served by replica alone" in result.reason


def test_a_retry_dropped_to_one_attempt_is_checked_under_optimistic_gating() -> None:
    spec = journey(
        "pay",
        series(retry(ref("api"), 3)),
        {"api": component(0.99)},
        target=0.995,
        gating="optimistic",
    )
    cj = compiled(spec)
    assert cj.decision == "PASS"  # 1 − 0.01³ ≥ 0.995
    result = evaluate_guard(cj, "disable-redundancy")
    assert result.verdict == "blocked"
    assert "with a single attempt" in result.reason
    assert "(observed 0.99)" in result.reason


def test_a_component_also_used_outside_the_group_needs_review() -> None:
    spec = journey(
        "cache",
        series(ref("cache"), fallback(ref("db"), ref("cache"))),
        {"cache": component(0.9999), "db": component(0.9999)},
        target=0.99,
    )
    result = evaluate_guard(compiled(spec), "disable-redundancy")
    assert result.verdict == "needs-review"
    isolated = next(c for c in result.conditions if c.check.startswith("isolated:"))
    assert (isolated.observed, isolated.holds) == ("cache", False)


def test_a_supplied_rebound_replaces_the_node_bound_estimate() -> None:
    calls: list[tuple[str, tuple[int, ...]]] = []

    def rebound(group: Node, kept: tuple[int, ...]) -> float:
        calls.append((group.label, kept))
        return 0.5

    cj = healthy(actions=[{"name": "disable-redundancy", "target": "replica"}])
    from bot.emit.guards import evaluate_action

    result = evaluate_action(cj, cj.model.governance.actions[0], rebound)
    assert calls == [("fallback(db,replica)", (0,))]
    assert result.verdict == "blocked"
    assert not any(c.check.startswith("isolated:") for c in result.conditions)
    assert "lower bound" not in result.reason


@pytest.mark.parametrize(
    ("changes", "verdict"),
    [
        pytest.param(
            {"confidence": 0.5},
            "needs-review",
            id="confidence below autoAcceptConfidence sends a passing journey to review",
        ),
        pytest.param({"confidence": 0.9}, "allowed", id="confidence above it does not"),
        pytest.param(
            {"flags": ["incomplete coverage"]},
            "needs-review",
            id="a raised evidence flag sends it to review",
        ),
        pytest.param({"decision": "REVIEW"}, "needs-review", id="a REVIEW decision needs review"),
        pytest.param(
            {"decision": "FAIL", "confidence": 0.5}, "blocked", id="blocked wins over needs-review"
        ),
    ],
)
def test_promote_canary_follows_decision_and_evidence(
    changes: dict[str, Any], verdict: str
) -> None:
    cj = dataclasses.replace(healthy(), **changes)
    assert evaluate_guard(cj, "promote-canary").verdict == verdict


@pytest.mark.parametrize(
    ("build", "target", "verdict"),
    [
        pytest.param(healthy, "api", "allowed", id="scale-down of a leaf with headroom"),
        pytest.param(shop, "front", "blocked", id="scale-down of a leaf without headroom"),
        pytest.param(shop, "frnt", "needs-review", id="scale-down of an unknown component"),
    ],
)
def test_scale_down_follows_the_targets_headroom(build: Any, target: str, verdict: str) -> None:
    cj = build(actions=[{"name": "scale-down", "target": target}])
    assert evaluate_guard(cj, "scale-down").verdict == verdict


def test_shift_traffic_to_a_leaf_without_headroom_is_blocked() -> None:
    cj = dataclasses.replace(
        shop(actions=[{"name": "shift-traffic", "target": "paya"}]), decision="PASS"
    )
    result = evaluate_guard(cj, "shift-traffic")
    assert result.verdict == "blocked"
    assert result.reason.startswith("not headroom of paya > 0")


@pytest.mark.parametrize(
    ("requires", "build", "verdict"),
    [
        pytest.param(
            [], healthy, "needs-review", id="a custom action without requirements needs review"
        ),
        pytest.param(
            ["decision-pass", "headroom:api"],
            healthy,
            "allowed",
            id="a custom action whose requirements hold is allowed",
        ),
        pytest.param(
            ["meets-target:worstCase"],
            shop,
            "blocked",
            id="a custom action whose bound requirement fails is blocked",
        ),
        pytest.param(
            ["decison-pass"], healthy, "needs-review", id="an unknown requirement needs review"
        ),
    ],
)
def test_custom_actions_are_decided_by_their_requirements(
    requires: list[str], build: Any, verdict: str
) -> None:
    cj = build(actions=[{"name": "restart-pods", "kind": "restart", "requires": requires}])
    result = evaluate_guard(cj, "restart-pods")
    assert (result.kind, result.verdict) == ("restart", verdict)
    if requires == ["decison-pass"]:
        assert 'did you mean "decision-pass"?' in result.reason


def test_an_unknown_action_lists_the_known_ones() -> None:
    cj = shop()
    with pytest.raises(UnknownActionError) as caught:
        evaluate_guard(cj, "promot-canary")
    assert str(caught.value) == (
        "unknown action 'promot-canary' for journey shop (did you mean \"promote-canary\"?); "
        "known actions: promote-canary, shift-traffic, scale-down, disable-redundancy, "
        "failover"
    )


def test_declared_actions_replace_the_default_set() -> None:
    cj = shop(actions=[{"name": "promote-canary"}])
    document = action_guard(cj)
    assert [a["name"] for a in document["spec"]["actions"]] == ["promote-canary"]
    with pytest.raises(UnknownActionError, match=r"known actions: promote-canary$"):
        evaluate_guard(cj, "failover")


def test_the_guard_document_states_verdicts_conditions_and_evidence() -> None:
    cj = shop()
    document = action_guard(cj)
    assert (document["apiVersion"], document["kind"]) == ("emac.dev/v1alpha1", "ActionGuard")
    evidence = document["spec"]["evidence"]
    assert evidence["decision"] == "FAIL"
    assert evidence["gatingBound"] == "pessimistic"
    assert evidence["gatingAvailability"] == cj.availability.pessimistic
    assert "confidence" not in evidence  # no accepted model: nothing to weigh
    for entry in document["spec"]["actions"]:
        verdict = evaluate_guard(cj, entry["name"])
        assert (entry["verdict"], entry["exitCode"], entry["reason"]) == (
            verdict.verdict,
            verdict.exit_code,
            verdict.reason,
        )
        assert [c["check"] for c in entry["conditions"]] == [c.check for c in verdict.conditions]


def test_the_guard_document_round_trips_through_its_wire_model() -> None:
    document = action_guard(healthy())
    assert (
        ActionGuard.model_validate(document).model_dump(
            by_alias=True, mode="json", exclude_none=True
        )
        == document
    )
    document["spec"]["actions"][0]["verdikt"] = "allowed"
    with pytest.raises(ValidationError, match="unknown key 'verdikt'"):
        ActionGuard.model_validate(document)


def test_guard_documents_are_deterministic() -> None:
    assert action_guard(shop()) == action_guard(shop())
