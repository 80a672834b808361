"""Wire models of the journey models that discovery proposes and reviewers accept."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from bot.spec.wire import Duration, ObjectMeta, WireModel

Confidence = Annotated[float, Field(ge=0.0, le=1.0)]


class ModelConfidence(WireModel):
    overall: Confidence
    notes: list[str] = []
    flags: list[str] = []


class TopologyNode(WireModel):
    id: str
    type: str = "service"
    labels: dict[str, str] = {}


class TopologyEdge(WireModel):
    from_: str = Field(alias="from")
    to: str
    call_type: Literal["sync", "async"] = "sync"
    probability: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    interval: tuple[float, float] | None = None
    notes: str | None = None


class Topology(WireModel):
    nodes: list[TopologyNode] = []
    edges: list[TopologyEdge] = []


class RedundancyGroup(WireModel):
    pattern: Literal["race", "fallback", "quorum", "branch"]
    group: Annotated[list[str], Field(min_length=1)]
    semantics: str | None = None
    weights: list[float] | None = None
    required: int | None = None


class DomainAssignment(WireModel):
    name: str
    members: list[str]
    confidence: Confidence = 1.0


class ModelFailureDomains(WireModel):
    inferred: list[DomainAssignment] = []
    declared: list[DomainAssignment] = []

    def all(self) -> list[DomainAssignment]:
        return [*self.declared, *self.inferred]


class RetryPolicy(WireModel):
    attempts: Annotated[int, Field(ge=1, le=100)]
    per_try_timeout: Duration | None = None
    retry_on: list[str] = []


class CallPolicy(WireModel):
    """Retry/timeout policy observed on calls to one component (e.g. from an Istio route)."""

    target: str
    retries: RetryPolicy | None = None
    timeout: Duration | None = None


class Acceptance(WireModel):
    accepted_by: str
    accepted_at: str
    from_delta: str | None = None
    based_on: str | None = None
    evidence_digests: list[str] = []


class JourneyModelSpec(WireModel):
    confidence: ModelConfidence | None = None
    topology: Topology = Topology()
    redundancy: list[RedundancyGroup] = []
    failure_domains: ModelFailureDomains = ModelFailureDomains()
    policies: list[CallPolicy] = []
    acceptance: Acceptance | None = None


class DiscoveredJourneyModel(WireModel):
    """What discovery saw: evidence, not yet trusted by the compiler."""

    api_version: Literal["emac.dev/v1alpha1"]
    kind: Literal["DiscoveredJourneyModel"]
    metadata: ObjectMeta
    spec: JourneyModelSpec


class AcceptedJourneyModel(WireModel):
    """The model a reviewer accepted; the compiler takes effective structure from it."""

    api_version: Literal["emac.dev/v1alpha1"]
    kind: Literal["AcceptedJourneyModel"]
    metadata: ObjectMeta
    spec: JourneyModelSpec
