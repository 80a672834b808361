"""Predicted impact of accepting a delta: the journey compiled before, after and under faults.

The impact is not estimated: the accepted model that accepting would produce is built
(`accept.apply_changes`) and the journey is compiled with it, exactly as `emac compile`
would after `emac accept`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from bot.compile.decision import PendingDelta, decide
from bot.compile.pipeline import compile_model
from bot.compile.result import CompiledJourney
from bot.discover.accept import accepted_doc, accepted_document, apply_changes, model_with_accepted
from bot.discover.changes import discovery_confidence
from bot.discover.model_build import Discovery, FaultFinding
from bot.emit.yamlout import dump_yaml
from bot.spec.delta import (
    Bounds,
    Change,
    EvidenceSource,
    FaultPrediction,
    LatencyBound,
    PredictedImpact,
    Prediction,
)
from bot.spec.domain import JourneyModel, LatencyCurve
from bot.spec.models import AcceptedJourneyModel
from bot.spec.yamlpos import YamlDocument, parse_yaml_text


def _prediction(cj: CompiledJourney, decision: str, reasons: Sequence[str]) -> Prediction:
    a = cj.availability
    latency = (
        {k: LatencyBound(estimate=q.estimate, upper=q.upper) for k, q in cj.latency.items()}
        if cj.latency
        else None
    )
    bounds = Bounds(optimistic=a.optimistic, pessimistic=a.pessimistic, worst_case=a.worst_case)
    return Prediction.model_validate(
        {"availability": bounds, "latency": latency, "decision": decision, "reasons": list(reasons)}
    )


def predict_impact(
    docs: Mapping[str, list[YamlDocument]],
    journey: str,
    accepted_file: str,
    accepted_text: str,
    changes: Sequence[Change],
    discovery: Discovery,
) -> PredictedImpact:
    """Compile before (delta pending) and after (delta accepted); faults as a what-if."""
    before_model = model_with_accepted(docs, journey, accepted_file, accepted_text)
    current_doc = accepted_doc(parse_yaml_text(accepted_text, accepted_file), accepted_file)
    current = AcceptedJourneyModel.model_validate(current_doc.data)
    # The model `emac accept` would write: the changes, and the delta's confidence and flags.
    after_model_doc = apply_changes(current, changes, discovery_confidence(discovery))
    after_text = dump_yaml(accepted_document(after_model_doc), accepted_file)
    after_model = model_with_accepted(docs, journey, accepted_file, after_text)
    after = compile_model(after_model)
    before = compile_model(before_model)
    delta = after.availability.pessimistic - before.availability.pessimistic
    pending = PendingDelta(discovery.confidence, discovery.flags, delta)
    verdict, reasons = decide(
        before_model,
        before.availability,
        before.latency,
        confidence=before.confidence,
        flags=before.flags,
        pending=pending,
    )
    threshold = before_model.governance.high_impact_delta
    return PredictedImpact(
        before=_prediction(before, verdict, reasons),
        after=_prediction(after, after.decision, after.reasons),
        delta_pessimistic=delta,
        high_impact=abs(delta) >= threshold,
        high_impact_threshold=threshold,
        under_faults=_under_faults(after_model, discovery.faults),
    )


def _under_faults(
    model: JourneyModel, faults: Mapping[str, FaultFinding]
) -> FaultPrediction | None:
    """The model with every configured fault at its worst within the unknown traffic shares."""
    hit = [c for c in model.leaf_components() if c in faults]
    if not hit:
        return None
    components = dict(model.components)
    sources: list[EvidenceSource] = []
    for c in hit:
        effect, comp = faults[c].effect, components[c]
        latency = comp.latency
        if latency is not None and effect.max_delay > 0:
            latency = delayed_curve(latency, effect.delayed_share[1], effect.max_delay)
        availability = comp.availability * effect.availability_factor[0]
        components[c] = dataclasses.replace(comp, availability=availability, latency=latency)
        sources.extend(s for s in faults[c].provenance if s not in sources)
    cj = compile_model(dataclasses.replace(model, components=components))
    a = cj.availability
    return FaultPrediction.model_validate(
        {
            "components": hit,
            "note": "each faulted component at the worst its fault rules allow: the lowest "
            "availability factor and the largest delayed share, over the unknown share of "
            "requests the rules match",
            "availability": Bounds(
                optimistic=a.optimistic, pessimistic=a.pessimistic, worst_case=a.worst_case
            ),
            "latency": {
                k: {"estimate": q.estimate, "upper": q.upper} for k, q in cj.latency.items()
            }
            if cj.latency
            else None,
            "provenance": sources,
        }
    )


def delayed_curve(curve: LatencyCurve, share: float, delay: float) -> LatencyCurve:
    """The latency CDF when `share` of calls wait `delay` seconds more: (1−s)·F(t) + s·F(t−d).

    A mixture of two piecewise-linear CDFs is piecewise linear with knots at both sets of
    breakpoints, so the result is exact.
    """
    times = sorted({t for t, _ in curve.knots} | {t + delay for t, _ in curve.knots})
    knots = tuple(
        (t, (1.0 - share) * curve.cdf(t) + share * (curve.cdf(t - delay) if t >= delay else 0.0))
        for t in times
    )
    return LatencyCurve(knots, curve.source)
