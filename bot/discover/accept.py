"""Accepting a model delta: its changes applied to the accepted model, with who, when and why."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.compile.pipeline import models_from_documents
from bot.spec.delta import (
    BranchWeightsChange,
    Change,
    EdgeChange,
    FailureDomainChange,
    ModelDelta,
    PolicyChange,
    RedundancyChange,
)
from bot.spec.domain import JourneyModel
from bot.spec.errors import Location, SpecError, SpecProblem
from bot.spec.models import (
    Acceptance,
    AcceptedJourneyModel,
    DomainAssignment,
    JourneyModelSpec,
    ModelConfidence,
    RedundancyGroup,
    TopologyEdge,
    TopologyNode,
)
from bot.spec.precedence import apply_accepted_model
from bot.spec.wire import wire_document
from bot.spec.yamlpos import YamlDocument, parse_yaml_text


class DeltaMismatch(ValueError):
    """The delta was computed against another accepted model than the one given."""


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_based_on(delta: ModelDelta, accepted_file: str, accepted_bytes: bytes) -> None:
    """Refuse a delta made against a different accepted model (by the digest of its bytes)."""
    found = sha256_digest(accepted_bytes)
    expected = delta.spec.based_on
    if found != expected.digest:
        raise DeltaMismatch(
            f"the delta was made against {expected.file} at {expected.digest}, but "
            f"{accepted_file} is now {found}: the accepted model changed since discovery "
            "ran; run `emac discover` again against the current accepted model"
        )


def apply_changes(
    accepted: AcceptedJourneyModel,
    changes: Sequence[Change],
    confidence: ModelConfidence | None = None,
) -> AcceptedJourneyModel:
    """The accepted model with every change applied and, if given, the delta's confidence
    (the acceptance block is left as it was)."""
    spec = accepted.spec
    edges = list(spec.topology.edges)
    redundancy = list(spec.redundancy)
    policies = list(spec.policies)
    inferred = [(d.name, list(d.members), d.confidence) for d in spec.failure_domains.inferred]
    for change in changes:
        if isinstance(change, EdgeChange):
            edges = _apply_edge(edges, change)
        elif isinstance(change, BranchWeightsChange):
            redundancy = _apply_weights(redundancy, change)
        elif isinstance(change, RedundancyChange):
            redundancy = [g for g in redundancy if not _same_group(g, change.before)]
            redundancy.extend([change.after] if change.after else [])
        elif isinstance(change, PolicyChange):
            policies = [p for p in policies if p.target != change.target]
            policies.extend([change.after] if change.after else [])
        elif isinstance(change, FailureDomainChange):
            inferred = _apply_domains(inferred, change)
    known = [n.id for n in spec.topology.nodes]
    nodes = list(spec.topology.nodes)
    for edge in edges:
        for end in (edge.from_, edge.to):
            if end not in known:
                known.append(end)
                nodes.append(TopologyNode(id=end))
    domains = spec.failure_domains.model_copy(
        update={
            "inferred": [
                DomainAssignment(name=n, members=m, confidence=c) for n, m, c in inferred if m
            ]
        }
    )
    new_spec = spec.model_copy(
        update={
            "topology": spec.topology.model_copy(update={"nodes": nodes, "edges": edges}),
            "redundancy": redundancy,
            "policies": policies,
            "failure_domains": domains,
            "confidence": confidence or spec.confidence,
        }
    )
    return accepted.model_copy(update={"spec": new_spec})


def accept_delta(
    accepted: AcceptedJourneyModel,
    delta: ModelDelta,
    *,
    accepted_by: str,
    accepted_at: datetime,
    delta_digest: str,
) -> AcceptedJourneyModel:
    """The new accepted model: changes applied, the delta's confidence, and who/when/which."""
    applied = apply_changes(accepted, delta.spec.changes, delta.spec.confidence)
    acceptance = Acceptance(
        accepted_by=accepted_by,
        accepted_at=accepted_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        from_delta=delta_digest,
        based_on=delta.spec.based_on.digest,
        evidence_digests=[f"{e.digest} {e.file}" for e in delta.spec.evidence],
    )
    spec: JourneyModelSpec = applied.spec.model_copy(update={"acceptance": acceptance})
    return applied.model_copy(update={"spec": spec})


def accepted_document(model: AcceptedJourneyModel) -> dict[str, Any]:
    """The wire form, as written to the accepted model file (no nulls, no empty metadata)."""
    return wire_document(model)


def _apply_edge(edges: list[TopologyEdge], change: EdgeChange) -> list[TopologyEdge]:
    side = change.after or change.before
    assert side is not None
    kept = [e for e in edges if (e.from_, e.to) != (side.from_, side.to)]
    return [*kept, change.after] if change.after else kept


def _same_group(group: RedundancyGroup, other: RedundancyGroup | None) -> bool:
    return other is not None and (group.pattern, set(group.group)) == (
        other.pattern,
        set(other.group),
    )


def _apply_weights(
    redundancy: list[RedundancyGroup], change: BranchWeightsChange
) -> list[RedundancyGroup]:
    updated = RedundancyGroup(pattern="branch", group=list(change.group), weights=change.after)
    out = [g for g in redundancy if not _same_group(g, updated)]
    index = next((i for i, g in enumerate(redundancy) if _same_group(g, updated)), len(out))
    out.insert(index, updated)
    return out


def _apply_domains(
    inferred: list[tuple[str, list[str], float]], change: FailureDomainChange
) -> list[tuple[str, list[str], float]]:
    out = [(n, [m for m in ms if m != change.target], c) for n, ms, c in inferred]
    for name in change.after:
        at = next((i for i, (n, _, _) in enumerate(out) if n == name), None)
        if at is None:
            out.append((name, [change.target], change.confidence))
        else:
            n, ms, c = out[at]
            out[at] = (n, [*ms, change.target], min(c, change.confidence))
    return out


# --- the journey with a given accepted model in force ------------------------------------


def with_accepted(
    docs: Mapping[str, list[YamlDocument]], journey: str, file: str, text: str
) -> dict[str, list[YamlDocument]]:
    """The spec documents with `text` as the journey's only accepted model, read as `file`."""

    def other(doc: YamlDocument) -> bool:
        data = doc.data if isinstance(doc.data, dict) else {}
        meta = data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        return not (data.get("kind") == "AcceptedJourneyModel" and name == journey)

    out = {f: [d for d in ds if other(d)] for f, ds in docs.items() if f != file}
    out[file] = parse_yaml_text(text, file)
    return out


def accepted_doc(docs: Sequence[YamlDocument], file: str) -> YamlDocument:
    """The AcceptedJourneyModel document of a file; SpecError if it holds none."""
    for d in docs:
        if isinstance(d.data, dict) and d.data.get("kind") == "AcceptedJourneyModel":
            return d
    raise SpecError([SpecProblem(Location(file), "", "holds no AcceptedJourneyModel document")])


def model_with_accepted(
    docs: Mapping[str, list[YamlDocument]], journey: str, file: str, text: str
) -> JourneyModel:
    """The journey's resolved model with the accepted model `text` in force (precedence)."""
    combined = with_accepted(docs, journey, file, text)
    (model,) = models_from_documents(combined, [journey])
    doc = accepted_doc(combined[file], file)
    accepted = AcceptedJourneyModel.model_validate(doc.data)
    # Idempotent: harmless when the builder already applied the accepted model.
    return apply_accepted_model(model, accepted, doc)
