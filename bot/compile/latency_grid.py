"""Latency laws under independence on outward-rounded time grids (a guaranteed bracket)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bot.spec.domain import LatencyCurve

Array = NDArray[np.float64]

# Step exponent of a grid that holds nothing but a point mass at zero: coarser than nothing.
POINT_EXP = -1000
# Below this many points a direct convolution beats the FFT.
_DIRECT_CONVOLUTION = 48
# Slack for floating-point noise when a probability is compared with a level.
PROBABILITY_SLACK = 1e-10
# Tail mass a grid may drop: the lower side moves it to infinity, the upper side to the cut.
TAIL_MASS = 1e-13
# Bound on the mass all those cuts drop together in one compile (far fewer than 10^4 cuts).
LOST_MASS = 1e-9


@dataclass(frozen=True)
class GridCdf:
    """A sub-probability CDF F bracketed on the grid t_k = k·2**exp, k = 0..n-1.

    For every t in [t_k, t_k+1): lo[k] ≤ F(t) ≤ hi[k]; past the last point both keep their last
    value, so all mass lies in [0, t_{n-1}]. A leaf's lo is the CDF of its mass rounded up to grid
    points (a stochastically larger law), hi of its mass rounded down; every operator here is
    monotone in both, so the bracket survives composition.
    """

    exp: int
    lo: Array
    hi: Array

    @property
    def step(self) -> float:
        return math.ldexp(1.0, self.exp)

    @property
    def size(self) -> int:
        return len(self.lo)


def point_mass(mass: float) -> GridCdf:
    """`mass` at t = 0 (a zero-latency outcome)."""
    return GridCdf(POINT_EXP, np.array([mass]), np.array([mass]))


def _pad(values: Array, n: int) -> Array:
    if len(values) >= n:
        return values
    return np.concatenate([values, np.full(n - len(values), values[-1])])


def _coarse_size(n: int, shift: int) -> int:
    return n if n == 1 else (2 if shift >= n.bit_length() else -(-(n - 1) >> shift) + 1)


def coarsen(g: GridCdf, exp: int) -> GridCdf:
    """The same law on the grid of step 2**exp ≥ g.step, rounding outward (lo up, hi down)."""
    if exp <= g.exp:
        return g
    n, shift = g.size, exp - g.exp
    if n == 1:
        return GridCdf(exp, g.lo, g.hi)
    if shift >= n.bit_length():  # every point lands in the first coarse cell
        return GridCdf(exp, g.lo[[0, -1]], g.hi[[-1, -1]])
    factor = 1 << shift
    j = np.arange(_coarse_size(n, shift))
    return GridCdf(
        exp, g.lo[np.minimum(j * factor, n - 1)], g.hi[np.minimum(j * factor + factor - 1, n - 1)]
    )


def fit(exp: int, lo: Array, hi: Array, max_points: int) -> GridCdf:
    """A grid law with at most max_points points, coarsened by the least power of two needed.

    A far tail holding less than TAIL_MASS is cut first (soundly, see TAIL_MASS), so long
    supports with a negligible tail do not stretch the grid.
    """
    end = int(np.searchsorted(lo, lo[-1] - TAIL_MASS, side="left"))
    if end < len(lo) - 1:
        lo, hi = lo[: end + 1], np.append(hi[:end], hi[-1])
    n, shift = len(lo), 0
    while _coarse_size(n, shift) > max_points:
        shift += 1
    return coarsen(GridCdf(exp, lo, hi), exp + shift)


def _least_exp(span: float, max_points: int) -> int:
    """The finest step exponent that spans `span` seconds in max_points points."""
    return POINT_EXP if span <= 0.0 else math.ceil(math.log2(span / (max_points - 1)))


def stack(
    laws: Sequence[GridCdf], delays: Sequence[float], max_points: int
) -> tuple[int, Array, Array]:
    """Laws delayed by `delays` seconds on one common grid: (exp, lo rows, hi rows).

    A delay d moves lo by ceil(d/h) cells and hi by floor(d/h), which keeps both bounds sound.
    """
    exp = max(_least_exp(max(delays), max_points), *(g.exp for g in laws))

    def cells(shift_exp: int, d: float) -> int:
        return math.ceil(d / math.ldexp(1.0, shift_exp))

    while (
        max(
            _coarse_size(g.size, max(0, exp - g.exp)) + cells(exp, d)
            for g, d in zip(laws, delays, strict=True)
        )
        > max_points
    ):
        exp += 1
    step = math.ldexp(1.0, exp)
    rows_lo: list[Array] = []
    rows_hi: list[Array] = []
    for g, d in zip(laws, delays, strict=True):
        c = coarsen(g, exp)
        up, down = math.ceil(d / step), math.floor(d / step)
        rows_lo.append(np.concatenate([np.zeros(up), c.lo]))
        rows_hi.append(np.concatenate([np.zeros(down), c.hi]))
    n = max(len(r) for r in rows_lo + rows_hi)
    return (exp, np.stack([_pad(r, n) for r in rows_lo]), np.stack([_pad(r, n) for r in rows_hi]))


def pointwise(
    laws: Sequence[GridCdf],
    combine: Callable[[Array], Array],
    max_points: int,
    delays: Sequence[float] | None = None,
) -> GridCdf:
    """Apply `combine` (rows → row, non-decreasing in every row) to lo and hi separately."""
    exp, lo, hi = stack(laws, delays or [0.0] * len(laws), max_points)
    return GridCdf(exp, np.maximum.accumulate(combine(lo)), np.maximum.accumulate(combine(hi)))


def add(a: GridCdf, b: GridCdf, max_points: int) -> GridCdf:
    return pointwise([a, b], lambda rows: rows.sum(axis=0), max_points)


def scale(g: GridCdf, factor: float) -> GridCdf:
    return GridCdf(g.exp, g.lo * factor, g.hi * factor)


# Lengths 2^i·3^j·5^k: FFTs of these are fast, and far fewer pad a sum's length to double.
_FFT_SIZES: list[int] = sorted(
    size
    for size in (
        int((1 << i) * 3**j * 5**k) for i in range(24) for j in range(15) for k in range(10)
    )
    if size <= 1 << 23
)


def _fft_size(n: int) -> int:
    return _FFT_SIZES[bisect.bisect_left(_FFT_SIZES, n)]


def _masses(g: GridCdf) -> Array:
    """Point masses of lo (row 0) and hi (row 1)."""
    out = np.empty((2, g.size))
    out[0, 0], out[1, 0] = g.lo[0], g.hi[0]
    np.subtract(g.lo[1:], g.lo[:-1], out=out[0, 1:])
    np.subtract(g.hi[1:], g.hi[:-1], out=out[1, 1:])
    return out


def convolve(a: GridCdf, b: GridCdf, max_points: int) -> GridCdf:
    """The law of the sum of independent draws (sub-probability masses multiply)."""
    if a.size == 1 or b.size == 1:  # one of them is a point mass at zero: just scale
        point, other = (a, b) if a.size == 1 else (b, a)
        return GridCdf(other.exp, other.lo * point.lo[0], other.hi * point.hi[0])
    exp = max(a.exp, b.exp)
    a, b = coarsen(a, exp), coarsen(b, exp)
    pa, pb = _masses(a), _masses(b)
    n = a.size + b.size - 1
    if min(a.size, b.size) <= _DIRECT_CONVOLUTION:
        mass = np.stack([np.convolve(pa[i], pb[i]) for i in range(2)])
    else:
        size = _fft_size(n)
        mass = np.fft.irfft(np.fft.rfft(pa, size) * np.fft.rfft(pb, size), size)[:, :n]
    cdf = np.maximum.accumulate(np.cumsum(mass, axis=1), axis=1)
    return fit(exp, cdf[0], cdf[1], max_points)


@dataclass(frozen=True)
class Attempt:
    """One try of a fallback or retry: how it succeeds, fails, and hands over to the next try.

    `failed` bounds the failure law (for how long a failing journey takes). The journey after a
    failed try is `retried` (failures before the cut) continued by the rest, plus the mass cut at
    the timeout (cut_lo/cut_hi, per side) continued from `timeout` on. Each side there comes from
    one consistent law, so the cut mass does not count twice; cut_hi may be negative.
    """

    success: GridCdf
    failed: GridCdf
    retried: GridCdf
    cut_lo: float = 0.0
    cut_hi: float = 0.0
    timeout: float = 0.0

    def then(self, rest: GridCdf, max_points: int, share: float = 1.0) -> GridCdf:
        """The law of "this try fails, the failure is retried (probability `share`), then `rest`
        follows" (a sub-probability CDF bracket)."""
        after = convolve(scale(self.retried, share), rest, max_points)
        if self.cut_lo == 0.0 and self.cut_hi == 0.0:
            return after
        exp = max(after.exp, rest.exp, _least_exp(self.timeout, max_points))
        while (
            _coarse_size(rest.size, exp - rest.exp) + math.ceil(self.timeout / math.ldexp(1.0, exp))
            > max_points
        ):
            exp += 1
        after, rest = coarsen(after, exp), coarsen(rest, exp)
        cells = self.timeout / math.ldexp(1.0, exp)
        # A positive mass moves later on the lo side and earlier on the hi side; a negative
        # one the other way round.
        lo = _delay(rest.lo, math.ceil(cells)) * (self.cut_lo * share)
        hi = _delay(rest.hi, math.floor(cells) if self.cut_hi >= 0 else math.ceil(cells))
        n = max(after.size, len(lo), len(hi))
        return fit(
            exp,
            np.maximum.accumulate(_pad(after.lo, n) + _pad(lo, n)),
            np.maximum.accumulate(_pad(after.hi, n) + _pad(hi * (self.cut_hi * share), n)),
            max_points,
        )


def _delay(values: Array, cells: int) -> Array:
    return np.concatenate([np.zeros(cells), values])


def clip_attempt(success: GridCdf, failure: GridCdf, timeout: float | None) -> Attempt:
    """A try cut at `timeout`: later successes become failures that last exactly `timeout`.

    success and failure are the try's sub-probability laws (their masses add up to one).
    """
    if timeout is None:
        return Attempt(success, failure, failure)
    exp = max(success.exp, failure.exp)
    s, f = coarsen(success, exp), coarsen(failure, exp)
    step = math.ldexp(1.0, exp)
    if timeout >= (max(s.size, f.size) - 1) * step:  # all mass already ends by the timeout
        return Attempt(success, failure, failure)
    k = math.floor(timeout / step)  # the cell holding the timeout
    before = math.ceil(timeout / step) - 1  # the last cell starting before the timeout
    n = k + 2
    s_lo, s_hi, f_lo, f_hi = (_pad(v, n)[:n].copy() for v in (s.lo, s.hi, f.lo, f.hi))
    cut = GridCdf(exp, _pad(s_lo[: k + 1], k + 2), _pad(s_hi[: k + 1], k + 2))
    failed_lo = np.concatenate([f_lo[: before + 1], [max(f_lo[before], 1.0 - s_hi[k])]])
    failed_hi = np.concatenate([f_hi[:k], [max(f_hi[k], 1.0 - s_lo[k])]])
    retried = GridCdf(exp, f_lo[: before + 1], f_hi[: before + 1])
    return Attempt(
        cut,
        GridCdf(exp, failed_lo, _pad(failed_hi, len(failed_lo))),
        retried,
        max(0.0, 1.0 - s_lo[k] - f_lo[before]),
        1.0 - s_hi[k] - f_hi[before],
        timeout,
    )


def cdf_at(g: GridCdf, t: float) -> tuple[float, float]:
    """Bounds on F(t)."""
    k = min(math.floor(t / g.step), g.size - 1) if t >= 0 else -1
    return (0.0, 0.0) if k < 0 else (float(g.lo[k]), float(g.hi[k]))


def condition(law: GridCdf) -> tuple[float, float, GridCdf]:
    """Bounds on the mass of a sub-probability law and the bracket of the law it conditions to.

    Every law here keeps all its mass on [0, t_{n-1}] (up to LOST_MASS), so the conditioned
    law's lower side reaches one at the last point whatever the mass bracket.
    """
    mass_hi = min(1.0, float(law.hi[-1]))
    mass_lo = min(float(law.lo[-1]), mass_hi)
    if mass_hi <= 0.0:
        return 0.0, 0.0, point_mass(1.0)
    lo = law.lo / mass_hi
    lo[-1] = max(lo[-1], 1.0 - LOST_MASS)
    hi = np.minimum(1.0, law.hi / mass_lo) if mass_lo > 0.0 else np.ones(law.size)
    return mass_lo, mass_hi, GridCdf(law.exp, lo, hi)


def quantile_bracket(g: GridCdf, q: float) -> tuple[float, float]:
    """[a, b] containing the q-quantile of the probability law g."""
    first = int(np.searchsorted(g.hi, q - PROBABILITY_SLACK, side="left"))
    last = int(np.searchsorted(g.lo, q + PROBABILITY_SLACK, side="left"))
    return (min(first, g.size - 1) * g.step, min(last, g.size - 1) * g.step)


# --- leaf curves --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Knots:
    """A latency curve's knots as arrays, with the shape facts the fast paths rely on."""

    ts: Array
    ps: Array
    continuous: bool  # no jump: no two knots at one time
    invertible: bool  # no flat stretch: no two knots at one probability

    @classmethod
    def of(cls, curve: LatencyCurve) -> Knots:
        pairs = list(zip(curve.knots, curve.knots[1:], strict=False))
        continuous = all(t1 > t0 for (t0, _), (t1, _) in pairs)
        invertible = all(p1 > p0 for (_, p0), (_, p1) in pairs)
        pts = np.array(curve.knots, dtype=np.float64)
        return cls(pts[:, 0], pts[:, 1], continuous, invertible)

    @property
    def end(self) -> float:
        return float(self.ts[-1])

    def cdf(self, t: Array, *, left: bool = False) -> Array:
        """F(t) of the piecewise-linear curve, or its left limit F(t−) (they differ at jumps)."""
        ts, ps = self.ts, self.ps
        if self.continuous:
            return np.interp(t, ts, ps, left=0.0, right=1.0)
        i = np.clip(np.searchsorted(ts, t, side="left" if left else "right"), 1, len(ts) - 1)
        t0, t1, p0, p1 = ts[i - 1], ts[i], ps[i - 1], ps[i]
        width = np.where(t1 > t0, t1 - t0, 1.0)
        frac = np.where(t1 > t0, np.clip((t - t0) / width, 0.0, 1.0), 0.0 if left else 1.0)
        past_end = t > ts[-1] if left else t >= ts[-1]
        return np.where(t < ts[0], 0.0, np.where(past_end, 1.0, p0 + frac * (p1 - p0)))

    def at(self, t: float) -> float:
        return float(self.cdf(np.array([t]))[0])

    def quantiles(self, probs: Array) -> Array:
        """inf{t : F(t) ≥ p} for each p (0 for p = 0)."""
        ts, ps = self.ts, self.ps
        if self.invertible:
            return np.where(probs <= 0.0, 0.0, np.interp(probs, ps, ts))
        i = np.clip(np.searchsorted(ps, probs, side="left"), 1, len(ts) - 1)
        t0, t1, p0, p1 = ts[i - 1], ts[i], ps[i - 1], ps[i]
        span = np.where(p1 > p0, p1 - p0, 1.0)
        frac = np.where(p1 > p0, np.clip((probs - p0) / span, 0.0, 1.0), 1.0)
        return np.where(probs <= 0.0, 0.0, t0 + frac * (t1 - t0))


def curve_grid(
    curve: Knots | None, success: float, timeout: float | None, max_points: int
) -> tuple[GridCdf, GridCdf]:
    """A leaf attempt's success and failure laws; a failed request follows the same curve and
    a request still running at the timeout fails exactly then."""
    if curve is None:
        return point_mass(success), point_mass(1.0 - success)
    tau = math.inf if timeout is None else timeout
    end = min(curve.end, tau)
    if end <= 0.0:
        within = curve.at(0.0)
        return point_mass(success * within), point_mass(1.0 - success * within)
    exp = math.ceil(math.log2(end / (max_points - 2)))
    step = math.ldexp(1.0, exp)
    grid: Array = np.arange(math.ceil(end / step) + 2, dtype=np.float64) * step
    t = grid[:-1]
    f_at = curve.cdf(t)  # F(t_k): mass rounded up to t_k
    f_before_next = curve.cdf(grid[1:], left=True)  # F(t_k+1 −): mass rounded down
    ok_by_tau = success * curve.at(tau) if tau < math.inf else success
    s_lo = np.where(t <= tau, success * f_at, ok_by_tau)
    s_hi = np.where(t + step <= tau, success * f_before_next, ok_by_tau)
    f_lo = np.where(t < tau, (1.0 - success) * f_at, 1.0 - ok_by_tau)
    f_hi = np.where(t + step <= tau, (1.0 - success) * f_before_next, 1.0 - ok_by_tau)
    return GridCdf(exp, s_lo, s_hi), GridCdf(exp, f_lo, f_hi)
