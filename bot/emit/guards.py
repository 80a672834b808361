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
  target checks every group. The bound comes from `rebound(group, kept)` when the caller
  supplies it (exact), else from the node bounds: dropping alternatives leaves the group at
  least its best kept alternative's bound (true under any dependence), and a node never moves
  the journey more than itself, so A − (B_group − B_kept) is a lower bound on the new journey
  bound. That argument needs the group's components to occur only inside it; when they occur
  elsewhere too and no `rebound` is given, the action needs review.
- failover: the target component serves its race/fallback group alone; same check as above
  (no target: every alternative of every group).
- any other kind (custom): needs review unless it lists `requires`, then those decide.
- `requires` tokens add checks to any action: `decision-pass`, `meets-target`,
  `meets-target:<bound>`, `confidence`, `no-flags`, `headroom:<component>`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.compile.result import BOUND_NAMES, CompiledJourney
from bot.emit.gates import object_labels
from bot.emit.promql import format_number
from bot.spec.domain import Node
from bot.spec.errors import did_you_mean
from bot.spec.guard import API_VERSION, ActionGuard, Effect, Verdict
from bot.spec.journey import GuardedAction

DEFAULT_ACTIONS = (
    "promote-canary",
    "shift-traffic",
    "scale-down",
    "disable-redundancy",
    "failover",
)
EXIT_CODES: dict[Verdict, int] = {"allowed": 0, "blocked": 1, "needs-review": 3}
REQUIREMENTS = (
    "decision-pass",
    "meets-target",
    "meets-target:<bound>",
    "confidence",
    "no-flags",
    "headroom:<component>",
)
REDUNDANCY_OPS = ("race", "fallback", "retry")

# The journey's gating availability when `group` keeps only the children at `kept`.
Rebound = Callable[[Node, tuple[int, ...]], float]


@dataclass(frozen=True)
class Check:
    check: str
    expression: str
    observed: float | str | None
    holds: bool
    effect: Effect


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
    checks = _evidence_checks(cj)
    if kind in ("promote-canary", "shift-traffic"):
        checks.append(_decision_check(cj))
        if kind == "shift-traffic" and action.target is not None:
            checks.append(_headroom_check(cj, action.target))
    elif kind == "scale-down":
        targets = [action.target] if action.target else cj.model.leaf_components()
        checks.extend(_headroom_check(cj, t) for t in targets)
    elif kind in ("disable-redundancy", "failover"):
        checks.extend(_redundancy_checks(cj, kind, action.target, rebound))
    elif not action.requires:
        checks.append(
            Check("kind", f"kind '{kind}' is one emac can evaluate", kind, False, "review")
        )
    checks.extend(_requirement_check(cj, token) for token in action.requires)
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


def action_guard(cj: CompiledJourney, rebound: Rebound | None = None) -> dict[str, Any]:
    """The `ActionGuard` document: a verdict per guarded action, with its conditions."""
    gov = cj.model.governance
    verdicts = [evaluate_action(cj, a, rebound) for a in guarded_actions(cj)]
    doc = {
        "apiVersion": API_VERSION,
        "kind": "ActionGuard",
        "metadata": {
            "name": cj.name,
            "labels": object_labels(cj),
            "annotations": {
                "emac.dev/generated": "generated by emac — do not edit",
                "emac.dev/source": cj.model.source,
            },
        },
        "spec": {
            "journey": cj.name,
            "source": cj.model.source,
            "evidence": {
                "decision": cj.decision,
                "target": cj.model.objective.availability_target,
                "gatingBound": cj.gating_bound,
                "gatingAvailability": cj.gating_availability,
                "confidence": cj.confidence,
                "autoAcceptConfidence": gov.auto_accept_confidence,
                "flags": list(cj.flags),
            },
            "actions": [_verdict_doc(v) for v in verdicts],
        },
    }
    # Built through the wire model: what we write is what `emac` reads back.
    # Unset optional fields (no confidence, no target) are left out rather than written null.
    return ActionGuard.model_validate(doc).model_dump(by_alias=True, mode="json", exclude_none=True)


def _verdict_doc(v: GuardVerdict) -> dict[str, Any]:
    return {
        "name": v.action,
        "kind": v.kind,
        "target": v.target,
        "description": v.description,
        "verdict": v.verdict,
        "exitCode": v.exit_code,
        "reason": v.reason,
        "conditions": [
            {
                "check": c.check,
                "expression": c.expression,
                "observed": c.observed,
                "holds": c.holds,
                "effect": c.effect,
            }
            for c in v.conditions
        ],
    }


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


# --- checks -----------------------------------------------------------------------------------


def _evidence_checks(cj: CompiledJourney) -> list[Check]:
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


def _decision_check(cj: CompiledJourney) -> Check:
    effect: Effect = "review" if cj.decision == "REVIEW" else "block"
    return Check("decision", "decision == PASS", cj.decision, cj.decision == "PASS", effect)


def _headroom_check(cj: CompiledJourney, component: str) -> Check:
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


def _requirement_check(cj: CompiledJourney, token: str) -> Check:
    head, _, arg = token.partition(":")
    if token == "decision-pass":
        return _decision_check(cj)
    if token == "meets-target":
        return _meets_target(cj, cj.gating_bound)
    if head == "meets-target" and arg in BOUND_NAMES:
        return _meets_target(cj, arg)
    if token in ("confidence", "no-flags"):
        return _evidence_checks(cj)[0 if token == "confidence" else 1]
    if head == "headroom" and arg:
        return _headroom_check(cj, arg)
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


# --- redundancy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reduction:
    """A redundancy group serving from a subset of its children."""

    group: Node
    kept: tuple[int, ...]
    label: str


def _redundancy_checks(
    cj: CompiledJourney, kind: str, target: str | None, rebound: Rebound | None
) -> list[Check]:
    reductions, problem = _reductions(cj.model.root, kind, target)
    if problem is not None:
        return [Check("target", problem, target, False, "review")]
    checks: list[Check] = []
    if rebound is None:
        seen: dict[str, Node] = {red.group.path: red.group for red in reductions}
        checks.extend(_isolation_check(cj.model.root, group) for group in seen.values())
    checks.extend(_reduction_check(cj, red, rebound) for red in reductions)
    return checks


def _groups(root: Node) -> list[Node]:
    return [
        n for n in root.walk() if n.op in REDUNDANCY_OPS and (n.op != "retry" or n.attempts > 1)
    ]


def _components(node: Node) -> set[str]:
    return {leaf.component for leaf in node.leaves() if leaf.component is not None}


def _reductions(root: Node, kind: str, target: str | None) -> tuple[list[Reduction], str | None]:
    groups = (
        _groups(root)
        if kind == "disable-redundancy"
        else [g for g in _groups(root) if g.op != "retry"]
    )
    if not groups:
        return [], "the journey has a race/fallback/retry group to act on"
    if target is None:
        if kind == "disable-redundancy":
            return [_keep_first(g) for g in groups], None
        return [
            Reduction(g, (i,), f"{g.label} served by {c.label} alone")
            for g in groups
            for i, c in enumerate(g.children)
        ], None
    by_name = [g for g in groups if target in (g.path, g.label)]
    if by_name:
        if kind == "failover":
            return [], f"failover target '{target}' names an alternative, not the group"
        return [_keep_first(by_name[0])], None
    holding = [g for g in groups if target in _components(g)]
    if not holding:
        names = sorted({c for g in groups for c in _components(g)} | {g.label for g in groups})
        return [], (
            f"'{target}' is a component or group of a redundancy group{did_you_mean(target, names)}"
        )
    group = max(holding, key=lambda g: g.path.count(".") + g.path.count("["))  # innermost
    index = next(i for i, c in enumerate(group.children) if target in _components(c))
    if group.op == "retry":
        return [_keep_first(group)], None
    if kind == "failover":
        return [Reduction(group, (index,), f"{group.label} served by {target} alone")], None
    kept = tuple(i for i in range(len(group.children)) if i != index)
    return [Reduction(group, kept, f"{group.label} without {target}")], None


def _keep_first(group: Node) -> Reduction:
    what = "a single attempt" if group.op == "retry" else f"only {group.children[0].label}"
    return Reduction(group, (0,), f"{group.label} with {what}")


def _isolation_check(root: Node, group: Node) -> Check:
    shared = sorted(_components(group) & _components_outside(root, group))
    return Check(
        f"isolated:{group.path}",
        f"components of {group.label} occur only inside it (else the node-bound estimate "
        "is not a bound)",
        ", ".join(shared) or "none",
        not shared,
        "review",
    )


def _reduction_check(cj: CompiledJourney, red: Reduction, rebound: Rebound | None) -> Check:
    target = cj.model.objective.availability_target
    bound = cj.gating_bound
    if rebound is not None:
        value, how = rebound(red.group, red.kept), ""
    else:
        nodes = cj.node_bounds
        kept_best = max(nodes[red.group.children[i].path].get(bound) for i in red.kept)
        loss = max(0.0, nodes[red.group.path].get(bound) - kept_best)
        value, how = cj.gating_availability - loss, " (lower bound from node bounds)"
    kept = "+".join(red.group.children[i].label for i in red.kept)
    return Check(
        f"reduced:{red.group.path}:{kept}",
        f"{bound} bound with {red.label} ≥ target {format_number(target)}{how}",
        value,
        value >= target,
        "block",
    )


def _components_outside(root: Node, group: Node) -> set[str]:
    out: set[str] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.path == group.path:
            continue
        if node.op == "leaf" and node.component is not None:
            out.add(node.component)
        stack.extend(node.children)
    return out
