"""Builders and Monte Carlo yardsticks shared by the latency engine tests."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from bot.spec.domain import ComponentModel, LatencyCurve
from tests.builders import HERE

Q = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}


def percentiles(points: Mapping[float, float], max_seconds: float) -> LatencyCurve:
    """A curve from (0, 0) through percentile points {probability: seconds} to (max, 1)."""
    knots = [(0.0, 0.0), *((t, p) for p, t in sorted(points.items())), (max_seconds, 1.0)]
    return LatencyCurve(tuple(knots), HERE)


def uniform(low: float, high: float) -> LatencyCurve:
    return LatencyCurve(((low, 0.0), (high, 1.0)), HERE)


def exponential(rate: float, knots: int = 4000, tail: float = 14.0) -> LatencyCurve:
    """Exp(rate) as a dense piecewise-linear curve, cut where 1e-6 of the mass is left."""
    t = np.linspace(0.0, tail / rate, knots)
    p = 1.0 - np.exp(-rate * t)
    return LatencyCurve((*zip(t.tolist(), p.tolist(), strict=True), (tail / rate, 1.0)), HERE)


def component(
    name: str,
    availability: float = 1.0,
    latency: LatencyCurve | None = None,
    retriable_share: float | None = None,
) -> ComponentModel:
    return ComponentModel(
        name=name,
        kind="service",
        availability=availability,
        availability_source=HERE,
        failure_domains=frozenset(),
        domains_source=HERE,
        latency=latency,
        retriable_share=retriable_share,
    )


def interval(samples: NDArray[np.float64], q: float, z: float = 5.0) -> tuple[float, float]:
    """A distribution-free confidence interval for the q-quantile from m samples.

    The count of samples at or below the true quantile is Binomial(m, q) (or more at an atom),
    so the true quantile lies between the empirical quantiles at q ∓ z·sqrt(q(1−q)/m) (plus one
    sample for rank rounding) except with probability about 2·Φ(−z): 6e-7 for z = 5.
    """
    m = len(samples)
    delta = z * math.sqrt(q * (1.0 - q) / m) + 1.0 / m
    lo = np.quantile(samples, max(0.0, q - delta), method="inverted_cdf")
    hi = np.quantile(samples, min(1.0, q + delta), method="inverted_cdf")
    return float(lo), float(hi)
