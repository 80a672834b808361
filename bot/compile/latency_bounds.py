"""Quantile bounds at probability levels, sound under any dependence between hops."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from bot.compile.latency_grid import PROBABILITY_SLACK, Array

T = TypeVar("T")


class Levels:
    """Probability levels p_j = 1 − e_j (e ascending from 0 to 1) at which quantile bounds are kept.

    A bound array Q has Q[j] with P(T ≤ Q[j]) ≥ p_j, non-increasing in j, Q[-1] = 0 (p = 0).
    """

    def __init__(self, exact: Iterable[float], *, smallest: float = 1e-8, ratio: float = 1.12):
        geometric = smallest * ratio ** np.arange(math.ceil(math.log(1 / smallest, ratio)))
        e = np.unique(np.concatenate([[0.0, 1.0], geometric[geometric < 1.0], list(exact)]))
        self.eps: Array = e
        self.size = len(e)
        self.gap: Array = np.diff(e)
        # Splits of each budget e_k into e_j + (the rest, rounded down to a level), j ≤ k, as
        # flat index arrays row by row: a sum's bound is one gather and one reduceat.
        k, j = np.tril_indices(self.size)
        self.split_first, self.split_rest = j, self.down(e[k] - e[j])
        self.split_rows = np.flatnonzero(np.diff(k, prepend=-1))

    def down(self, x: Array) -> NDArray[np.intp]:
        """Index of the largest e_j ≤ x (the sentinel `size` when x < 0)."""
        idx = np.searchsorted(self.eps, x, side="right") - 1
        return np.where(idx < 0, self.size, idx)

    def index(self, q: float) -> int:
        """Index of the level bounding the q-quantile (the smallest p_j ≥ q)."""
        return int(self.down(np.array([1.0 - q]))[0])


def _with_sentinel(q: Array) -> Array:
    return np.append(q, math.inf)


def minplus(a: Array, b: Array, levels: Levels) -> Array:
    """Quantile bounds of a sum under any dependence: the best split of the miss budget."""
    sums = a[levels.split_first] + b[levels.split_rest]
    out: Array = np.minimum.reduceat(sums, levels.split_rows)
    out[-1] = 0.0
    return out


def level_cdf(q: Array, t: Array, levels: Levels) -> Array:
    """L(t) = max{p_j : Q[j] ≤ t}, the CDF lower bound that Q encodes."""
    count = np.searchsorted(q[::-1], t, side="right")
    return 1.0 - np.append(levels.eps, 1.0)[levels.size - count]


def from_cdf(points: Array, cdf: Array, levels: Levels) -> Array:
    """Q[j] = the first of the sorted `points` where the non-decreasing `cdf` reaches p_j."""
    idx = np.searchsorted(cdf, 1.0 - levels.eps, side="left")
    out = np.where(idx < len(points), points[np.minimum(idx, len(points) - 1)], math.inf)
    out[-1] = 0.0
    return out


def linear_bound(
    bounds: Sequence[Array],
    coefs: Sequence[float],
    shifts: Sequence[float],
    budget: Array,
    levels: Levels,
) -> Array:
    """Q[j] = min{t : Σ c_i (1 − L_i(t − s_i)) ≤ budget[j]}: mixtures, unions and maxima."""
    bp = np.concatenate([q[:-1] + s for q, s in zip(bounds, shifts, strict=True)])
    jumps = np.concatenate([c * levels.gap for c in coefs])
    order = np.argsort(bp, kind="stable")
    points, total = bp[order], float(sum(coefs))
    missing = total - np.cumsum(jumps[order])  # Σ c_i (1 − L_i) just after each point
    slack = PROBABILITY_SLACK * max(1.0, total)
    idx = np.searchsorted(-missing, -(budget - slack), side="left")
    out = np.where(idx < len(points), points[np.minimum(idx, len(points) - 1)], math.inf)
    out = np.where(budget - slack >= total, 0.0, out)
    # A zero budget asks for every term to be complete: exactly the largest top quantile.
    top = max(
        (float(q[0]) + s for q, c, s in zip(bounds, coefs, shifts, strict=True) if c > 0),
        default=0.0,
    )
    out = np.where(np.abs(budget) <= slack, top, np.where(budget < -slack, math.inf, out))
    out[-1] = 0.0
    return out


def quorum_bound(bounds: Sequence[Array], availability: Array, k: int, levels: Levels) -> Array:
    """Quantile bounds of the k-th success: Fréchet on "k of n succeeded by t", each member
    with P(ok_i, T_i ≤ t) ≥ A_i·L_i(t); or a late success needs a late member, conditioned on
    the quorum's own worst-case success probability."""
    points = np.unique(np.concatenate([q[:-1] for q in bounds] + [np.zeros(1)]))
    cdfs = np.stack([level_cdf(q, points, levels) for q in bounds])
    joint = frechet_at_least(availability[:, None] * cdfs, k)
    a = float(frechet_at_least(availability[:, None], k)[0])
    missing = (1.0 - cdfs).sum(axis=0)
    conditional = 1.0 - missing / a if a > 0.0 else (missing <= 0.0).astype(np.float64)
    return from_cdf(points, np.maximum.accumulate(np.maximum(joint, conditional)), levels)


def any_alone(
    bounds: Sequence[Array], availability: Sequence[float], shifts: Sequence[float], levels: Levels
) -> Array:
    """Q[j] = min over i of s_i + (the time by which P(ok_i, T_i ≤ t) ≥ p_j), from
    P(ok_i, T_i ≤ t) ≥ A_i·L_i(t)."""
    out = np.full(levels.size, math.inf)
    for q, a, s in zip(bounds, availability, shifts, strict=True):
        if a > 0.0:
            need = levels.eps if a >= 1.0 else 1.0 - (1.0 - levels.eps) / a
            out = np.minimum(out, s + _with_sentinel(q)[levels.down(need)])
    out[-1] = 0.0
    return out


def balanced(items: Sequence[T], pair: Callable[[T, T], T]) -> T:
    """Combine neighbours pairwise, level by level: sums stay balanced, so rounding stays small."""
    row = list(items)
    while len(row) > 1:
        row = [
            pair(row[i], row[i + 1]) if i + 1 < len(row) else row[i] for i in range(0, len(row), 2)
        ]
    return row[0]


# --- independent combinations, row-wise on stacked CDF values ---------------------------------


def repeat(x: Array, times: int, combine: Callable[[Array, Array], Array]) -> Array:
    """x combined with itself `times` times, by doubling."""
    result: Array | None = None
    while times:
        if times & 1:
            result = x if result is None else combine(result, x)
        times >>= 1
        if times:
            x = combine(x, x)
    assert result is not None
    return result


def frechet_at_least(probs: Array, k: int) -> Array:
    """Lower bound on P(at least k of the events) from their probabilities (rows), any dependence:
    max over the top-m events, m ≥ k, of (Σ p − (k − 1)) / (m − k + 1)."""
    top = np.cumsum(np.sort(probs, axis=0)[::-1], axis=0)[k - 1 :]
    sizes = np.arange(k, probs.shape[0] + 1, dtype=np.float64)[:, None]
    bound: Array = np.clip(np.max((top - (k - 1)) / (sizes - k + 1), axis=0), 0.0, 1.0)
    return bound


def some_failed(rows: Array, n: int) -> Array:
    """P(every branch done by t and not all succeeded) from success rows then failure rows."""
    all_ok = np.ones(rows.shape[1])
    some_failed = np.zeros(rows.shape[1])
    for s, f in zip(rows[:n], rows[n:], strict=True):
        some_failed = some_failed * (s + f) + all_ok * f
        all_ok = all_ok * s
    result: Array = some_failed
    return result


def at_least(rows: Array, k: int) -> Array:
    """P(at least k of independent events), the events' probabilities as rows."""
    dp = np.zeros((k + 1, rows.shape[1]))
    dp[0] = 1.0
    for p in rows:
        nxt = np.empty_like(dp)
        nxt[k] = dp[k] + dp[k - 1] * p  # k successes is absorbing: "at least k"
        nxt[1:k] = dp[1:k] * (1.0 - p) + dp[: k - 1] * p
        nxt[0] = dp[0] * (1.0 - p)
        dp = nxt
    result: Array = dp[k]
    return result


def all_done_too_few(rows: Array, n: int, k: int) -> Array:
    """P(every member done by t with fewer than k successes) from success then failure rows."""
    dp = np.zeros((k, rows.shape[1]))
    dp[0] = 1.0
    for s, f in zip(rows[:n], rows[n:], strict=True):
        nxt = dp * f
        nxt[1:] += dp[:-1] * s
        dp = nxt
    result: Array = dp.sum(axis=0)
    return result
