"""Leaf latency evidence (percentiles, histograms, OpenSLO threshold SLOs) as CDF curves."""

from __future__ import annotations

import itertools
import math
import re

from bot.spec.build_context import BuildContext, provenance, quantile_of_metric, resolve_slo
from bot.spec.domain import LatencyCurve, Provenance
from bot.spec.journey import LeafLatency
from bot.spec.yamlpos import PathKey


def leaf_latency(ctx: BuildContext, lat: LeafLatency | None, path: PathKey) -> LatencyCurve | None:
    if lat is None:
        return None
    given = [k for k in ("percentiles", "histogram", "slo_ref") if getattr(lat, k) is not None]
    if len(given) != 1:
        ctx.problems.append(
            ctx.doc.problem(path, "give exactly one of percentiles, histogram or sloRef")
        )
        return None
    src = provenance(ctx.doc, path)
    points: list[tuple[float, float]] = []
    if lat.percentiles is not None:
        for key, seconds in lat.percentiles.items():
            if not re.fullmatch(r"p\d+(\.\d+)?", key) or not 0 < quantile_of_metric(key) < 1:
                ctx.problems.append(
                    ctx.doc.problem(
                        (*path, "percentiles", key),
                        f"'{key}' is not a percentile like p50, p99, p999",
                        key=True,
                    )
                )
                return None
            points.append((seconds, quantile_of_metric(key)))
    elif lat.histogram is not None:
        buckets = lat.histogram.buckets
        total = buckets[-1].count
        if total <= 0:
            ctx.problems.append(
                ctx.doc.problem(
                    (*path, "histogram", "buckets"),
                    "the last bucket must count at least one request",
                )
            )
            return None
        for i, b in enumerate(buckets):
            if i and (b.le <= buckets[i - 1].le or b.count < buckets[i - 1].count):
                ctx.problems.append(
                    ctx.doc.problem(
                        (*path, "histogram", "buckets", i),
                        "buckets must have increasing le and cumulative (non-decreasing) counts",
                    )
                )
                return None
            if math.isinf(b.le):
                continue
            points.append((b.le, b.count / total))
        # A trailing +Inf bucket leaves the tail open: _curve closes it at `max` (or twice the
        # last finite bound), so the counts in the +Inf bucket are kept, not dropped.
    else:
        assert lat.slo_ref is not None
        slo = resolve_slo(ctx, lat.slo_ref, (*path, "sloRef"))
        if slo is None:
            return None
        for i, o in enumerate(slo.model.spec.objectives):
            ratio = o.ratio()
            if o.value is None or ratio is None or o.op not in ("lt", "lte"):
                ctx.problems.append(
                    slo.doc.problem(
                        ("spec", "objectives", i),
                        "a latency SLO objective needs op lt/lte, value (seconds) and target",
                    )
                )
                return None
            points.append((o.value, ratio))
        src = provenance(slo.doc, ("spec", "objectives"))
    return _curve(ctx, points, lat.max, src, path)


def _curve(
    ctx: BuildContext,
    points: list[tuple[float, float]],
    max_seconds: float | None,
    src: Provenance,
    path: PathKey,
) -> LatencyCurve | None:
    points.sort(key=lambda p: p[1])
    for (t0, _), (t1, _) in itertools.pairwise(points):
        if t1 < t0:
            ctx.problems.append(
                ctx.doc.problem(path, "latency must not decrease as the percentile grows")
            )
            return None
    knots: list[tuple[float, float]] = [(0.0, 0.0), *points]
    if knots[-1][1] < 1.0:
        # Without a stated maximum the tail beyond the last point is assumed to end at twice
        # that point: finite support keeps the grid bounded; state `max` to be explicit.
        end = max_seconds if max_seconds is not None else 2.0 * knots[-1][0]
        if end < knots[-1][0]:
            ctx.problems.append(
                ctx.doc.problem(
                    (*path, "max"), f"max {end} is below the highest percentile {knots[-1][0]}"
                )
            )
            return None
        knots.append((end, 1.0))
    return LatencyCurve(tuple(knots), src)


# --- operator tree ------------------------------------------------------------------------------
