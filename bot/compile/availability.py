"""Availability bounds of every operator node: optimistic, pessimistic (shared fate), worst case.

Semantics are DESIGN.md's table. The three values differ only in how children combine:

* optimistic: leaves independent, except that a component referenced more than once is one
  random variable (exact, by conditioning on its state where two children share it);
* pessimistic: common-cause model; alternatives that share a failure domain or a component
  give no redundancy gain (max within a sharing group, groups independent); conjunctions use
  the product, a sound lower bound for positively associated failures;
* worstCase: Fréchet bounds that hold under any dependence.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx

from bot.compile.result import AvailabilityBounds, TimeoutFactor
from bot.spec.domain import ComponentModel, Node

MAX_CONDITIONED = 16  # 2^16 assignments of shared components at one node


class AvailabilityError(ValueError):
    """The expression cannot be evaluated exactly (too many shared components at one node)."""


# --- combinators shared by the bounds and by path re-evaluation ----------------------------


def prod(values: Sequence[float]) -> float:
    out = 1.0
    for v in values:
        out *= v
    return out


def any_success(values: Sequence[float]) -> float:
    """P(at least one succeeds) for independent alternatives."""
    return 1.0 - prod([1.0 - v for v in values])


def poisson_binomial_at_least(probs: Sequence[float], k: int) -> float:
    """P(at least k of independent Bernoulli(p_i) succeed)."""
    dist = [1.0] + [0.0] * len(probs)
    for p in probs:
        for j in range(len(dist) - 1, 0, -1):
            dist[j] = dist[j] * (1.0 - p) + dist[j - 1] * p
        dist[0] *= 1.0 - p
    return min(1.0, max(0.0, sum(dist[k:])))


def frechet_at_least(probs: Sequence[float], k: int) -> float:
    """Sharp lower bound of P(at least k succeed) under any dependence.

    Dropping members only lowers the count, so for every subset J of size m ≥ k Markov's
    inequality on the failures in J gives (Σ_J p − k + 1)/(m − k + 1); the best J of size m is
    the m largest p. k = 1 gives max p, k = n gives 1 − Σq.
    """
    ordered = sorted(probs, reverse=True)
    best, running = 0.0, 0.0
    for m, p in enumerate(ordered, start=1):
        running += p
        if m >= k:
            best = max(best, (running - k + 1) / (m - k + 1))
    return min(1.0, max(0.0, best))


def alternative_key(node: Node, index: int) -> str:
    """Key of the per-try timeout factor of a fallback's alternative."""
    return f"{node.path}#{index}"


def retry_share(node: Node, components: Mapping[str, ComponentModel]) -> float | None:
    """The retry's retriable share, else its target component's, else None (all retried)."""
    if node.retriable_share is not None:
        return node.retriable_share
    child = node.children[0]
    if child.op == "leaf" and child.component is not None:
        return components[child.component].retriable_share
    return None


def retry_success(p: float, attempts: int, retriable_share: float | None) -> float:
    """P(some try succeeds) with independent tries; only a share of failures is retried."""
    r = 1.0 if retriable_share is None else retriable_share
    q = 1.0 - p
    return p * sum((q * r) ** k for k in range(attempts))


def sharing_groups(
    children: Sequence[Node], components: Mapping[str, ComponentModel]
) -> list[list[int]]:
    """Indices of alternatives grouped by shared fate (a common component or failure domain)."""
    tags = [subtree_fate_tags(c, components) for c in children]
    graph = nx.Graph()
    graph.add_nodes_from(range(len(children)))
    owner: dict[str, int] = {}
    for i, tagset in enumerate(tags):
        for tag in tagset:
            if tag in owner:
                graph.add_edge(owner[tag], i)
            else:
                owner[tag] = i
    return sorted(sorted(g) for g in nx.connected_components(graph))


def subtree_fate_tags(node: Node, components: Mapping[str, ComponentModel]) -> frozenset[str]:
    tags: set[str] = set()
    for leaf in node.leaves():
        assert leaf.component is not None
        tags.add("component:" + leaf.component)
        tags.update("domain:" + d for d in components[leaf.component].failure_domains)
    return frozenset(tags)


# --- per-bound node combination ---------------------------------------------------------------

Combine = Callable[[Node, Sequence[float]], float]


def _dedupe_leaves(node: Node, values: Sequence[float]) -> list[float]:
    # X ∧ X = X and X ∨ X = X: identical leaf references under one node are one event.
    seen: set[tuple[str | None, float | None]] = set()
    out: list[float] = []
    for child, value in zip(node.children, values, strict=True):
        if child.op == "leaf":
            key = (child.component, child.timeout)
            if key in seen:
                continue
            seen.add(key)
        out.append(value)
    return out


@dataclass(frozen=True)
class BoundRules:
    """How children combine for one bound, given the tree's sharing groups and timeouts."""

    name: str
    components: Mapping[str, ComponentModel]
    timeouts: Mapping[str, TimeoutFactor]
    groups: Mapping[str, list[list[int]]]

    def leaf(self, node: Node, up: float | None = None) -> float:
        assert node.component is not None
        a = self.components[node.component].availability if up is None else up
        return self.with_timeout(node, a)

    def with_timeout(self, node: Node, value: float, key: str | None = None) -> float:
        factor = self.timeouts.get(key or node.path) if self.timeouts else None
        if factor is None:
            return value
        if self.name == "optimistic":
            return value * factor.estimate
        if self.name == "pessimistic":
            return value * min(factor.lower, factor.estimate)
        return max(0.0, value + factor.lower - 1.0)

    def combine(self, node: Node, values: Sequence[float]) -> float:
        op = node.op
        if op in ("optional", "async"):
            return 1.0
        if op == "branch":
            return sum(w * v for w, v in zip(node.weights, values, strict=True))
        if op == "fallback" and self.timeouts:
            # Each alternative has its own F(τ): the per-try timeout cuts a different tail.
            values = [
                self.with_timeout(node, v, alternative_key(node, i)) for i, v in enumerate(values)
            ]
        elif op == "retry" and self.timeouts:
            values = [self.with_timeout(node, v) for v in values]
        if op in ("series", "parallel"):
            vals = values if self.name == "optimistic" else _dedupe_leaves(node, values)
            if self.name == "worstCase":
                return max(0.0, 1.0 - sum(1.0 - v for v in vals))
            return prod(vals)
        if op in ("race", "fallback"):
            if self.name == "optimistic":
                return any_success(values)
            if self.name == "worstCase":
                return max(values)
            return any_success([max(values[i] for i in g) for g in self.groups[node.path]])
        if op == "retry":
            (v,) = values
            if self.name == "optimistic":
                return retry_success(v, node.attempts, retry_share(node, self.components))
            return v  # a target shares fate with itself: retries buy nothing under shared fate
        if op == "quorum":
            shared = any(len(g) > 1 for g in self.groups[node.path])
            if self.name == "optimistic" or (self.name == "pessimistic" and not shared):
                return poisson_binomial_at_least(values, node.required)
            return frechet_at_least(values, node.required)
        raise ValueError(f"unknown operator {op}")


def make_rules(
    root: Node, components: Mapping[str, ComponentModel], timeouts: Mapping[str, TimeoutFactor]
) -> dict[str, BoundRules]:
    groups = {
        n.path: sharing_groups(n.children, components)
        for n in root.walk()
        if n.op in ("race", "fallback", "quorum")
    }
    return {
        name: BoundRules(name, components, timeouts, groups)
        for name in ("optimistic", "pessimistic", "worstCase")
    }


# --- evaluation -------------------------------------------------------------------------------


def evaluate_simple(
    root: Node, rules: BoundRules, overrides: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Bottom-up value of every node for the pessimistic or worst-case rules."""
    values: dict[str, float] = {}
    for node in reversed(root.walk()):
        if node.op == "leaf":
            up = overrides.get(node.component or "") if overrides else None
            values[node.path] = rules.leaf(node, up)
        else:
            values[node.path] = rules.combine(node, [values[c.path] for c in node.children])
    return values


def repeated_components(root: Node) -> set[str]:
    counts: dict[str, int] = {}
    for leaf in root.leaves():
        assert leaf.component is not None
        counts[leaf.component] = counts.get(leaf.component, 0) + 1
    return {c for c, n in counts.items() if n > 1}


class OptimisticEvaluator:
    """Exact independence evaluation where a repeated component is one random variable.

    At a node whose children share repeated components, the node's value is the total
    probability over the states of those components; elsewhere children are independent.
    """

    def __init__(
        self, root: Node, rules: BoundRules, overrides: Mapping[str, float] | None = None
    ) -> None:
        self.rules = rules
        self.overrides = overrides or {}
        repeated = repeated_components(root)
        self.shared: dict[str, frozenset[str]] = {}
        self.shared_at: dict[str, tuple[str, ...]] = {}
        for node in reversed(root.walk()):
            if node.op == "leaf":
                self.shared[node.path] = (
                    frozenset({node.component} & repeated) if node.component else frozenset()
                )
                continue
            seen: set[str] = set()
            twice: set[str] = set()
            for child in node.children:
                twice |= seen & self.shared[child.path]
                seen |= self.shared[child.path]
            self.shared[node.path] = frozenset(seen)
            self.shared_at[node.path] = tuple(sorted(twice))
            if len(twice) > MAX_CONDITIONED:
                raise AvailabilityError(
                    f"{node.label} at {node.path}: {len(twice)} components are referenced in "
                    f"more than one of its children; at most {MAX_CONDITIONED} can be evaluated "
                    "exactly"
                )

    def up(self, component: str) -> float:
        if component in self.overrides:
            return self.overrides[component]
        return self.rules.components[component].availability

    def value(self, node: Node, fixed: Mapping[str, float]) -> float:
        if node.op == "leaf":
            assert node.component is not None
            state = fixed.get(node.component)
            return self.rules.leaf(node, self.up(node.component) if state is None else state)
        free = [c for c in self.shared_at[node.path] if c not in fixed]
        if not free:
            return self.rules.combine(node, [self.value(c, fixed) for c in node.children])
        total = 0.0
        for states in itertools.product((1.0, 0.0), repeat=len(free)):
            weight = 1.0
            for comp, s in zip(free, states, strict=True):
                weight *= self.up(comp) if s else 1.0 - self.up(comp)
            if weight == 0.0:
                continue
            cond = {**fixed, **dict(zip(free, states, strict=True))}
            total += weight * self.rules.combine(node, [self.value(c, cond) for c in node.children])
        return total

    def all_values(self, root: Node) -> dict[str, float]:
        """Unconditional value of every node (each node evaluated on its own subtree)."""
        if not any(self.shared_at.values()):
            values: dict[str, float] = {}
            for node in reversed(root.walk()):
                if node.op == "leaf":
                    values[node.path] = self.value(node, {})
                else:
                    values[node.path] = self.rules.combine(
                        node, [values[c.path] for c in node.children]
                    )
            return values
        return {node.path: self.value(node, {}) for node in root.walk()}


def node_bounds(
    root: Node,
    components: Mapping[str, ComponentModel],
    timeouts: Mapping[str, TimeoutFactor] | None = None,
    rules: Mapping[str, BoundRules] | None = None,
) -> dict[str, AvailabilityBounds]:
    """Optimistic, pessimistic and worst-case availability of every node, keyed by node path."""
    rules = rules or make_rules(root, components, timeouts or {})
    opt = OptimisticEvaluator(root, rules["optimistic"]).all_values(root)
    pess = evaluate_simple(root, rules["pessimistic"])
    worst = evaluate_simple(root, rules["worstCase"])
    out: dict[str, AvailabilityBounds] = {}
    for path in opt:
        o, p, w = opt[path], pess[path], worst[path]
        # Floating-point rounding can put a bound a few ulps past its neighbour when they are
        # mathematically equal; clamp so the documented order always holds.
        p = min(p, o)
        w = min(w, p)
        out[path] = AvailabilityBounds(optimistic=o, pessimistic=p, worst_case=w)
    return out


def root_value(
    root: Node, rules: BoundRules, overrides: Mapping[str, float] | None = None
) -> float:
    """One bound at the root, optionally with some components' availability replaced."""
    if rules.name == "optimistic":
        return OptimisticEvaluator(root, rules, overrides).value(root, {})
    return evaluate_simple(root, rules, overrides)[root.path]
