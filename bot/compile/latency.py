"""Journey latency quantiles: an independence estimate with a guaranteed bracket, and a bound that
holds under any dependence between hops.

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

`estimate` treats every leaf occurrence and every attempt as independent (a component referenced
twice is drawn twice here, unlike in the availability bounds). Each node keeps a bracket on its
success probability, the law of its successes' latency and, where a parent needs it, the
sub-probability law of its failures' durations, each CDF bracketed from both sides on a grid of
at most `grid_points` points (see `latency_grid`): sums are FFT convolutions, the grid step
doubles as ranges grow with outward rounding, and every operator above is monotone in those
laws, so the root's bracket contains the exact independence quantile (tails below 1e-13 are cut
soundly; quantile levels within 1e-9 of 1 are not covered). The estimate is the bracket's
midpoint. The grid is uniform: a quantile far below the support's end gets few cells. A subtree
cut by a per-try timeout is evaluated on a grid FINE times finer, since P(attempt ≤ τ) weighs
every later try; an atom exactly at a timeout (an attempt cut again at its own τ) still leaves
the bracket spanning both outcomes.

`upper` keeps, per node, quantile bounds of its success-conditioned latency valid for any joint law
of the hops with the given marginals (and of the attempt's duration, success or not, where a
parent needs it), plus a worst-case lower bound A on its success probability: series = Makarov
(best split of the miss budget), parallel = Fréchet on the maximum, race = the larger of
max_i A_i·L_i(t − i·d) and 1 − Σ(1 − L_i(t − i·d))/A, fallback and retry ≤ the sum of all attempts
each cut at its timeout, branch = the better of Σ w_i A_i L_i and 1 − Σ w_i(1 − L_i)/A, quorum =
Fréchet on "k of n succeeded by t", optional = its child's duration, async = 0. Summing per-hop
quantiles is not a bound. Within a leaf, latency is taken as independent of the outcome (the
curve describes every request), so a leaf's success within its timeout is a·F(τ).

Timeouts: `timeout_factors` reports F(τ) for every node that carries one — a leaf's own timeout,
and each attempt of a retry or fallback with a per-try timeout — with the independence value and a
lower bound valid under any dependence. A subtree without latency evidence has CDF 1: its timeouts
never fire.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from bot.compile import latency_bounds as anydep
from bot.compile import latency_grid as grid
from bot.compile.latency_bounds import Levels
from bot.compile.latency_grid import Array, Attempt, GridCdf, Knots
from bot.compile.result import QuantileBound, TimeoutFactor
from bot.spec.domain import ComponentModel, Node

T = TypeVar("T")

MIN_GRID_POINTS = 16
# Resolution factor for subtrees under a per-try timeout.
FINE = 8
# Children of these operators must also report how long a failed attempt takes.
_NEEDS_FAILURES = frozenset({"fallback", "retry", "optional"})


@dataclass(frozen=True)
class _Estimate:
    """A node's laws under independence: P(success) in [ok_lo, ok_hi], the latency law of its
    successes, and the sub-probability law of its failures' durations (when an ancestor needs
    it). Keeping the success mass apart from the latency law keeps mass brackets out of sums."""

    ok_lo: float
    ok_hi: float
    latency: GridCdf
    failure: GridCdf | None

    @property
    def success(self) -> GridCdf:
        """The sub-probability law of successes."""
        g = self.latency
        return GridCdf(g.exp, g.lo * self.ok_lo, g.hi * self.ok_hi)


def _conditioned(success: GridCdf, failure: GridCdf | None) -> _Estimate:
    ok_lo, ok_hi, latency = grid.condition(success)
    return _Estimate(ok_lo, ok_hi, latency, failure)


@dataclass(frozen=True)
class _Bound:
    success: Array  # quantile bounds of the success-conditioned latency, per level
    duration: Array | None  # quantile bounds of the attempt's duration, success or not
    availability: float  # lower bound on P(success) under any dependence


def retriable_share(node: Node, components: Mapping[str, ComponentModel]) -> float:
    """Share of a retry's failed attempts that are retried."""
    if node.retriable_share is not None:
        return node.retriable_share
    child = node.children[0]
    if child.op == "leaf" and child.component is not None:
        share = components[child.component].retriable_share
        if share is not None:
            return share
    return 1.0


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


def _balanced(items: Sequence[T], pair: Callable[[T, T], T]) -> T:
    """Combine neighbours pairwise, level by level: sums stay balanced, so rounding stays small."""
    row = list(items)
    while len(row) > 1:
        row = [
            pair(row[i], row[i + 1]) if i + 1 < len(row) else row[i] for i in range(0, len(row), 2)
        ]
    return row[0]


class _Engine:
    """One bottom-up pass computing both the independence laws and the any-dependence bounds."""

    def __init__(self, components: Mapping[str, ComponentModel], grid_points: int, levels: Levels):
        self.components = components
        self.base = max(grid_points, MIN_GRID_POINTS)
        self.points = self.base  # for the node at hand: finer under per-try timeouts
        # Leaves start at half resolution: their first sums then fit without coarsening.
        self.leaf_points = self.base // 2
        self.levels = levels
        self.factors: dict[str, TimeoutFactor] = {}
        self._knots: dict[str, Knots | None] = {}

    def knots(self, node: Node) -> tuple[ComponentModel, Knots | None]:
        """A leaf's component and its latency curve as arrays (converted once per component)."""
        comp = self.components[node.component or ""]
        if comp.name not in self._knots:
            self._knots[comp.name] = None if comp.latency is None else Knots.of(comp.latency)
        return comp, self._knots[comp.name]

    def run(self, root: Node, *, only_under_timeouts: bool) -> tuple[_Estimate, _Bound]:
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
        estimates: list[_Estimate | None] = [None] * len(order)
        bounds: list[_Bound | None] = [None] * len(order)
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
                self.points = self.base * (FINE if fine[i] else 1)
                self.leaf_points = self.points // 2
                estimates[i] = self._estimate(node, ce, need[i])
                bounds[i] = self._bound(node, cb, need[i])
            for c in kids[i]:
                estimates[c] = bounds[c] = None
        first_e, first_b = estimates[0], bounds[0]
        if first_e is None or first_b is None:
            empty = _Estimate(1.0, 1.0, grid.point_mass(1.0), None)
            return empty, _Bound(np.zeros(self.levels.size), None, 1.0)
        return first_e, first_b

    # --- timeouts ---------------------------------------------------------------------------

    def _record_factors(self, node: Node, ce: list[_Estimate], cb: list[_Bound]) -> None:
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

    # --- independence ---------------------------------------------------------------------------

    def _attempt(self, node: Node, child: _Estimate, timeout: float | None) -> Attempt:
        """One try of the child subtree, cut at the per-try timeout."""
        assert child.failure is not None
        if timeout is not None and node.op == "leaf":  # the curve gives the cut mass exactly
            comp, knots = self.knots(node)
            own = math.inf if node.timeout is None else node.timeout
            s, f = grid.curve_grid(knots, comp.availability, min(own, timeout), self.leaf_points)
            return Attempt(s, f, f)
        cut = grid.clip_attempt(child.success, child.failure, timeout)
        s, f, r = (
            grid.fit(g.exp, g.lo, g.hi, self.points) for g in (cut.success, cut.failed, cut.retried)
        )
        # Back to this node's resolution; the cut masses stay as computed on the finer grid.
        return Attempt(s, f, r, cut.cut_lo, cut.cut_hi, cut.timeout)

    def _estimate(self, node: Node, ce: list[_Estimate], need: bool) -> _Estimate:
        k = self.points
        op = node.op
        fail = [c.failure for c in ce if c.failure is not None]
        if op == "leaf":
            comp, knots = self.knots(node)
            s, f = grid.curve_grid(knots, comp.availability, node.timeout, self.leaf_points)
            return _conditioned(s, f if need else None)
        if op == "series":
            return _balanced(ce, self._series_pair)
        if op == "parallel":
            n = len(ce)
            return _Estimate(
                math.prod(c.ok_lo for c in ce),
                math.prod(c.ok_hi for c in ce),
                grid.pointwise([c.latency for c in ce], lambda r: r.prod(axis=0), k),
                grid.pointwise(
                    [c.success for c in ce] + fail, lambda r: anydep.some_failed(r, n), k
                )
                if need
                else None,
            )
        if op == "fallback":
            return self._fallback(node, ce, need)
        if op == "retry":
            return self._retry(node, ce[0], need)
        if op == "optional":
            assert ce[0].failure is not None
            _, _, latency = grid.condition(grid.add(ce[0].success, ce[0].failure, k))
            return _Estimate(1.0, 1.0, latency, grid.point_mass(0.0))
        if op == "async":
            return _Estimate(1.0, 1.0, grid.point_mass(1.0), grid.point_mass(0.0))
        succ = [c.success for c in ce]
        if op == "race":
            delays = [i * node.hedge_delay for i in range(len(succ))]
            return _conditioned(
                grid.pointwise(succ, lambda r: 1.0 - np.prod(1.0 - r, axis=0), k, delays),
                grid.pointwise(fail, lambda r: r.prod(axis=0), k, delays) if need else None,
            )
        if op == "branch":
            w = np.asarray(node.weights, dtype=np.float64)
            return _conditioned(
                grid.pointwise(succ, lambda r: w @ r, k),
                grid.pointwise(fail, lambda r: w @ r, k) if need else None,
            )
        n, req = len(succ), node.required  # quorum
        return _conditioned(
            grid.pointwise(succ, lambda r: anydep.at_least(r, req), k),
            grid.pointwise(succ + fail, lambda r: anydep.all_done_too_few(r, n, req), k)
            if need
            else None,
        )

    def _series_pair(self, a: _Estimate, b: _Estimate) -> _Estimate:
        k = self.points
        failure = None
        if a.failure is not None and b.failure is not None:
            failure = grid.add(a.failure, grid.convolve(a.success, b.failure, k), k)
        latency = grid.convolve(a.latency, b.latency, k)
        return _Estimate(a.ok_lo * b.ok_lo, a.ok_hi * b.ok_hi, latency, failure)

    def _fallback(self, node: Node, ce: list[_Estimate], need: bool) -> _Estimate:
        k = self.points
        tries = [self._attempt(c, e, node.timeout) for c, e in zip(node.children, ce, strict=True)]
        # Horner: S1 + F1 * (S2 + F2 * (S3 + ...)), the failed tries' times before each success.
        total = tries[-1].success
        for attempt in reversed(tries[:-1]):
            total = grid.add(attempt.success, attempt.then(total, k), k)
        if not need:
            return _conditioned(total, None)
        return _conditioned(
            total, _balanced([t.failed for t in tries], lambda a, b: grid.convolve(a, b, k))
        )

    def _retry(self, node: Node, child: _Estimate, need: bool) -> _Estimate:
        k = self.points
        attempt = self._attempt(node.children[0], child, node.timeout)
        share = retriable_share(node, self.components)
        final = grid.scale(attempt.failed, 1.0 - share)
        # Horner over the tries: S + R * (S + R * (...)); a failure ends on a final failure.
        total, failed = attempt.success, attempt.failed
        for _ in range(node.attempts - 1):
            total = grid.add(attempt.success, attempt.then(total, k, share), k)
            if need:
                failed = grid.add(
                    final, grid.convolve(grid.scale(attempt.failed, share), failed, k), k
                )
        return _conditioned(total, failed if need else None)

    # --- any dependence -------------------------------------------------------------------------

    def _sum(self, bounds: list[Array]) -> Array:
        return _balanced(bounds, lambda a, b: anydep.minplus(a, b, self.levels))

    def _bound(self, node: Node, cb: list[_Bound], need: bool) -> _Bound:
        lv, op = self.levels, node.op
        eps = lv.eps
        succ = [b.success for b in cb]
        dur = [b.duration for b in cb if b.duration is not None]
        avail = np.array([b.availability for b in cb])
        ones, zeros = [1.0] * len(cb), [0.0] * len(cb)
        if op == "leaf":
            return self._leaf_bound(node, need)
        if op in ("series", "parallel"):
            a = max(0.0, 1.0 - float(np.sum(1.0 - avail)))
            if op == "series":
                return _Bound(self._sum(succ), self._sum(dur) if need else None, a)
            return _Bound(
                anydep.linear_bound(succ, ones, zeros, eps, lv),
                anydep.linear_bound(dur, ones, zeros, eps, lv) if need else None,
                a,
            )
        if op == "race":
            return self._race_bound(node, cb, need)
        if op == "branch":
            w = list(node.weights)
            a = float(np.dot(w, avail))
            joint = anydep.linear_bound(
                succ, list(np.multiply(w, avail)), zeros, eps - (1.0 - a), lv
            )
            conditional = anydep.linear_bound(succ, w, zeros, eps * a, lv)
            return _Bound(
                np.minimum(joint, conditional),
                anydep.linear_bound(dur, w, zeros, eps - (1.0 - sum(w)), lv) if need else None,
                a,
            )
        if op == "quorum":
            return _Bound(
                anydep.quorum_bound(succ, avail, node.required, lv),
                anydep.linear_bound(dur, ones, zeros, eps, lv) if need else None,
                float(anydep.frechet_at_least(avail[:, None], node.required)[0]),
            )
        if op in ("fallback", "retry"):
            tau = node.timeout
            cut = dur if tau is None else [np.minimum(d, tau) for d in dur]
            within = (
                np.ones(len(cb))
                if tau is None
                else np.array([anydep.level_cdf(q, np.array([tau]), lv)[0] for q in succ])
            )
            total = (
                self._sum(cut)
                if op == "fallback"
                else anydep.repeat(cut[0], node.attempts, lambda x, y: anydep.minplus(x, y, lv))
            )
            return _Bound(total, total, float(np.max(avail * within)))
        if op == "optional":
            return _Bound(dur[0], dur[0], 1.0)
        return _Bound(np.zeros(lv.size), np.zeros(lv.size), 1.0)  # async

    def _leaf_bound(self, node: Node, need: bool) -> _Bound:
        comp, knots = self.knots(node)
        probs = 1.0 - self.levels.eps
        if knots is None:
            return _Bound(np.zeros(len(probs)), np.zeros(len(probs)), comp.availability)
        within = 1.0 if node.timeout is None else knots.at(node.timeout)
        duration = None
        if need:
            duration = knots.quantiles(probs)
            if node.timeout is not None:
                duration = np.minimum(duration, node.timeout)
        return _Bound(knots.quantiles(probs * within), duration, comp.availability * within)

    def _race_bound(self, node: Node, cb: list[_Bound], need: bool) -> _Bound:
        lv = self.levels
        shifts = [i * node.hedge_delay for i in range(len(cb))]
        a = max(b.availability for b in cb)
        succ = [b.success for b in cb]
        # One branch alone: P(ok_i, T_i ≤ t) ≥ A_i·L_i(t); or: a late success needs some branch
        # late, P(ok, T > t) ≤ Σ(1 − L_i), conditioned on P(ok) ≥ A.
        alone = anydep.any_alone(succ, [b.availability for b in cb], shifts, lv)
        success = np.minimum(
            alone, anydep.linear_bound(succ, [1.0] * len(cb), shifts, lv.eps * a, lv)
        )
        dur = [b.duration for b in cb if b.duration is not None]
        return _Bound(
            success,
            anydep.linear_bound(dur, [1.0] * len(cb), shifts, lv.eps, lv) if need else None,
            a,
        )
