"""The documents `emac discover` writes: the ModelDelta it proposes and the discovered model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.discover.changes import discovery_confidence
from bot.discover.impact import predict_impact
from bot.discover.model_build import Discovery
from bot.spec.delta import BasedOn, Change, EvidenceFile, ModelDelta, ModelDeltaSpec
from bot.spec.models import (
    DiscoveredJourneyModel,
    DomainAssignment,
    JourneyModelSpec,
    ModelFailureDomains,
    RedundancyGroup,
    Topology,
    TopologyNode,
)
from bot.spec.wire import ObjectMeta, wire_document
from bot.spec.yamlpos import YamlDocument


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
