"""Wire model of the `emac.dev/v1alpha1` ModelDelta: typed model changes discovery proposes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from bot.spec.models import CallPolicy, ModelConfidence, RedundancyGroup, TopologyEdge
from bot.spec.wire import ObjectMeta, WireModel

Confidence = Annotated[float, Field(ge=0.0, le=1.0)]
Digest = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
Decision = Literal["PASS", "FAIL", "REVIEW"]


class EvidenceSource(WireModel):
    """Where one piece of evidence was read: a manifest field or spans of a trace file."""

    file: str
    field: str | None = None
    line: int | None = None
    span_ids: list[str] | None = None
    signal: str


class EvidenceFile(WireModel):
    """An input file of the discovery run and the digest of its bytes."""

    file: str
    kind: Literal["traces", "config"]
    digest: Digest


class BasedOn(WireModel):
    """The accepted model the delta was computed against (sha256 of the file's bytes)."""

    file: str
    digest: Digest


class _Change(WireModel):
    confidence: Confidence
    flags: list[str] = []
    provenance: list[EvidenceSource] = []


class EdgeChange(_Change):
    """A call edge the traces show that the accepted model lacks, or the reverse."""

    kind: Literal["edge-added", "edge-removed"]
    before: TopologyEdge | None = None
    after: TopologyEdge | None = None

    @model_validator(mode="after")
    def _sides(self) -> EdgeChange:
        if (self.kind == "edge-added") != (self.before is None and self.after is not None):
            raise ValueError("edge-added needs only `after`; edge-removed needs only `before`")
        return self


class BranchWeightsChange(_Change):
    """New weights of a branch group; `group` lists the routes' first components."""

    kind: Literal["branch-weights"]
    group: Annotated[list[str], Field(min_length=1)]
    before: list[float] | None = None
    after: list[float]


class RedundancyChange(_Change):
    """A race/fallback/quorum group that appeared (`before` empty) or vanished (`after` empty)."""

    kind: Literal["redundancy-group"]
    before: RedundancyGroup | None = None
    after: RedundancyGroup | None = None


class PolicyChange(_Change):
    """Retry/timeout policy on calls to one component."""

    kind: Literal["call-policy"]
    target: str
    before: CallPolicy | None = None
    after: CallPolicy | None = None


class FailureDomainChange(_Change):
    """The inferred failure domains of one component, by name."""

    kind: Literal["failure-domain"]
    target: str
    before: list[str] = []
    after: list[str] = []


Change = Annotated[
    EdgeChange | BranchWeightsChange | RedundancyChange | PolicyChange | FailureDomainChange,
    Field(discriminator="kind"),
]


class Bounds(WireModel):
    optimistic: float
    pessimistic: float
    worst_case: float


class LatencyBound(WireModel):
    estimate: float
    upper: float


class Prediction(WireModel):
    """The journey compiled with one accepted model, and the decision it would get."""

    availability: Bounds
    latency: dict[str, LatencyBound] | None = None
    decision: Decision
    reasons: list[str] = []


class FaultPrediction(WireModel):
    """The accepted-after model with the configured fault injection applied at its worst."""

    components: list[str]
    note: str
    availability: Bounds
    latency: dict[str, LatencyBound] | None = None
    provenance: list[EvidenceSource] = []


class PredictedImpact(WireModel):
    """`before`: the current accepted model with this delta pending (decision while pending);
    `after`: the model accepting would produce (decision once accepted)."""

    before: Prediction
    after: Prediction
    delta_pessimistic: float
    high_impact: bool
    high_impact_threshold: float
    under_faults: FaultPrediction | None = None


class ModelDeltaSpec(WireModel):
    journey: str
    based_on: BasedOn
    evidence: list[EvidenceFile] = []
    confidence: ModelConfidence
    changes: list[Change] = []
    predicted_impact: PredictedImpact | None = None


class ModelDelta(WireModel):
    """Proposed changes to a journey's accepted model, with evidence and predicted impact."""

    api_version: Literal["emac.dev/v1alpha1"]
    kind: Literal["ModelDelta"]
    metadata: ObjectMeta
    spec: ModelDeltaSpec
