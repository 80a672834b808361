"""Predicted effect of injected Istio faults on calls to a host, as intervals over shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.discover.config_evidence import (
    ConfigEvidence,
    FaultEvidence,
    RouteEntry,
    virtual_service_key,
)
from bot.spec.domain import Provenance


@dataclass(frozen=True)
class FaultEffect:
    """What injected faults do to calls to one host, as intervals over unknown traffic shares.

    availability_factor: multiply the host's availability by a value in this range (aborts
      happen in the caller's proxy before routing, so retries cannot mask them).
    delayed_share: share of calls delayed by between `min_delay` and `max_delay` seconds
      (both 0 when nothing is delayed).
    """

    host: str
    availability_factor: tuple[float, float]
    delayed_share: tuple[float, float]
    min_delay: float
    max_delay: float
    sources: tuple[Provenance, ...]

    def hull(self, other: FaultEffect) -> FaultEffect:
        """The smallest effect covering both (when it is unknown which one applies)."""
        a, b = self, other
        delaying = [e for e in (a, b) if e.max_delay > 0] or [a]
        return FaultEffect(
            a.host,
            (
                min(a.availability_factor[0], b.availability_factor[0]),
                max(a.availability_factor[1], b.availability_factor[1]),
            ),
            (
                min(a.delayed_share[0], b.delayed_share[0]),
                max(a.delayed_share[1], b.delayed_share[1]),
            ),
            min(e.min_delay for e in delaying),
            max(a.max_delay, b.max_delay),
            a.sources + b.sources,
        )

    def availability(self, a: float) -> tuple[float, float]:
        return a * self.availability_factor[0], a * self.availability_factor[1]

    def delayed_cdf(self, cdf: Callable[[float], float], t: float) -> tuple[float, float]:
        """Bounds on P(latency ≤ t) once the faults apply, given the undelayed CDF."""
        low = cdf(t) - self.delayed_share[1] * (cdf(t) - cdf(t - self.max_delay))
        high = cdf(t) - self.delayed_share[0] * (cdf(t) - cdf(t - self.min_delay))
        return low, high


def fault_effects(
    evidence: ConfigEvidence, rule_shares: Mapping[tuple[str, int], float] | None = None
) -> dict[str, FaultEffect]:
    """Per host with faults: the effect on availability and latency of calls to it.

    `rule_shares` may give the share of a host's requests that a match-routed rule takes,
    keyed by (host, rule index); a rule without a known share may take any share left. When
    several VirtualServices route the host (a flagged conflict), the effect spans them all.
    """
    out: dict[str, FaultEffect] = {}
    for host in sorted({f.host for f in evidence.faults}):
        for vs in sorted({virtual_service_key(r) for r in evidence.routes.get(host, ())}):
            routes = [r for r in evidence.routes.get(host, ()) if virtual_service_key(r) == vs]
            effect = _vs_fault_effect(host, vs, routes, evidence.faults, rule_shares or {})
            if effect is not None and host in out:
                effect = out[host].hull(effect)
            if effect is not None:
                out[host] = effect
    return out


def _vs_fault_effect(
    host: str,
    vs: tuple[str, str],
    routes: Sequence[RouteEntry],
    all_faults: Sequence[FaultEvidence],
    shares: Mapping[tuple[str, int], float],
) -> FaultEffect | None:
    rules = sorted({r.rule for r in routes if r.reachable})
    faults = [
        f for f in all_faults if f.host == host and virtual_service_key(f) == vs and f.rule in rules
    ]
    if not rules:
        return None
    factor = dict.fromkeys(rules, 1.0)
    delayed = dict.fromkeys(rules, 0.0)
    for f in faults:
        if f.kind == "abort":
            factor[f.rule] *= 1.0 - f.share
        else:
            delayed[f.rule] = max(delayed[f.rule], f.share)
    known = {i: shares[(host, i)] for i in rules if (host, i) in shares}
    if any(not 0.0 <= s <= 1.0 for s in known.values()) or sum(known.values()) > 1.0 + 1e-12:
        raise ValueError(f"rule shares for {host} must lie in [0, 1] and sum to at most 1")
    unknown = [i for i in rules if i not in known]
    catch_all = {r.rule for r in routes if r.reachable and not r.matches}
    if len(unknown) == 1 and unknown[0] in catch_all:
        known[unknown[0]] = 1.0 - sum(known.values())
        unknown = []
    delays = [f.delay_seconds for f in faults if f.delay_seconds is not None]
    return FaultEffect(
        host,
        _mix(factor, known, unknown),
        _mix(delayed, known, unknown),
        min(delays, default=0.0),
        max(delays, default=0.0),
        tuple(f.source for f in faults),
    )


def _mix(
    value: Mapping[int, float], known: Mapping[int, float], unknown: Sequence[int]
) -> tuple[float, float]:
    fixed = sum(known[i] * value[i] for i in known)
    rest = 1.0 - sum(known.values())
    if not unknown:
        # Shares that do not reach 1 with no rule left: requests no rule matches are not routed.
        total = sum(known.values())
        point = fixed / total if total > 0 else 1.0
        return point, point
    low = fixed + rest * min(value[i] for i in unknown)
    high = fixed + rest * max(value[i] for i in unknown)
    return low, high
