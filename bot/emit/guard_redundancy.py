"""Redundancy checks of action guards: does the journey still meet its target with less redundancy.

disable-redundancy drops alternatives of a race/fallback/retry group; failover serves a group from
one alternative. The bound comes from `rebound(group, kept)` when the caller supplies it (exact),
else from the node bounds: dropping alternatives leaves the group at least its best kept
alternative's bound (true under any dependence), and a node never moves the journey more than
itself, so A − (B_group − B_kept) is a lower bound on the new journey bound. That argument needs
the group's components to occur only inside it; when they occur elsewhere too and no `rebound` is
given, the action needs review.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.compile.result import CompiledJourney
from bot.emit.guard_checks import Check
from bot.emit.promql import format_number
from bot.spec.domain import Node
from bot.spec.errors import did_you_mean

REDUNDANCY_OPS = ("race", "fallback", "retry")

# The journey's gating availability when `group` keeps only the children at `kept`.
Rebound = Callable[[Node, tuple[int, ...]], float]


@dataclass(frozen=True)
class Reduction:
    """A redundancy group serving from a subset of its children."""

    group: Node
    kept: tuple[int, ...]
    label: str


def redundancy_checks(
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
