"""Error budgets: structural consumption, a dependence-proof allocation to leaves, headroom,
importance, and the dominant contributors to lost availability."""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from bot.compile.availability import BoundRules
from bot.compile.result import (
    BOUND_NAMES,
    AvailabilityBounds,
    BoundName,
    Budget,
    Contributor,
    LeafBudget,
)
from bot.compile.sensitivity import PathEvaluator, leaves_by_component, lowest_passing
from bot.spec.domain import JourneyModel, Node

MAX_CONTRIBUTORS = 10


def clean(x: float) -> float:
    """1 − 0.995 is 0.0050000000000000044 in binary; 15 decimals give back what was written."""
    return round(x, 15)


def consumption(bounds: AvailabilityBounds, target: float) -> dict[str, float]:
    """Share of the error budget the structure alone uses: (1 − A)/(1 − target), per bound."""
    budget = 1.0 - target
    return {name: (1.0 - bounds.get(name)) / budget if budget > 0 else 0.0 for name in BOUND_NAMES}


def worst_case_unavailability(
    root: Node, leaf_errors: Mapping[str, float]
) -> tuple[dict[str, float], dict[str, float]]:
    """The worst-case bound as an uncapped function of leaf error ratios, and its gradient.

    Series adds, alternatives take the minimum, branches weight, quorums take the Fréchet
    form min_J Σ_J q/(|J| − k + 1): every piece is positively homogeneous, so scaling all leaf
    error ratios by c scales the journey's worst-case unavailability by c. Returns the
    unavailability per node and ∂U/∂q per leaf path.
    """
    u: dict[str, float] = {}
    choice: dict[str, list[tuple[int, float]]] = {}
    for node in reversed(root.walk()):
        kids = [u[c.path] for c in node.children]
        if node.op == "leaf":
            u[node.path] = leaf_errors[node.path]
        elif node.op in ("series", "parallel"):
            u[node.path] = sum(kids)
            choice[node.path] = [(i, 1.0) for i in range(len(kids))]
        elif node.op in ("race", "fallback", "retry"):
            low = min(kids)
            ties = [i for i, k in enumerate(kids) if k == low]
            u[node.path] = low
            choice[node.path] = [(i, 1.0 / len(ties)) for i in ties]
        elif node.op == "branch":
            u[node.path] = sum(w * k for w, k in zip(node.weights, kids, strict=True))
            choice[node.path] = list(enumerate(node.weights))
        elif node.op == "quorum":
            order = sorted(range(len(kids)), key=lambda i: kids[i])
            k = node.required
            best, best_m, running = float("inf"), len(kids), 0.0
            for m, i in enumerate(order, start=1):
                running += kids[i]
                if m >= k and running / (m - k + 1) < best:
                    best, best_m = running / (m - k + 1), m
            u[node.path] = best
            choice[node.path] = [(i, 1.0 / (best_m - k + 1)) for i in order[:best_m]]
        else:  # optional, async: never fail the journey
            u[node.path] = 0.0
            choice[node.path] = []
    grad: dict[str, float] = {root.path: 1.0}
    for node in root.walk():
        g = grad.get(node.path, 0.0)
        for i, weight in choice.get(node.path, []):
            child = node.children[i].path
            grad[child] = grad.get(child, 0.0) + g * weight
    return u, grad


def allocate(model: JourneyModel, worst_rules: BoundRules) -> dict[str, tuple[float, float]]:
    """Per component: (share of the journey budget, error ratio that share allows).

    Valid under any dependence: if every leaf keeps its error ratio within its allowance, the
    worst-case bound meets the target, because the allowances are the current error ratios
    scaled by one factor c with U(c·q) = c·U(q) = error budget. The shares (∂U/∂q_i times the
    allowance) add up to the error budget by Euler's theorem for homogeneous functions.
    """
    root = model.root
    budget = 1.0 - model.objective.availability_target
    errors = {leaf.path: 1.0 - worst_rules.leaf(leaf) for leaf in root.leaves()}
    u, grad = worst_case_unavailability(root, errors)
    total = u[root.path]
    out: dict[str, tuple[float, float]] = {}
    if total > 0:
        scale = budget / total
        for leaf in root.leaves():
            assert leaf.component is not None
            share, allowed = out.get(leaf.component, (0.0, errors[leaf.path] * scale))
            out[leaf.component] = (
                share + grad.get(leaf.path, 0.0) * errors[leaf.path] * scale,
                allowed,
            )
        return out
    weight = sum(grad.get(leaf.path, 0.0) for leaf in root.leaves())
    for leaf in root.leaves():
        assert leaf.component is not None
        allowed = budget / weight if weight > 0 else budget
        share, _ = out.get(leaf.component, (0.0, allowed))
        out[leaf.component] = (share + grad.get(leaf.path, 0.0) * allowed, allowed)
    return out


def leaf_budgets(
    model: JourneyModel, gating: BoundName, rules: Mapping[str, BoundRules]
) -> dict[str, LeafBudget]:
    evaluator = PathEvaluator(model.root, rules[gating])
    leaves = leaves_by_component(model.root)
    allocation = allocate(model, rules["worstCase"])
    target = model.objective.availability_target
    out: dict[str, LeafBudget] = {}
    for name in model.leaf_components():
        a = model.components[name].availability

        def f(x: float, name: str = name) -> float:
            return evaluator.with_component(name, x, leaves)

        importance = f(1.0) - f(0.0)
        lowest = lowest_passing(f, target)
        headroom = -(1.0 - a) if lowest is None else a - lowest
        share, allowed = allocation.get(name, (0.0, 0.0))
        out[name] = LeafBudget(
            allocated=share,
            max_error_ratio=allowed,
            headroom=headroom,
            importance=importance,
            error_ratio=clean(1.0 - a),
        )
    return out


def contributors(
    model: JourneyModel,
    bounds: Mapping[str, AvailabilityBounds],
    rules: Mapping[str, BoundRules],
    leaves: Mapping[str, LeafBudget],
) -> list[Contributor]:
    """What costs the journey availability, largest first.

    shared_fate: an alternatives group whose members share a failure domain or component, with
      its local loss (optimistic − pessimistic at that node) and what the journey's
      pessimistic bound would gain if the group were independent;
    leaf: the leaf's share of the gating bound's unavailability, importance × error ratio
      (a leaf inside a shared-fate group costs little on its own: the group is the risk);
    timeout: what a timeout costs the node it guards (optimistic, with vs without it).
    """
    pessimistic = PathEvaluator(model.root, rules["pessimistic"])
    timeouts = rules["optimistic"].timeouts
    first_leaf = {n.component: n.path for n in reversed(model.root.leaves())}
    out: list[Contributor] = []
    for node in model.root.walk():
        b = bounds[node.path]
        if node.op in ("race", "fallback", "quorum"):
            groups = rules["pessimistic"].groups[node.path]
            if any(len(g) > 1 for g in groups) and b.optimistic - b.pessimistic > 1e-15:
                gain = pessimistic.with_node_value(node, b.optimistic) - pessimistic.root_value
                out.append(
                    Contributor(
                        "shared_fate", node.label, b.optimistic - b.pessimistic, gain, node.path
                    )
                )
        factor = timeouts.get(node.path)
        if factor is not None and factor.estimate < 1.0:
            loss = b.optimistic / factor.estimate - b.optimistic if factor.estimate > 0 else 1.0
            out.append(Contributor("timeout", node.label, loss, loss, node.path))
    for name, lb in leaves.items():
        loss = lb.importance * lb.error_ratio
        if loss > 0:
            out.append(Contributor("leaf", name, loss, loss, first_leaf[name]))
    return heapq.nsmallest(MAX_CONTRIBUTORS, out, key=lambda c: (-c.loss, c.kind, c.node))


def budget(
    model: JourneyModel,
    bounds: AvailabilityBounds,
    gating: BoundName,
    rules: Mapping[str, BoundRules],
) -> Budget:
    target = model.objective.availability_target
    return Budget(
        error_budget=clean(1.0 - target),
        consumed=consumption(bounds, target),
        leaves=leaf_budgets(model, gating, rules),
    )
