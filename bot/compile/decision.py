"""The per-journey decision rule (PASS / FAIL / REVIEW) with the reasons behind it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.compile.result import AvailabilityBounds, Decision, QuantileBound
from bot.spec.domain import JourneyModel


def fmt(value: float, digits: int = 8) -> str:
    """A number as people read it in reasons: rounded, trailing zeros dropped."""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


@dataclass(frozen=True)
class PendingDelta:
    """A model change under review: its evidence confidence, flags and impact on A⁻."""

    confidence: float | None
    flags: tuple[str, ...]
    delta_pessimistic: float


def decide(
    model: JourneyModel,
    bounds: AvailabilityBounds,
    latency: dict[str, QuantileBound] | None,
    *,
    confidence: float | None,
    flags: Sequence[str] = (),
    pending: PendingDelta | None = None,
) -> tuple[Decision, list[str]]:
    """DESIGN.md's rule, in order: weak evidence → REVIEW; a gating bound misses → FAIL;
    a high-impact delta is pending → REVIEW; otherwise PASS."""
    gov = model.governance
    reasons: list[str] = []
    threshold = gov.auto_accept_confidence
    evidence_conf = pending.confidence if pending is not None else confidence
    all_flags = [*flags, *(pending.flags if pending else ())]
    if evidence_conf is not None and evidence_conf < threshold:
        reasons.append(
            f"evidence confidence {fmt(evidence_conf, 4)} < autoAcceptConfidence "
            f"{fmt(threshold, 4)}"
        )
    reasons.extend(f"evidence flag: {flag}" for flag in all_flags)
    if reasons:
        return "REVIEW", reasons

    bound_name = gov.use_bounds_for_automation.availability
    gating = bounds.get(bound_name)
    target = model.objective.availability_target
    if gating < target:
        reasons.append(f"{bound_name} {fmt(gating)} < target {fmt(target)}")
    lat_key, lat_threshold = model.objective.latency_key, model.objective.latency_threshold
    use_upper = gov.use_bounds_for_automation.latency == "upperConfidence"
    lat_value: float | None = None
    if latency is not None and lat_key is not None and lat_threshold is not None:
        q = latency[lat_key]
        lat_value = q.upper if use_upper else q.estimate
        if lat_value > lat_threshold:
            which = "upper" if use_upper else "estimate"
            reasons.append(
                f"{lat_key} {which} {fmt(lat_value, 4)}s > threshold {fmt(lat_threshold, 4)}s"
            )
    if reasons:
        return "FAIL", reasons

    if pending is not None and abs(pending.delta_pessimistic) >= gov.high_impact_delta:
        return "REVIEW", [
            f"high-impact model delta pending: ΔA⁻ = {pending.delta_pessimistic:+.8f}"
            f" (|ΔA⁻| ≥ {fmt(gov.high_impact_delta)})"
        ]
    reasons.append(f"{bound_name} {fmt(gating)} ≥ target {fmt(target)}")
    if lat_value is not None and lat_threshold is not None:
        reasons.append(f"{lat_key} {fmt(lat_value, 4)}s ≤ threshold {fmt(lat_threshold, 4)}s")
    return "PASS", reasons
