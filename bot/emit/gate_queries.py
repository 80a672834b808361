"""PromQL pieces of canary gate queries: journey-metric conventions, quantiles and ratio guards."""

from __future__ import annotations

import re

from bot.compile.result import CompiledJourney
from bot.emit.promql import clean, format_number
from bot.emit.promql_scan import canary_query, with_matcher


def quantile_of(cj: CompiledJourney, key: str) -> float:
    if key == cj.model.objective.latency_key and cj.model.objective.latency_quantile:
        return cj.model.objective.latency_quantile
    digits = key[1:]
    # `p99.9` is written as a percentage; `p999` reads its digits after the point, like 0.999.
    return float(digits) / 100 if "." in digits else int(digits) / 10 ** len(digits)


def with_quantile(promql: str, quantile: float) -> str:
    return re.sub(
        r"(histogram_quantile\(\s*)[0-9.eE+-]+",
        lambda m: m.group(1) + format_number(quantile),
        clean(promql),
        count=1,
    )


def convention_latency(journey: str, quantile: float) -> str:
    return canary_query(
        f"histogram_quantile(\n  {format_number(quantile)},\n  sum(rate(journey_latency_"
        f'seconds_bucket{{journey="{journey}"}}[{{{{ .window }}}}])) by (le)\n)'
    )


def convention_ratio(journey: str) -> tuple[str, str]:
    good = f'sum(rate(journey_requests_total{{journey="{journey}",result="success"}}[{{window}}]))'
    total = f'sum(rate(journey_requests_total{{journey="{journey}"}}[{{window}}]))'
    return with_matcher(good), with_matcher(total)


def or_zero(query: str) -> str:
    return f"({query} or vector(0))"


def positive(query: str) -> str:
    # `> 0` drops an idle canary (0/0 would read NaN and fail the check) instead of dividing.
    return f"({query} > 0)"


def indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())
