"""Discovery inside a review: the model delta that changed routing or workload configs imply.

A pull request that edits an Istio VirtualService/DestinationRule or a Deployment changes the
system the accepted model describes. The review re-runs discovery from the configs at head,
diffs it against the accepted model, and hands the decision rule a pending delta (its
confidence, flags and predicted ΔA⁻): a high-impact or weakly supported change asks for
review, and `/emac accept` writes the accepted model the delta implies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.compile.decision import PendingDelta
from bot.discover.accept import accepted_doc, accepted_document, apply_changes, sha256_digest
from bot.discover.changes import diff_models, discovery_confidence
from bot.discover.delta import propose_delta
from bot.discover.mesh import config_evidence_from_documents
from bot.discover.model_build import discover_model, domain_keys, trace_label_keys
from bot.discover.trace_infer import infer_trace_evidence
from bot.emit.yamlout import dump_yaml
from bot.review.model import Cause, PendingImpact
from bot.spec.delta import BasedOn, EvidenceFile, ModelDelta
from bot.spec.domain import JourneyModel
from bot.spec.models import AcceptedJourneyModel
from bot.spec.yamlpos import YamlDocument

CONFIG_KINDS = {
    "networking.istio.io": ("VirtualService", "DestinationRule"),
    "apps": ("Deployment", "StatefulSet"),
}


def is_config_document(doc: YamlDocument) -> bool:
    data = doc.data if isinstance(doc.data, dict) else {}
    group = str(data.get("apiVersion", "")).split("/")[0]
    return data.get("kind") in CONFIG_KINDS.get(group, ())


def config_files(docs: Mapping[str, list[YamlDocument]]) -> list[str]:
    return sorted(f for f, ds in docs.items() if any(is_config_document(d) for d in ds))


@dataclass(frozen=True)
class PendingModel:
    """A journey's config-implied delta, ready for the decision rule and for `/emac accept`."""

    delta: ModelDelta
    pending: PendingDelta
    causes: list[Cause]
    accepted_file: str
    accepted_after: str

    @property
    def impact(self) -> PendingImpact:
        predicted = self.delta.spec.predicted_impact
        assert predicted is not None
        return PendingImpact(
            pessimistic_before=predicted.before.availability.pessimistic,
            pessimistic_after=predicted.after.availability.pessimistic,
            decision_after=predicted.after.decision,
            high_impact=predicted.high_impact,
            confidence=self.pending.confidence or 0.0,
        )


def _digest(text: str) -> str:
    return sha256_digest(text.encode("utf-8"))


def _causes(delta: ModelDelta) -> list[Cause]:
    out: list[Cause] = []
    for change in delta.spec.changes:
        where = next((p for p in change.provenance if p.line), None) or (
            change.provenance[0] if change.provenance else None
        )
        before = getattr(change, "before", None)
        after = getattr(change, "after", None)
        out.append(
            Cause(
                file=where.file if where else delta.spec.based_on.file,
                line=(where.line or 1) if where else 1,
                field=f"{change.kind}: {where.field or where.signal}" if where else change.kind,
                before=None if before is None else _brief(before),
                after=None if after is None else _brief(after),
                kind="config",
                confidence=change.confidence,
            )
        )
    return out


def _brief(value: object) -> str:
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        value = dump(mode="json", by_alias=True, exclude_none=True)
    return str(value)


def config_deltas(
    docs: Mapping[str, list[YamlDocument]], files: Mapping[str, str], models: Sequence[JourneyModel]
) -> dict[str, PendingModel]:
    """Per journey with an accepted model: the delta the configs at this revision imply."""
    names = config_files(docs)
    config_docs: Iterable[YamlDocument] = [
        d for f in names for d in docs[f] if is_config_document(d)
    ]
    config_docs = list(config_docs)
    out: dict[str, PendingModel] = {}
    if not config_docs:
        return out
    for model in models:
        if model.accepted is None or model.accepted.file not in files:
            continue
        accepted_file = model.accepted.file
        accepted_text = files[accepted_file]
        current = AcceptedJourneyModel.model_validate(
            accepted_doc(docs[accepted_file], accepted_file).data
        )
        keys = domain_keys(model)
        # A review has configs, not traffic: discovery runs with no spans, so what the configs
        # state is flagged as unconfirmed by traces and its confidence stays low.
        traces = infer_trace_evidence(
            [], model.leaf_components()[0], domain_keys=trace_label_keys(keys)
        )
        config = config_evidence_from_documents(config_docs, domain_label_keys=keys)
        discovery = discover_model(model, traces, config)
        changes = diff_models(current, discovery)
        if not changes:
            continue
        evidence = [
            EvidenceFile(file=f, kind="config", digest=_digest(files[f]))
            for f in names
            if f in files
        ]
        delta = propose_delta(
            docs,
            discovery,
            changes,
            accepted_file=accepted_file,
            accepted_text=accepted_text,
            based_on=BasedOn(file=accepted_file, digest=_digest(accepted_text)),
            evidence=evidence,
        )
        impact = delta.spec.predicted_impact
        assert impact is not None  # propose_delta always predicts
        after = apply_changes(current, changes, discovery_confidence(discovery))
        out[model.name] = PendingModel(
            delta=delta,
            pending=PendingDelta(discovery.confidence, discovery.flags, impact.delta_pessimistic),
            causes=_causes(delta),
            accepted_file=accepted_file,
            accepted_after=dump_yaml(accepted_document(after), model.source),
        )
    return out
