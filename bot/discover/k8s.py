"""Kubernetes manifests as evidence: resources (lists expanded) and workload failure domains."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError

from bot.spec.domain import Provenance
from bot.spec.errors import SpecProblem, format_path
from bot.spec.validation import problems_from_validation
from bot.spec.wire import OpenModel
from bot.spec.yamlpos import PathKey, YamlDocument

ZONE_KEY = "topology.kubernetes.io/zone"
REGION_KEY = "topology.kubernetes.io/region"
NODE_POOL_KEYS = (
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "kubernetes.azure.com/agentpool",
)
# Node labels whose value is a failure domain: a pod pinned to one value fails with it.
TOPOLOGY_KEYS = (ZONE_KEY, REGION_KEY, *NODE_POOL_KEYS)
WORKLOAD_KINDS = ("Deployment", "StatefulSet")

ModelT = TypeVar("ModelT", bound=BaseModel)


# --- Resources ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """One Kubernetes-style object: the document it sits in and its path there (a List item)."""

    doc: YamlDocument
    path: PathKey
    api_version: str
    kind: str
    data: Mapping[str, Any]

    def provenance(self, *fields: str | int) -> Provenance:
        """Where `fields` (relative to this object) sit in the file."""
        path = (*self.path, *fields)
        where = self.doc.location(path)
        return Provenance(where.file, where.line, where.column, format_path(path))

    def problem(self, fields: PathKey, message: str) -> SpecProblem:
        """A problem pinned to `fields` (relative to this object)."""
        return self.doc.problem((*self.path, *fields), message)

    def parse(self, model: type[ModelT]) -> tuple[ModelT | None, list[SpecProblem]]:
        """Validate this object against `model`; problems carry file:line of the bad value."""
        try:
            return model.model_validate(self.data), []
        except ValidationError as exc:
            return None, problems_from_validation(self.doc, exc, self.path)


def iter_resources(docs: Sequence[YamlDocument]) -> Iterator[Resource]:
    """Every object with apiVersion and kind, items of `kind: List` expanded in place."""
    for doc in docs:
        yield from _objects(doc, doc.data, ())


def _objects(doc: YamlDocument, data: Any, path: PathKey) -> Iterator[Resource]:
    if not isinstance(data, dict):
        return
    api, kind = data.get("apiVersion"), data.get("kind")
    if kind == "List" and isinstance(data.get("items"), list):
        for i, item in enumerate(data["items"]):
            yield from _objects(doc, item, (*path, "items", i))
    elif isinstance(api, str) and isinstance(kind, str):
        yield Resource(doc, path, api, kind, data)


def is_workload(resource: Resource) -> bool:
    return resource.api_version == "apps/v1" and resource.kind in WORKLOAD_KINDS


# --- Workload wire model (the fields used here; other keys are allowed) ----------------------


class ResourceMeta(OpenModel):
    name: str
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class TemplateMeta(OpenModel):
    labels: dict[str, str] = Field(default_factory=dict)


class NodeSelectorRequirement(OpenModel):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] = Field(default_factory=list)


class NodeSelectorTerm(OpenModel):
    match_expressions: list[NodeSelectorRequirement] = Field(default_factory=list)


class NodeSelector(OpenModel):
    node_selector_terms: list[NodeSelectorTerm]


class NodeAffinity(OpenModel):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None


class PodAffinityTerm(OpenModel):
    topology_key: str


class PodAntiAffinity(OpenModel):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] = Field(
        default_factory=list
    )


class Affinity(OpenModel):
    node_affinity: NodeAffinity | None = None
    pod_anti_affinity: PodAntiAffinity | None = None


class TopologySpreadConstraint(OpenModel):
    max_skew: int = Field(ge=1)
    topology_key: str
    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"]


class PodSpec(OpenModel):
    node_selector: dict[str, str] = Field(default_factory=dict)
    affinity: Affinity | None = None
    topology_spread_constraints: list[TopologySpreadConstraint] = Field(default_factory=list)


class PodTemplate(OpenModel):
    metadata: TemplateMeta = TemplateMeta()
    spec: PodSpec


class WorkloadSpec(OpenModel):
    replicas: int | None = Field(default=None, ge=0)
    template: PodTemplate


class Workload(OpenModel):
    """An apps/v1 Deployment or StatefulSet."""

    kind: Literal["Deployment", "StatefulSet"]
    metadata: ResourceMeta
    spec: WorkloadSpec


# --- Evidence -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DomainEvidence:
    """A service shares the failure domain `domain` (`<label key>=<value>`) through one workload."""

    service: str
    version: str | None
    workload: str
    domain: str
    source: Provenance
    signal: str


@dataclass(frozen=True)
class PlacementEvidence:
    """How a workload's pods are placed along one topology key.

    pinned: every pod runs on nodes with the one value in `values` (it shares that domain).
    restricted: pods may run on any of `values`; no single domain is shared for sure.
    spread: pods are spread across values of the key (`hard` when the scheduler must), so
      the service does not share a single domain of that key.
    """

    service: str
    workload: str
    key: str
    placement: Literal["pinned", "restricted", "spread"]
    values: tuple[str, ...]
    hard: bool
    replicas: int | None
    source: Provenance
    signal: str


@dataclass(frozen=True)
class WorkloadEvidence:
    domains: tuple[DomainEvidence, ...]
    placements: tuple[PlacementEvidence, ...]


def service_identity(workload: Workload) -> tuple[str, str | None]:
    """The service a workload serves (`app` label) and its version (`version` label)."""
    labels = {**workload.metadata.labels, **workload.spec.template.metadata.labels}
    service = labels.get("app") or labels.get("app.kubernetes.io/name") or workload.metadata.name
    return service, labels.get("version") or labels.get("app.kubernetes.io/version")


def workload_evidence(
    resource: Resource, domain_label_keys: Sequence[str] = ()
) -> tuple[WorkloadEvidence | None, list[SpecProblem]]:
    """Failure domains and placements of one Deployment/StatefulSet.

    Node-level keys (zone, region, node pool) count when the scheduler pins every pod to one
    value (node selector or required node affinity). `domain_label_keys` name pod labels that
    are failure domains by convention (e.g. `payment.network`): every pod shares that value.
    """
    workload, problems = resource.parse(Workload)
    if workload is None:
        return None, problems
    service, version = service_identity(workload)
    namespace = workload.metadata.namespace or "default"
    name = f"{workload.kind} {namespace}/{workload.metadata.name}"
    pod = workload.spec.template.spec
    replicas = workload.spec.replicas
    domains: list[DomainEvidence] = []
    placements: list[PlacementEvidence] = []

    for key in TOPOLOGY_KEYS:
        allowed, source, signal = _eligible_values(resource, pod, key)
        if allowed == ():
            message = "no node can satisfy both the node selector and the required node "
            message += f"affinity on {key}, so no pod would be scheduled"
            problems.append(resource.problem(("spec", "template", "spec"), message))
        elif allowed is not None:
            kind: Literal["pinned", "restricted"] = "pinned" if len(allowed) == 1 else "restricted"
            placements.append(
                PlacementEvidence(service, name, key, kind, allowed, True, replicas, source, signal)
            )
            if kind == "pinned":
                domain = f"{key}={allowed[0]}"
                domains.append(DomainEvidence(service, version, name, domain, source, signal))
        for rule, hard, rule_signal in _spread_rules(pod, key):
            spread = PlacementEvidence(
                service,
                name,
                key,
                "spread",
                allowed or (),
                hard,
                replicas,
                resource.provenance(*rule),
                rule_signal,
            )
            placements.append(spread)

    template_labels = workload.spec.template.metadata.labels
    for key in domain_label_keys:
        where: PathKey
        if key in template_labels:
            where = ("spec", "template", "metadata", "labels", key)
            value = template_labels[key]
        elif key in workload.metadata.labels:
            where = ("metadata", "labels", key)
            value = workload.metadata.labels[key]
        else:
            continue
        domains.append(
            DomainEvidence(
                service, version, name, f"{key}={value}", resource.provenance(*where), "k8s.label"
            )
        )
    return WorkloadEvidence(tuple(domains), tuple(placements)), problems


_POD = ("spec", "template", "spec")
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


def _eligible_values(
    resource: Resource, pod: PodSpec, key: str
) -> tuple[tuple[str, ...] | None, Provenance, str]:
    """The values of node label `key` the pods may be scheduled on, or None if unconstrained.

    The node selector and required node affinity must both hold. Affinity terms are
    alternatives (OR) and expressions inside a term must all hold (AND), so the affinity
    constrains the key only when every term does.
    """
    selected = {pod.node_selector[key]} if key in pod.node_selector else None
    required = pod.affinity.node_affinity if pod.affinity else None
    terms = required.required_during_scheduling_ignored_during_execution if required else None
    affinity: set[str] | None = None
    first: PathKey = ()
    for t, term in enumerate(terms.node_selector_terms if terms else []):
        values: set[str] | None = None
        for e, expr in enumerate(term.match_expressions):
            if expr.key == key and expr.operator == "In":
                values = set(expr.values) if values is None else values & set(expr.values)
                where = ("affinity", "nodeAffinity", _REQUIRED, "nodeSelectorTerms", t)
                first = first or (*_POD, *where, "matchExpressions", e)
        if values is None:
            affinity = None
            break
        affinity = values if affinity is None else affinity | values
    if selected is not None:
        allowed = selected if affinity is None else selected & affinity
        source, signal = resource.provenance(*_POD, "nodeSelector", key), "k8s.nodeSelector"
    elif affinity is not None:
        allowed, source, signal = affinity, resource.provenance(*first), "k8s.nodeAffinity"
    else:
        return None, resource.provenance(*_POD), ""
    return tuple(sorted(allowed)), source, signal


def _spread_rules(pod: PodSpec, key: str) -> list[tuple[PathKey, bool, str]]:
    """Rules that spread the pods across values of `key`: (where, must the scheduler, signal)."""
    out: list[tuple[PathKey, bool, str]] = []
    where: PathKey
    for i, constraint in enumerate(pod.topology_spread_constraints):
        if constraint.topology_key == key:
            hard = constraint.when_unsatisfiable == "DoNotSchedule"
            where = (*_POD, "topologySpreadConstraints", i, "topologyKey")
            out.append((where, hard, "k8s.topologySpreadConstraints"))
    anti = pod.affinity.pod_anti_affinity if pod.affinity else None
    for i, term in enumerate(
        anti.required_during_scheduling_ignored_during_execution if anti else []
    ):
        if term.topology_key == key:
            where = (*_POD, "affinity", "podAntiAffinity", _REQUIRED, i, "topologyKey")
            out.append((where, True, "k8s.podAntiAffinity"))
    return out
