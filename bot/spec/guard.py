"""Wire model of the `emac.dev/v1alpha1` ActionGuard: which automated actions a journey allows."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.spec.wire import ObjectMeta, WireModel

API_VERSION = "emac.dev/v1alpha1"

Verdict = Literal["allowed", "blocked", "needs-review"]
Effect = Literal["block", "review"]


class GuardCondition(WireModel):
    """One condition an action was checked against, what was observed, and whether it holds.

    `effect` says what a condition that does not hold does to the action: block it or send it
    to a person.
    """

    check: str
    expression: str
    observed: float | str | None = None
    holds: bool
    effect: Effect


class GuardedActionVerdict(WireModel):
    name: str
    kind: str
    target: str | None = None
    description: str | None = None
    verdict: Verdict
    exit_code: Literal[0, 1, 3]
    reason: str
    conditions: list[GuardCondition] = Field(default_factory=list)


class GuardEvidence(WireModel):
    """The compiled numbers every verdict was computed from."""

    decision: Literal["PASS", "FAIL", "REVIEW"]
    target: float
    gating_bound: Literal["optimistic", "pessimistic", "worstCase"]
    gating_availability: float
    confidence: float | None = None
    auto_accept_confidence: float
    flags: list[str] = Field(default_factory=list)


class ActionGuardSpec(WireModel):
    journey: str
    source: str
    evidence: GuardEvidence
    actions: list[GuardedActionVerdict]


class ActionGuard(WireModel):
    """The `ActionGuard` document `emac compile` writes next to the rollout gates."""

    api_version: Literal["emac.dev/v1alpha1"]
    kind: Literal["ActionGuard"]
    metadata: ObjectMeta
    spec: ActionGuardSpec
