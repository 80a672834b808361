"""Per-operator latency laws of a node under independence, bracketed on the grid.

`estimate` treats every leaf occurrence and every attempt as independent (a component referenced
twice is drawn twice here, unlike in the availability bounds). Each node keeps a bracket on its
success probability, the law of its successes' latency and, where a parent needs it, the
sub-probability law of its failures' durations, each CDF bracketed from both sides on a grid of
at most `grid_points` points (see `latency_grid`): sums are FFT convolutions, the grid step
doubles as ranges grow with outward rounding, and every operator of the model (see `latency`) is
monotone in those laws, so the root's bracket contains the exact independence quantile (tails
below 1e-13 are cut soundly; quantile levels within 1e-9 of 1 are not covered). The estimate is
the bracket's midpoint. The grid is uniform: a quantile far below the support's end gets few
cells. A subtree cut by a per-try timeout is evaluated on a grid FINE times finer, since
P(attempt ≤ τ) weighs every later try; an atom exactly at a timeout (an attempt cut again at its
own τ) still leaves the bracket spanning both outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from bot.compile import latency_bounds as anydep
from bot.compile import latency_grid as grid
from bot.compile.latency_bounds import balanced
from bot.compile.latency_grid import Attempt, GridCdf, Knots
from bot.spec.domain import ComponentModel, Node


@dataclass(frozen=True)
class Estimate:
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


def conditioned(success: GridCdf, failure: GridCdf | None) -> Estimate:
    ok_lo, ok_hi, latency = grid.condition(success)
    return Estimate(ok_lo, ok_hi, latency, failure)


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


class Estimator:
    """The independence laws of one node from its children's, at the resolution set for it."""

    def __init__(
        self,
        components: Mapping[str, ComponentModel],
        knots: Callable[[Node], tuple[ComponentModel, Knots | None]],
        points: int,
    ):
        self.components = components
        self.knots = knots
        self.points = points
        # Leaves start at half resolution: their first sums then fit without coarsening.
        self.leaf_points = points // 2

    def _attempt(self, node: Node, child: Estimate, timeout: float | None) -> Attempt:
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

    def estimate(self, node: Node, ce: list[Estimate], need: bool) -> Estimate:
        k = self.points
        op = node.op
        fail = [c.failure for c in ce if c.failure is not None]
        if op == "leaf":
            comp, knots = self.knots(node)
            s, f = grid.curve_grid(knots, comp.availability, node.timeout, self.leaf_points)
            return conditioned(s, f if need else None)
        if op == "series":
            return balanced(ce, self._series_pair)
        if op == "parallel":
            n = len(ce)
            return Estimate(
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
            return Estimate(1.0, 1.0, latency, grid.point_mass(0.0))
        if op == "async":
            return Estimate(1.0, 1.0, grid.point_mass(1.0), grid.point_mass(0.0))
        succ = [c.success for c in ce]
        if op == "race":
            delays = [i * node.hedge_delay for i in range(len(succ))]
            return conditioned(
                grid.pointwise(succ, lambda r: 1.0 - np.prod(1.0 - r, axis=0), k, delays),
                grid.pointwise(fail, lambda r: r.prod(axis=0), k, delays) if need else None,
            )
        if op == "branch":
            w = np.asarray(node.weights, dtype=np.float64)
            return conditioned(
                grid.pointwise(succ, lambda r: w @ r, k),
                grid.pointwise(fail, lambda r: w @ r, k) if need else None,
            )
        n, req = len(succ), node.required  # quorum
        return conditioned(
            grid.pointwise(succ, lambda r: anydep.at_least(r, req), k),
            grid.pointwise(succ + fail, lambda r: anydep.all_done_too_few(r, n, req), k)
            if need
            else None,
        )

    def _series_pair(self, a: Estimate, b: Estimate) -> Estimate:
        k = self.points
        failure = None
        if a.failure is not None and b.failure is not None:
            failure = grid.add(a.failure, grid.convolve(a.success, b.failure, k), k)
        latency = grid.convolve(a.latency, b.latency, k)
        return Estimate(a.ok_lo * b.ok_lo, a.ok_hi * b.ok_hi, latency, failure)

    def _fallback(self, node: Node, ce: list[Estimate], need: bool) -> Estimate:
        k = self.points
        tries = [self._attempt(c, e, node.timeout) for c, e in zip(node.children, ce, strict=True)]
        # Horner: S1 + F1 * (S2 + F2 * (S3 + ...)), the failed tries' times before each success.
        total = tries[-1].success
        for attempt in reversed(tries[:-1]):
            total = grid.add(attempt.success, attempt.then(total, k), k)
        if not need:
            return conditioned(total, None)
        return conditioned(
            total, balanced([t.failed for t in tries], lambda a, b: grid.convolve(a, b, k))
        )

    def _retry(self, node: Node, child: Estimate, need: bool) -> Estimate:
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
        return conditioned(total, failed if need else None)
