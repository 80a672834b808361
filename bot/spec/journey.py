"""Wire model of the `emac.dev/v1alpha1` JourneyIntent: objectives, operator tree, components."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Discriminator, Field, Tag

from bot.spec.domain_kinds import OpKind
from bot.spec.wire import Duration, ObjectMeta, WireModel

API_VERSION = "emac.dev/v1alpha1"

Probability = Annotated[float, Field(gt=0.0, le=1.0)]
Seconds = Annotated[float, Field(gt=0.0)]


# --- Objectives -----------------------------------------------------------------------------


class SliQueries(WireModel):
    good_event_query: str
    total_event_query: str


class AvailabilityObjective(WireModel):
    window: Duration = "30d"
    target: Probability
    sli: SliQueries | None = None


class LatencyTarget(WireModel):
    metric: Annotated[str, Field(pattern=r"^p\d+(\.\d+)?$")] = "p99"
    threshold: Seconds


class LatencyEvidence(WireModel):
    promql: str | None = None


class LatencyObjective(WireModel):
    window: Duration = "30d"
    objective: LatencyTarget
    evidence: LatencyEvidence | None = None


class Objectives(WireModel):
    availability: AvailabilityObjective
    latency: LatencyObjective | None = None


# --- Operator tree --------------------------------------------------------------------------


class LeafRef(WireModel):
    ref: str
    timeout: Duration | None = None


class SeriesOp(WireModel):
    type: Literal["series"]
    steps: Annotated[list[Operator], Field(min_length=1)]


class ParallelOp(WireModel):
    type: Literal["parallel"]
    join: Literal["all"] = "all"
    branches: Annotated[list[Operator], Field(min_length=1)]


class RaceOp(WireModel):
    type: Literal["race"]
    semantics: Literal["hedged", "first"] = "hedged"
    hedge_delay: Duration | None = None
    branches: Annotated[list[Operator], Field(min_length=1)]


class FallbackOp(WireModel):
    type: Literal["fallback"]
    alternatives: Annotated[list[Operator], Field(min_length=1)]
    per_try_timeout: Duration | None = None


class RetryOp(WireModel):
    type: Literal["retry"]
    attempts: Annotated[int, Field(ge=1, le=100)]
    per_try_timeout: Duration | None = None
    retry_on: list[str] = []
    retriable_share: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    target: Operator


class Route(WireModel):
    weight: Annotated[float, Field(ge=0.0, le=1.0)]
    target: Operator


class BranchOp(WireModel):
    type: Literal["branch"]
    routes: Annotated[list[Route], Field(min_length=1)]


class QuorumOp(WireModel):
    type: Literal["quorum"]
    required: Annotated[int, Field(ge=1)]
    members: Annotated[list[Operator], Field(min_length=1)]


class OptionalOp(WireModel):
    type: Literal["optional"]
    target: Operator


class AsyncOp(WireModel):
    type: Literal["async"]
    target: Operator


# The composite operators, in the order error messages list them (`ref` leaves aside).
OPERATOR_TYPES: tuple[str, ...] = get_args(OpKind)[1:]


def _operator_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        if "ref" in value and "type" not in value:
            return "op:ref"
        kind = value.get("type")
        return f"op:{kind}" if kind in OPERATOR_TYPES else None
    if isinstance(value, LeafRef):
        return "op:ref"
    kind = getattr(value, "type", None)
    return f"op:{kind}" if kind in OPERATOR_TYPES else None


Operator = Annotated[
    Annotated[LeafRef, Tag("op:ref")]
    | Annotated[SeriesOp, Tag("op:series")]
    | Annotated[ParallelOp, Tag("op:parallel")]
    | Annotated[RaceOp, Tag("op:race")]
    | Annotated[FallbackOp, Tag("op:fallback")]
    | Annotated[RetryOp, Tag("op:retry")]
    | Annotated[BranchOp, Tag("op:branch")]
    | Annotated[QuorumOp, Tag("op:quorum")]
    | Annotated[OptionalOp, Tag("op:optional")]
    | Annotated[AsyncOp, Tag("op:async")],
    Discriminator(
        _operator_tag,
        custom_error_type="operator_type",
        custom_error_message="expected `ref: <component>` or `type:` one of "
        + ", ".join(OPERATOR_TYPES),
    ),
]


# --- Components -----------------------------------------------------------------------------


class HistogramBucket(WireModel):
    le: Annotated[float, Field(gt=0.0)]
    count: Annotated[float, Field(ge=0.0)]


class LatencyHistogram(WireModel):
    """Prometheus-style cumulative buckets: `count` requests took at most `le` seconds."""

    buckets: Annotated[list[HistogramBucket], Field(min_length=1)]


class LeafLatency(WireModel):
    """A leaf's latency evidence: exactly one of percentile points, a histogram or an SLO ref."""

    percentiles: dict[str, Seconds] | None = None
    histogram: LatencyHistogram | None = None
    slo_ref: str | None = None
    max: Seconds | None = None


class Component(WireModel):
    kind: str = "service"
    description: str | None = None
    atomic_slo_ref: str | None = Field(default=None, alias="atomicSLORef")
    availability: Probability | None = None
    retriable_share: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    failure_domains: list[str] = []
    latency: LeafLatency | None = None


# --- Failure domains, evidence, governance ------------------------------------------------------


class FailureDomainRule(WireModel):
    name: str
    kind: Literal["inferred", "declared"] = "declared"
    source: str | None = None
    key: str | None = None
    description: str | None = None


class FailureDomains(WireModel):
    rules: list[FailureDomainRule] = []


class EvidenceInput(WireModel):
    type: str
    notes: str | None = None
    path: str | None = None


class ModelDiscovery(WireModel):
    enabled: bool = True
    discovered_model_ref: str | None = None
    accepted_model_ref: str | None = None
    inputs: list[EvidenceInput] = []


class Evidence(WireModel):
    model_discovery: ModelDiscovery | None = None


class BoundsForAutomation(WireModel):
    availability: Literal["optimistic", "pessimistic", "worstCase"] = "pessimistic"
    latency: Literal["estimate", "upperConfidence"] = "upperConfidence"


class BurnRateWindow(WireModel):
    burn_rate: Annotated[float, Field(gt=0.0)]
    long_window: Duration
    short_window: Duration


class BurnRatePolicy(WireModel):
    page: list[BurnRateWindow] = []
    ticket: list[BurnRateWindow] = []


class AlertsPolicy(WireModel):
    prom_rule_output: str | None = None
    slo_budget_window: Duration | None = None
    burn_rate_policy: BurnRatePolicy | None = None


class DeliveryGate(WireModel):
    max_canary_burn_rate: Annotated[float, Field(gt=0.0)] | None = None
    max_p99_latency_seconds: Seconds | None = None


class ProgressiveDelivery(WireModel):
    provider: Literal["argo-rollouts", "flagger"] = "argo-rollouts"
    analysis_template_output: str | None = None
    gate: DeliveryGate | None = None


class GuardedAction(WireModel):
    name: str
    kind: str | None = None
    target: str | None = None
    requires: list[str] = []
    description: str | None = None


class Governance(WireModel):
    evaluation_mode: Literal["conservative", "balanced", "optimistic"] = "conservative"
    use_bounds_for_automation: BoundsForAutomation = BoundsForAutomation()
    auto_accept_confidence: Annotated[float, Field(ge=0.0, le=1.0)] = 0.80
    high_impact_delta: Annotated[float, Field(ge=0.0, le=1.0)] = 0.001
    alerts: AlertsPolicy | None = None
    progressive_delivery: ProgressiveDelivery | None = None
    actions: list[GuardedAction] = []


class JourneySpecBody(WireModel):
    objectives: Objectives
    operator: Operator
    components: dict[str, Component]
    failure_domains: FailureDomains = FailureDomains()
    evidence: Evidence | None = None
    governance: Governance = Governance()


class JourneyIntent(WireModel):
    """The `JourneyIntent` document: what a journey must achieve and how it is composed."""

    api_version: Literal["emac.dev/v1alpha1"]
    kind: Literal["JourneyIntent"]
    metadata: ObjectMeta
    spec: JourneySpecBody


for _model in (
    SeriesOp,
    ParallelOp,
    RaceOp,
    FallbackOp,
    RetryOp,
    Route,
    BranchOp,
    QuorumOp,
    OptionalOp,
    AsyncOp,
    JourneySpecBody,
    JourneyIntent,
):
    _model.model_rebuild()
