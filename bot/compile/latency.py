"""Journey latency quantiles: the tree walk behind `compile_latency` and `timeout_factors`.

Each quantile has an independence estimate with a guaranteed bracket, and a bound that holds
under any dependence between hops.

The journey latency is the latency of *successful* journeys. The model, operator by operator:

- leaf: the component's availability `a` and latency curve F. A failed request takes as long as a
  successful one (its duration also follows F). With a timeout τ a request still running at τ fails
  exactly then. A leaf without latency evidence answers in zero time.
- series: the sum of its steps; a failing step stops it (its failure lasts up to that step).
- parallel (join all): the maximum; it waits for every branch, also when one fails.
- race: the first *successful* response; branch i is sent at i·hedge_delay, so hedge(d) =
  min(T1, d + T2, 2d + T3, ...). It fails when every branch fails, after the last one.
- fallback: alternatives in order until one succeeds; the latency is the failed attempts' times
  plus the successful attempt. A per-try timeout cuts every attempt (a cut attempt lasts τ).
- retry: `attempts` tries of its child; a failure is retried with probability `retriable_share`
  (the node's, else the child component's, else 1); each try is cut at the per-try timeout.
- branch: the mixture of its routes' laws, weighted by the route weights (never an average of
  quantiles); quorum: the k-th success (failure once every member is done); optional: its child's
  latency whether the child succeeded or not; async: off the critical path, latency 0.

`estimate` (the independence laws, `latency_estimate`) and `upper` (bounds under any dependence,
`latency_upper`) are computed in one bottom-up pass over the tree.

Timeouts: `timeout_factors` reports F(τ) for every node that carries one — a leaf's own timeout,
and each attempt of a retry or fallback with a per-try timeout — with the independence value and a
lower bound valid under any dependence. A subtree without latency evidence has CDF 1: its timeouts
never fire.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bot.compile import latency_bounds as anydep
from bot.compile import latency_grid as grid
from bot.compile.latency_bounds import Levels
from bot.compile.latency_estimate import Estimate, Estimator
from bot.compile.latency_grid import Knots
from bot.compile.latency_upper import Bound, Bounder
from bot.compile.result import QuantileBound, TimeoutFactor
from bot.spec.domain import ComponentModel, Node

MIN_GRID_POINTS = 16
# Resolution factor for subtrees under a per-try timeout.
FINE = 8
# Children of these operators must also report how long a failed attempt takes.
_NEEDS_FAILURES = frozenset({"fallback", "retry", "optional"})


def fallback_factor_key(node: Node, alternative: int) -> str:
    """Key of the per-try timeout factor of a fallback's alternative (one F(τ) per alternative)."""
    return f"{node.path}#{alternative}"


def timeout_factors(
    root: Node, components: Mapping[str, ComponentModel], *, grid_points: int = 4096
) -> dict[str, TimeoutFactor]:
    """F(τ) per timeout, keyed by the path of the node carrying it (`fallback_factor_key` for
    each alternative of a fallback). Only the subtrees under per-try timeouts are evaluated."""
    factors: dict[str, TimeoutFactor] = {}
    for leaf in root.leaves():
        if leaf.timeout is not None:
            value = _leaf_cdf(leaf, components, leaf.timeout, conditional=False)
            factors[leaf.path] = TimeoutFactor(value, value)
    engine = _Engine(components, grid_points, Levels([]))
    engine.run(root, only_under_timeouts=True)
    factors.update(engine.factors)
    return factors


def compile_latency(
    root: Node,
    components: Mapping[str, ComponentModel],
    quantiles: Mapping[str, float],
    *,
    grid_points: int = 4096,
) -> dict[str, QuantileBound] | None:
    """Latency quantile bounds of the journey, keyed like `quantiles`; None without evidence."""
    if all(components[leaf.component or ""].latency is None for leaf in root.leaves()):
        return None
    levels = Levels([1.0 - q for q in quantiles.values()])
    estimate, bound = _Engine(components, grid_points, levels).run(root, only_under_timeouts=False)
    out: dict[str, QuantileBound] = {}
    for key, q in quantiles.items():
        lo, hi = grid.quantile_bracket(estimate.latency, q)
        upper = max(float(bound.success[levels.index(q)]), hi)
        out[key] = QuantileBound(
            quantile=q, estimate=(lo + hi) / 2.0, bracket=(lo, hi), upper=upper
        )
    return out


def _leaf_cdf(
    leaf: Node, components: Mapping[str, ComponentModel], t: float, *, conditional: bool
) -> float:
    """F(t) of a leaf; `conditional`: of its successful requests (those within its timeout)."""
    curve = components[leaf.component or ""].latency
    if curve is None:
        return 1.0
    if not conditional or leaf.timeout is None:
        return curve.cdf(t)
    within = curve.cdf(leaf.timeout)
    return 1.0 if within <= 0.0 else curve.cdf(min(t, leaf.timeout)) / within


def _preorder(root: Node) -> tuple[list[Node], list[list[int]]]:
    """Nodes parents-first with their children's positions (iterative: trees may be deep)."""
    order: list[Node] = []
    kids: list[list[int]] = []
    stack: list[tuple[Node, int]] = [(root, -1)]
    while stack:
        node, parent = stack.pop()
        order.append(node)
        kids.append([])
        if parent >= 0:
            kids[parent].append(len(order) - 1)
        stack.extend((child, len(order) - 1) for child in reversed(node.children))
    return order, kids


class _Engine:
    """One bottom-up pass computing both the independence laws and the any-dependence bounds."""

    def __init__(self, components: Mapping[str, ComponentModel], grid_points: int, levels: Levels):
        self.components = components
        self.base = max(grid_points, MIN_GRID_POINTS)
        self.levels = levels
        self.factors: dict[str, TimeoutFactor] = {}
        self._knots: dict[str, Knots | None] = {}
        self.estimator = Estimator(components, self.knots, self.base)
        self.bounder = Bounder(self.knots, levels)

    def knots(self, node: Node) -> tuple[ComponentModel, Knots | None]:
        """A leaf's component and its latency curve as arrays (converted once per component)."""
        comp = self.components[node.component or ""]
        if comp.name not in self._knots:
            self._knots[comp.name] = None if comp.latency is None else Knots.of(comp.latency)
        return comp, self._knots[comp.name]

    def run(self, root: Node, *, only_under_timeouts: bool) -> tuple[Estimate, Bound]:
        order, kids = _preorder(root)
        need = [False] * len(order)
        active = [not only_under_timeouts] * len(order)
        fine = [False] * len(order)
        for i, node in enumerate(order):
            per_try = node.op in ("fallback", "retry") and node.timeout is not None
            for c in kids[i]:
                need[c] = need[i] or node.op in _NEEDS_FAILURES
                active[c] = active[i] or per_try
                # The cut mass P(attempt ≤ τ) is only known to the grid's resolution at τ, and
                # it weighs every later try: subtrees cut by a timeout get a finer grid.
                fine[c] = fine[i] or (per_try and order[c].op != "leaf")
        estimates: list[Estimate | None] = [None] * len(order)
        bounds: list[Bound | None] = [None] * len(order)
        for i in reversed(range(len(order))):
            if not active[i] and not any(active[c] for c in kids[i]):
                continue
            node = order[i]
            ce = [e for e in (estimates[c] for c in kids[i]) if e is not None]
            cb = [b for b in (bounds[c] for c in kids[i]) if b is not None]
            if len(ce) != len(kids[i]):  # only the per-try subtrees below were evaluated
                continue
            if node.timeout is not None and node.op in ("fallback", "retry"):
                self._record_factors(node, ce, cb)
            if active[i]:
                # For the node at hand: finer under per-try timeouts.
                self.estimator.points = self.base * (FINE if fine[i] else 1)
                self.estimator.leaf_points = self.estimator.points // 2
                estimates[i] = self.estimator.estimate(node, ce, need[i])
                bounds[i] = self.bounder.bound(node, cb, need[i])
            for c in kids[i]:
                estimates[c] = bounds[c] = None
        first_e, first_b = estimates[0], bounds[0]
        if first_e is None or first_b is None:
            empty = Estimate(1.0, 1.0, grid.point_mass(1.0), None)
            return empty, Bound(np.zeros(self.levels.size), None, 1.0)
        return first_e, first_b

    # --- timeouts ---------------------------------------------------------------------------

    def _record_factors(self, node: Node, ce: list[Estimate], cb: list[Bound]) -> None:
        tau = node.timeout
        assert tau is not None
        for i, (child, est, bnd) in enumerate(zip(node.children, ce, cb, strict=True)):
            key = node.path if node.op == "retry" else fallback_factor_key(node, i)
            if child.op == "leaf":
                value = _leaf_cdf(child, self.components, tau, conditional=True)
                self.factors[key] = TimeoutFactor(value, value)
                continue
            lo, hi = grid.cdf_at(est.latency, tau)
            self.factors[key] = TimeoutFactor(
                (lo + hi) / 2.0,
                float(anydep.level_cdf(bnd.success, np.array([tau]), self.levels)[0]),
            )
