"""Action guards: which automated actions a compiled journey allows, blocks or sends to review.

Each action gets checks; a check that does not hold either blocks the action or sends it to a
person. Blocked wins over needs-review, which wins over allowed (exit codes 1, 3, 0).

Every action: needs-review when the accepted model's confidence is below
`governance.autoAcceptConfidence`, or when an evidence flag is raised.

- promote-canary: allowed iff the decision is PASS; FAIL blocks, REVIEW needs review.
- shift-traffic: as promote-canary; with a target component, also blocked when the target's
  headroom ≤ 0 (more traffic on a leaf that already keeps the journey at or below target).
- scale-down: blocked when the target component's headroom ≤ 0 (no target: every leaf's).
- disable-redundancy: the gating bound without the redundancy must still meet the target. The
  target is a race/fallback/retry group (by node path or label: the group keeps its first
  alternative, a retry makes one attempt) or a component (its alternative is dropped); no
  target checks every group. How that bound is found, and when it needs review, is in
  `bot.emit.guard_redundancy`.
- failover: the target component serves its race/fallback group alone; same check as above
  (no target: every alternative of every group).
- any other kind (custom): needs review unless it lists `requires`, then those decide.
- `requires` tokens add checks to any action: `decision-pass`, `meets-target`,
  `meets-target:<bound>`, `confidence`, `no-flags`, `headroom:<component>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.compile.result import CompiledJourney
from bot.emit.guard_checks import (
    Check,
    decision_check,
    evidence_checks,
    headroom_check,
    requirement_check,
)
from bot.emit.guard_redundancy import Rebound, redundancy_checks
from bot.emit.promql import format_number
from bot.spec.errors import did_you_mean
from bot.spec.guard import Effect, Verdict
from bot.spec.journey import GuardedAction

DEFAULT_ACTIONS = (
    "promote-canary",
    "shift-traffic",
    "scale-down",
    "disable-redundancy",
    "failover",
)
EXIT_CODES: dict[Verdict, int] = {"allowed": 0, "blocked": 1, "needs-review": 3}


@dataclass(frozen=True)
class GuardVerdict:
    """The verdict on one action, with every check behind it."""

    action: str
    kind: str
    target: str | None
    verdict: Verdict
    reason: str
    conditions: tuple[Check, ...]
    description: str | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]


class UnknownActionError(LookupError):
    """The action is not one the journey's governance names (nor a default action)."""


def guarded_actions(cj: CompiledJourney) -> list[GuardedAction]:
    """The journey's `governance.actions`, or the default set when it declares none."""
    declared = cj.model.governance.actions
    return list(declared) if declared else [GuardedAction(name=n) for n in DEFAULT_ACTIONS]


def evaluate_guard(
    cj: CompiledJourney, action: str, rebound: Rebound | None = None
) -> GuardVerdict:
    """The verdict on the named action. Raises UnknownActionError listing the known ones."""
    actions = guarded_actions(cj)
    names = [a.name for a in actions]
    for candidate in actions:
        if candidate.name == action:
            return evaluate_action(cj, candidate, rebound)
    raise UnknownActionError(
        f"unknown action '{action}' for journey {cj.name}{did_you_mean(action, names)}; "
        f"known actions: {', '.join(names)}"
    )


def evaluate_action(
    cj: CompiledJourney, action: GuardedAction, rebound: Rebound | None = None
) -> GuardVerdict:
    kind = action_kind(action)
    checks = evidence_checks(cj)
    if kind in ("promote-canary", "shift-traffic"):
        checks.append(decision_check(cj))
        if kind == "shift-traffic" and action.target is not None:
            checks.append(headroom_check(cj, action.target))
    elif kind == "scale-down":
        targets = [action.target] if action.target else cj.model.leaf_components()
        checks.extend(headroom_check(cj, t) for t in targets)
    elif kind in ("disable-redundancy", "failover"):
        checks.extend(redundancy_checks(cj, kind, action.target, rebound))
    elif not action.requires:
        checks.append(
            Check("kind", f"kind '{kind}' is one emac can evaluate", kind, False, "review")
        )
    checks.extend(requirement_check(cj, token) for token in action.requires)
    verdict, reason = _decide(checks)
    return GuardVerdict(
        action=action.name,
        kind=kind,
        target=action.target,
        verdict=verdict,
        reason=reason,
        conditions=tuple(checks),
        description=action.description,
    )


def action_kind(action: GuardedAction) -> str:
    kind = action.kind or action.name
    return kind if kind in DEFAULT_ACTIONS else "custom" if action.kind is None else kind


def _decide(checks: Sequence[Check]) -> tuple[Verdict, str]:
    order: tuple[tuple[Effect, Verdict], ...] = (("block", "blocked"), ("review", "needs-review"))
    for effect, verdict in order:
        failed = [c for c in checks if not c.holds and c.effect == effect]
        if failed:
            return verdict, "; ".join(
                f"not {c.expression} (observed {_show(c.observed)})" for c in failed
            )
    return "allowed", "all conditions hold: " + "; ".join(c.expression for c in checks)


def _show(value: float | str | None) -> str:
    if value is None:
        return "none"
    return format_number(value) if isinstance(value, float) else value
