"""A discovered model against the accepted one: typed changes, and their predicted impact.

The impact is not estimated: the accepted model that accepting would produce is built
(`accept.apply_changes`) and the journey is compiled with it, exactly as `emac compile`
would after `emac accept`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.compile.decision import PendingDelta, decide
from bot.compile.pipeline import compile_model
from bot.compile.result import CompiledJourney
from bot.discover import confidence as conf
from bot.discover.accept import accepted_doc, accepted_document, apply_changes, model_with_accepted
from bot.discover.model_build import Discovery, FaultFinding, Found, span_sources
from bot.emit.yamlout import dump_yaml
from bot.spec.delta import (
    BasedOn,
    Bounds,
    BranchWeightsChange,
    Change,
    EdgeChange,
    EvidenceFile,
    EvidenceSource,
    FailureDomainChange,
    FaultPrediction,
    LatencyBound,
    ModelDelta,
    ModelDeltaSpec,
    PolicyChange,
    PredictedImpact,
    Prediction,
    RedundancyChange,
)
from bot.spec.domain import JourneyModel, LatencyCurve
from bot.spec.models import (
    AcceptedJourneyModel,
    DiscoveredJourneyModel,
    DomainAssignment,
    JourneyModelSpec,
    ModelConfidence,
    ModelFailureDomains,
    RedundancyGroup,
    Topology,
    TopologyNode,
)
from bot.spec.wire import ObjectMeta, wire_document
from bot.spec.yamlpos import YamlDocument, parse_yaml_text

WEIGHT_TOLERANCE = 1e-9


# --- typed changes ------------------------------------------------------------------------------


def diff_models(accepted: AcceptedJourneyModel, discovery: Discovery) -> list[Change]:
    """Every way the discovered model differs from the accepted one, in a stable order."""
    return [
        *_edge_changes(accepted, discovery),
        *_group_changes(accepted, discovery),
        *_branch_changes(accepted, discovery),
        *_policy_changes(accepted, discovery),
        *_domain_changes(accepted, discovery),
    ]


def _evidence(found: Found[Any]) -> dict[str, Any]:
    """The confidence, flags and provenance a change carries from the finding behind it."""
    return {
        "confidence": found.confidence,
        "flags": list(found.flags),
        "provenance": list(found.provenance),
    }


def _edge_changes(accepted: AcceptedJourneyModel, discovery: Discovery) -> list[EdgeChange]:
    known = {(e.from_, e.to): e for e in accepted.spec.topology.edges}
    out = [
        EdgeChange(kind="edge-added", after=f.item, **_evidence(f))
        for f in discovery.edges
        if (f.item.from_, f.item.to) not in known
    ]
    n = discovery.journey_traces
    if not n:
        return out  # without traces, absence says nothing
    files = sorted({p.file for p in discovery.traces.provenance()})
    for (caller, callee), edge in known.items():
        if discovery.edge(caller, callee) is None and {caller, callee} <= set(
            discovery.coverage.expected
        ):
            signal = f"no journey trace has {caller} calling {callee}"
            sources = [EvidenceSource(file=f, signal=signal) for f in files]
            absent = conf.support_confidence(n, n)
            out.append(
                EdgeChange(kind="edge-removed", before=edge, confidence=absent, provenance=sources)
            )
    return out


def _same_group(a: RedundancyGroup, b: RedundancyGroup) -> bool:
    return (a.pattern, set(a.group)) == (b.pattern, set(b.group))


def _group_changes(accepted: AcceptedJourneyModel, discovery: Discovery) -> list[RedundancyChange]:
    known = [g for g in accepted.spec.redundancy if g.pattern != "branch"]
    out = [
        RedundancyChange(kind="redundancy-group", after=f.item, **_evidence(f))
        for f in discovery.groups
        if not any(_same_group(g, f.item) for g in known)
    ]
    for g in known:
        if g.pattern != "race" or len(g.group) != 2:
            continue
        if any(_same_group(g, f.item) for f in discovery.groups):
            continue
        # Two providers one request calls that never overlap are not racing.
        callers = sorted({e.item.from_ for e in discovery.edges})
        found = (discovery.traces.sibling(c, g.group[0], g.group[1]) for c in callers)
        sib = next((s for s in found if s is not None and s.traces), None)
        if sib is not None:
            apart = conf.support_confidence(sib.traces - sib.overlapping, sib.traces)
            sources = span_sources(sib.provenance, f"calls {sib.relation}")
            out.append(
                RedundancyChange(
                    kind="redundancy-group", before=g, confidence=apart, provenance=sources
                )
            )
    return out


def _branch_changes(
    accepted: AcceptedJourneyModel, discovery: Discovery
) -> list[BranchWeightsChange]:
    out: list[BranchWeightsChange] = []
    for f in discovery.branches:
        heads = f.item.heads
        before: list[float] | None = None
        for g in accepted.spec.redundancy:
            if g.pattern == "branch" and set(g.group) == set(heads) and g.weights:
                by_head, total = dict(zip(g.group, g.weights, strict=True)), sum(g.weights)
                before = [by_head[h] / total for h in heads] if total > 0 else None
        # A weight the evidence's interval still allows is not a change.
        if before is None or any(
            not lo - WEIGHT_TOLERANCE <= w <= hi + WEIGHT_TOLERANCE
            for w, (lo, hi) in zip(before, f.item.intervals, strict=True)
        ):
            change = BranchWeightsChange(
                kind="branch-weights",
                group=list(heads),
                before=before,
                after=list(f.item.weights),
                **_evidence(f),
            )
            out.append(change)
    return out


def _policy_changes(accepted: AcceptedJourneyModel, discovery: Discovery) -> list[PolicyChange]:
    known = {p.target: p for p in accepted.spec.policies}
    return [
        PolicyChange(
            kind="call-policy",
            target=f.item.target,
            before=known.get(f.item.target),
            after=f.item,
            **_evidence(f),
        )
        for f in discovery.policies
        if known.get(f.item.target) != f.item
    ]


def _domain_changes(
    accepted: AcceptedJourneyModel, discovery: Discovery
) -> list[FailureDomainChange]:
    known = [(d.name, set(d.members)) for d in accepted.spec.failure_domains.inferred]
    members: dict[str, set[str]] = {}
    for f in discovery.domains:
        for name in f.item.names:
            members.setdefault(name, set()).add(f.item.component)
    # A discovered domain with exactly an accepted domain's members is that domain: only who
    # shares fate with whom matters to the bounds, not what the evidence calls it.
    same = {n: next((a for a, m in known if m == ms), n) for n, ms in members.items()}
    out: list[FailureDomainChange] = []
    for f in discovery.domains:
        before = sorted(a for a, m in known if f.item.component in m)
        after = sorted({same[n] for n in f.item.names})
        if before != after:
            target = f.item.component
            out.append(
                FailureDomainChange(
                    kind="failure-domain", target=target, before=before, after=after, **_evidence(f)
                )
            )
    return out


# --- predicted impact ----------------------------------------------------------------------------


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


# --- the delta document --------------------------------------------------------------------------


def discovered_document(discovery: Discovery) -> DiscoveredJourneyModel:
    """The DiscoveredJourneyModel: every statement discovery made, with the journey's confidence."""
    members: dict[str, list[str]] = {}
    strength: dict[str, float] = {}
    for d in discovery.domains:
        for name in d.item.names:
            members.setdefault(name, []).append(d.item.component)
            strength[name] = min(strength.get(name, 1.0), d.confidence)
    labels = {d.item.component: _label_map(d.item.names) for d in discovery.domains}
    branches = [
        RedundancyGroup(pattern="branch", group=list(b.item.heads), weights=list(b.item.weights))
        for b in discovery.branches
    ]
    spec = JourneyModelSpec(
        confidence=discovery_confidence(discovery),
        topology=Topology(
            nodes=[TopologyNode(id=c, labels=labels.get(c, {})) for c in discovery.coverage.seen],
            edges=[e.item for e in discovery.edges],
        ),
        redundancy=[*(g.item for g in discovery.groups), *branches],
        failure_domains=ModelFailureDomains(
            inferred=[
                DomainAssignment(name=n, members=m, confidence=strength[n])
                for n, m in members.items()
            ]
        ),
        policies=[p.item for p in discovery.policies],
    )
    return DiscoveredJourneyModel(
        api_version="emac.dev/v1alpha1",
        kind="DiscoveredJourneyModel",
        metadata=ObjectMeta(name=discovery.journey),
        spec=spec,
    )


def _label_map(domains: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in domains:
        key, _, value = name.partition("=")
        out[key] = value
    return out


def discovery_confidence(discovery: Discovery) -> ModelConfidence:
    return ModelConfidence(
        overall=discovery.confidence, notes=list(discovery.notes), flags=list(discovery.flags)
    )


def propose_delta(
    docs: Mapping[str, list[YamlDocument]],
    discovery: Discovery,
    changes: Sequence[Change],
    *,
    accepted_file: str,
    accepted_text: str,
    based_on: BasedOn,
    evidence: Sequence[EvidenceFile],
) -> ModelDelta:
    """The delta `emac discover` writes and a review proposes: the changes against the accepted
    model (`accepted_file` in `docs`, its text `accepted_text`), with their predicted impact."""
    impact = predict_impact(
        docs, discovery.journey, accepted_file, accepted_text, changes, discovery
    )
    return ModelDelta(
        api_version="emac.dev/v1alpha1",
        kind="ModelDelta",
        metadata=ObjectMeta(name=discovery.journey),
        spec=ModelDeltaSpec(
            journey=discovery.journey,
            based_on=based_on,
            evidence=list(evidence),
            confidence=discovery_confidence(discovery),
            changes=list(changes),
            predicted_impact=impact,
        ),
    )


CHANGE_KEYS = ("kind", "target", "group", "before", "after", "confidence", "flags", "provenance")


def delta_document(delta: ModelDelta) -> dict[str, Any]:
    """The delta as written: each change reads kind, subject, before → after, then evidence."""
    doc = wire_document(delta)
    doc["spec"]["changes"] = [
        {k: change[k] for k in CHANGE_KEYS if k in change} for change in doc["spec"]["changes"]
    ]
    return doc
