"""Action guard checks: one condition on a journey; the evidence, headroom and `requires` checks."""

from __future__ import annotations

from dataclasses import dataclass

from bot.compile.result import BOUND_NAMES, CompiledJourney
from bot.emit.promql import format_number
from bot.spec.errors import did_you_mean
from bot.spec.guard import Effect

REQUIREMENTS = (
    "decision-pass",
    "meets-target",
    "meets-target:<bound>",
    "confidence",
    "no-flags",
    "headroom:<component>",
)


@dataclass(frozen=True)
class Check:
    check: str
    expression: str
    observed: float | str | None
    holds: bool
    effect: Effect


def evidence_checks(cj: CompiledJourney) -> list[Check]:
    threshold = cj.model.governance.auto_accept_confidence
    confident = cj.confidence is None or cj.confidence >= threshold
    return [
        Check(
            "confidence",
            f"confidence ≥ autoAcceptConfidence {format_number(threshold)}",
            cj.confidence,
            confident,
            "review",
        ),
        Check(
            "flags",
            "no evidence flag raised",
            ", ".join(cj.flags) or "none",
            not cj.flags,
            "review",
        ),
    ]


def decision_check(cj: CompiledJourney) -> Check:
    effect: Effect = "review" if cj.decision == "REVIEW" else "block"
    return Check("decision", "decision == PASS", cj.decision, cj.decision == "PASS", effect)


def headroom_check(cj: CompiledJourney, component: str) -> Check:
    leaf = cj.budget.leaves.get(component)
    if leaf is None:
        known = list(cj.budget.leaves)
        return Check(
            f"headroom:{component}",
            f"'{component}' is a leaf of the journey{did_you_mean(component, known)}",
            None,
            False,
            "review",
        )
    return Check(
        f"headroom:{component}",
        f"headroom of {component} > 0",
        leaf.headroom,
        leaf.headroom > 0,
        "block",
    )


def _meets_target(cj: CompiledJourney, bound: str) -> Check:
    target = cj.model.objective.availability_target
    value = cj.availability.as_dict()[bound]
    return Check(
        f"meets-target:{bound}",
        f"{bound} bound ≥ target {format_number(target)}",
        value,
        value >= target,
        "block",
    )


def requirement_check(cj: CompiledJourney, token: str) -> Check:
    head, _, arg = token.partition(":")
    if token == "decision-pass":
        return decision_check(cj)
    if token == "meets-target":
        return _meets_target(cj, cj.gating_bound)
    if head == "meets-target" and arg in BOUND_NAMES:
        return _meets_target(cj, arg)
    if token in ("confidence", "no-flags"):
        return evidence_checks(cj)[0 if token == "confidence" else 1]
    if head == "headroom" and arg:
        return headroom_check(cj, arg)
    known = [
        "decision-pass",
        "meets-target",
        *(f"meets-target:{b}" for b in BOUND_NAMES),
        "confidence",
        "no-flags",
        *(f"headroom:{c}" for c in cj.budget.leaves),
    ]
    return Check(
        f"requires:{token}",
        f"requirement '{token}' is one of {', '.join(REQUIREMENTS)}{did_you_mean(token, known)}",
        None,
        False,
        "review",
    )
