"""Per-operator latency quantile bounds of a node that hold under any dependence between hops.

`upper` keeps, per node, quantile bounds of its success-conditioned latency valid for any joint law
of the hops with the given marginals (and of the attempt's duration, success or not, where a
parent needs it), plus a worst-case lower bound A on its success probability: series = Makarov
(best split of the miss budget), parallel = Fréchet on the maximum, race = the larger of
max_i A_i·L_i(t − i·d) and 1 − Σ(1 − L_i(t − i·d))/A, fallback and retry ≤ the sum of all attempts
each cut at its timeout, branch = the better of Σ w_i A_i L_i and 1 − Σ w_i(1 − L_i)/A, quorum =
Fréchet on "k of n succeeded by t", optional = its child's duration, async = 0. Summing per-hop
quantiles is not a bound. Within a leaf, latency is taken as independent of the outcome (the
curve describes every request), so a leaf's success within its timeout is a·F(τ).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bot.compile import latency_bounds as anydep
from bot.compile.latency_bounds import Levels, balanced
from bot.compile.latency_grid import Array, Knots
from bot.spec.domain import ComponentModel, Node


@dataclass(frozen=True)
class Bound:
    """A node's latency and success bounds under any dependence between its hops."""

    success: Array  # quantile bounds of the success-conditioned latency, per level
    duration: Array | None  # quantile bounds of the attempt's duration, success or not
    availability: float  # lower bound on P(success) under any dependence


class Bounder:
    """The any-dependence bounds of one node from its children's, at the given levels."""

    def __init__(
        self, knots: Callable[[Node], tuple[ComponentModel, Knots | None]], levels: Levels
    ):
        self.knots = knots
        self.levels = levels

    def _sum(self, bounds: list[Array]) -> Array:
        return balanced(bounds, lambda a, b: anydep.minplus(a, b, self.levels))

    def bound(self, node: Node, cb: list[Bound], need: bool) -> Bound:
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
                return Bound(self._sum(succ), self._sum(dur) if need else None, a)
            return Bound(
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
            return Bound(
                np.minimum(joint, conditional),
                anydep.linear_bound(dur, w, zeros, eps - (1.0 - sum(w)), lv) if need else None,
                a,
            )
        if op == "quorum":
            return Bound(
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
            return Bound(total, total, float(np.max(avail * within)))
        if op == "optional":
            return Bound(dur[0], dur[0], 1.0)
        return Bound(np.zeros(lv.size), np.zeros(lv.size), 1.0)  # async

    def _leaf_bound(self, node: Node, need: bool) -> Bound:
        comp, knots = self.knots(node)
        probs = 1.0 - self.levels.eps
        if knots is None:
            return Bound(np.zeros(len(probs)), np.zeros(len(probs)), comp.availability)
        within = 1.0 if node.timeout is None else knots.at(node.timeout)
        duration = None
        if need:
            duration = knots.quantiles(probs)
            if node.timeout is not None:
                duration = np.minimum(duration, node.timeout)
        return Bound(knots.quantiles(probs * within), duration, comp.availability * within)

    def _race_bound(self, node: Node, cb: list[Bound], need: bool) -> Bound:
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
        return Bound(
            success,
            anydep.linear_bound(dur, [1.0] * len(cb), shifts, lv.eps, lv) if need else None,
            a,
        )
