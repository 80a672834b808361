"""The discovered model against the accepted one: typed changes, and the confidence behind them."""

from __future__ import annotations

from typing import Any

from bot.discover import confidence as conf
from bot.discover.model_build import Discovery, Found, span_sources
from bot.spec.delta import (
    BranchWeightsChange,
    Change,
    EdgeChange,
    EvidenceSource,
    FailureDomainChange,
    PolicyChange,
    RedundancyChange,
)
from bot.spec.models import AcceptedJourneyModel, ModelConfidence, RedundancyGroup

WEIGHT_TOLERANCE = 1e-9


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


def discovery_confidence(discovery: Discovery) -> ModelConfidence:
    return ModelConfidence(
        overall=discovery.confidence, notes=list(discovery.notes), flags=list(discovery.flags)
    )
