"""Re-evaluate one bound at the root with a single node's value replaced (fast along a path)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bot.compile.availability import (
    BoundRules,
    OptimisticEvaluator,
    evaluate_simple,
    repeated_components,
    root_value,
)
from bot.spec.domain import Node


class PathEvaluator:
    """Answers "what would the root be if this node's value were x?" for one bound.

    Series, parallel and branch nodes are affine in each child, so their re-evaluation is O(1)
    from cached products/sums; other operators recombine their children. Components referenced
    more than once (or optimistic evaluation that conditions on them) fall back to a full
    re-evaluation with the component's availability overridden.
    """

    def __init__(self, root: Node, rules: BoundRules) -> None:
        self.root = root
        self.rules = rules
        self.repeated = repeated_components(root)
        if rules.name == "optimistic":
            self.values = OptimisticEvaluator(root, rules).all_values(root)
            self.conditioned = bool(self.repeated)
        else:
            self.values = evaluate_simple(root, rules)
            self.conditioned = False
        self.parent: dict[str, tuple[Node, int]] = {}
        for node in root.walk():
            for i, child in enumerate(node.children):
                self.parent[child.path] = (node, i)
        self._others: dict[str, list[float]] = {}
        self._unique: dict[str, bool] = {}

    @property
    def root_value(self) -> float:
        return self.values[self.root.path]

    def _product_of_others(self, node: Node) -> list[float]:
        cached = self._others.get(node.path)
        if cached is None:
            vals = [self.values[c.path] for c in node.children]
            prefix = [1.0]
            for v in vals:
                prefix.append(prefix[-1] * v)
            suffix = [1.0]
            for v in reversed(vals):
                suffix.append(suffix[-1] * v)
            suffix.reverse()
            cached = [prefix[i] * suffix[i + 1] for i in range(len(vals))]
            self._others[node.path] = cached
        return cached

    def _leaves_unique(self, node: Node) -> bool:
        cached = self._unique.get(node.path)
        if cached is None:
            leaves = [(c.component, c.timeout) for c in node.children if c.op == "leaf"]
            cached = self._unique[node.path] = len(set(leaves)) == len(leaves)
        return cached

    def _replace(self, node: Node, index: int, x: float) -> float:
        op, name = node.op, self.rules.name
        if op in ("series", "parallel") and name != "worstCase" and self._leaves_unique(node):
            return self._product_of_others(node)[index] * x
        if op == "branch":
            old = self.values[node.children[index].path]
            return self.values[node.path] + node.weights[index] * (x - old)
        vals = [self.values[c.path] for c in node.children]
        vals[index] = x
        return self.rules.combine(node, vals)

    def with_node_value(self, node: Node, x: float) -> float:
        """Root value when `node` evaluates to x and everything else is unchanged."""
        value, current = x, node
        while current.path in self.parent:
            parent, index = self.parent[current.path]
            value = self._replace(parent, index, value)
            current = parent
        return value

    def with_component(
        self, component: str, availability: float, leaves: Mapping[str, list[Node]]
    ) -> float:
        """Root value when `component`'s atomic availability is replaced."""
        nodes = leaves[component]
        if self.conditioned or len(nodes) > 1:
            return root_value(self.root, self.rules, {component: availability})
        leaf = nodes[0]
        return self.with_node_value(leaf, self.rules.leaf(leaf, availability))


def leaves_by_component(root: Node) -> dict[str, list[Node]]:
    out: dict[str, list[Node]] = {}
    for leaf in root.leaves():
        assert leaf.component is not None
        out.setdefault(leaf.component, []).append(leaf)
    return out


def lowest_passing(
    f: Callable[[float], float], target: float, *, iterations: int = 60
) -> float | None:
    """Smallest x in [0, 1] with f(x) ≥ target for nondecreasing f; None if f(1) < target.

    Most journeys are affine in one leaf, so the affine solution is tried and verified first;
    bisection covers the kinks (max, Fréchet caps).
    """
    f0, f1 = f(0.0), f(1.0)
    if f1 < target:
        return None
    if f0 >= target:
        return 0.0
    guess = (target - f0) / (f1 - f0)
    if 0.0 <= guess <= 1.0 and f(guess) >= target and f(max(0.0, guess - 1e-12)) < target + 1e-15:
        return guess
    lo, hi = 0.0, 1.0
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if f(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi
