"""Binomial evidence helpers: Wilson score intervals and Beta posteriors for observed shares."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Two-sided 95% normal quantile, Φ⁻¹(0.975).
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Share:
    """An observed share `successes / trials` with a confidence interval around it."""

    successes: int
    trials: int
    low: float
    high: float

    @property
    def point(self) -> float:
        """The observed share; 0 when there were no trials."""
        return self.successes / self.trials if self.trials else 0.0


def wilson_interval(successes: int, trials: int, z: float = Z95) -> Share:
    """Wilson score interval for a binomial share (95% by default); [0, 1] with no trials.

    Unlike the normal (Wald) interval it stays inside [0, 1] and does not collapse to a point
    at 0 or n successes, which is what small trace samples need.
    """
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")
    if trials == 0:
        return Share(0, 0, 0.0, 1.0)
    p = successes / trials
    z2 = z * z
    denom = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denom
    # Exact ends where the data pins them: rounding must not push 0/n or n/n off the boundary.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Share(successes, trials, low, high)


def wilson_lower(successes: int, trials: int, z: float = Z95) -> float:
    """Lower end of the Wilson interval: a conservative confidence that the share holds."""
    return wilson_interval(successes, trials, z).low


@dataclass(frozen=True)
class BetaPosterior:
    """Beta(alpha, beta) belief about a success probability after binomial observations."""

    alpha: float
    beta: float

    @classmethod
    def observe(
        cls, successes: int, trials: int, prior_alpha: float = 0.5, prior_beta: float = 0.5
    ) -> BetaPosterior:
        """Posterior after `successes` of `trials`; the default prior is Jeffreys' Beta(½, ½)."""
        if trials < 0 or successes < 0 or successes > trials:
            raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")
        return cls(prior_alpha + successes, prior_beta + trials - successes)

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def variance(self) -> float:
        total = self.alpha + self.beta
        return self.alpha * self.beta / (total * total * (total + 1.0))

    def cdf(self, x: float) -> float:
        return regularized_incomplete_beta(self.alpha, self.beta, x)

    def quantile(self, q: float) -> float:
        """Inverse CDF by bisection (the CDF is monotone; 60 halvings reach float precision)."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be in [0, 1], got {q}")
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if self.cdf(mid) < q:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    def interval(self, mass: float = 0.95) -> tuple[float, float]:
        """Equal-tailed credible interval holding `mass` of the posterior."""
        tail = (1.0 - mass) / 2
        return self.quantile(tail), self.quantile(1.0 - tail)


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the Beta(a, b) CDF at x, by Lentz's continued fraction."""
    if a <= 0 or b <= 0:
        raise ValueError(f"Beta parameters must be positive, got ({a}, {b})")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    # The fraction converges fast only left of the mean; use the symmetry I_x(a,b)=1-I_{1-x}(b,a).
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return result
