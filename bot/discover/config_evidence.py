"""Configuration evidence: what mesh and workload manifests say about routing and policies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from bot.discover.k8s import DomainEvidence, PlacementEvidence
from bot.spec.domain import Provenance


@dataclass(frozen=True)
class MatchCondition:
    """One request property a route requires, e.g. header `end-user` exact `jason`."""

    field: str
    operator: str
    value: str


MatchClause = tuple[MatchCondition, ...]  # all must hold; a rule matches if any clause does


@dataclass(frozen=True)
class RouteEntry:
    """One destination of one http rule of a VirtualService, with its normalised weight.

    `weight` is the share of the rule's traffic (the rule's weights sum to 1). The rule's own
    share of the host's traffic is known (`share_known`) only when neither it nor an earlier
    reachable rule is match-routed.
    """

    host: str
    destination: str
    subset: str | None
    weight: float
    matches: tuple[MatchClause, ...]
    rule: int
    rule_name: str | None
    share_known: bool
    reachable: bool
    gateways: tuple[str, ...]
    virtual_service: str
    source: Provenance
    signal: str


@dataclass(frozen=True)
class RetryEvidence:
    """Retry policy of one http rule; `tries` = first try + `retries` (the `retry` operator's n)."""

    host: str
    rule: int
    retries: int
    per_try_timeout: float | None
    retry_on: tuple[str, ...]
    retriable_status_codes: tuple[int, ...]
    defaulted: bool
    source: Provenance
    signal: str

    @property
    def tries(self) -> int:
        return self.retries + 1


@dataclass(frozen=True)
class TimeoutEvidence:
    host: str
    rule: int
    seconds: float
    source: Provenance
    signal: str


@dataclass(frozen=True)
class FaultEvidence:
    """An injected delay or abort on the share `share` of one rule's requests."""

    host: str
    rule: int
    kind: Literal["delay", "abort"]
    share: float
    delay_seconds: float | None
    http_status: int | None
    destinations: tuple[tuple[str, str | None], ...]
    matches: tuple[MatchClause, ...]
    share_known: bool
    virtual_service: str
    source: Provenance
    signal: str


@dataclass(frozen=True)
class MirrorEvidence:
    """Traffic copied to another destination: a non-critical (async) call off the critical path."""

    host: str
    rule: int
    destination: str
    subset: str | None
    share: float
    source: Provenance
    signal: str


@dataclass(frozen=True)
class SubsetEvidence:
    host: str
    name: str
    labels: tuple[tuple[str, str], ...]
    source: Provenance
    signal: str


@dataclass(frozen=True)
class EjectionPolicy:
    """Outlier detection on a host (or one subset/port of it); None means the proxy default."""

    host: str
    subset: str | None
    port: int | None
    consecutive_5xx_errors: int | None
    consecutive_gateway_errors: int | None
    interval_seconds: float | None
    base_ejection_seconds: float | None
    max_ejection_percent: int | None
    source: Provenance
    signal: str


FlagKind = Literal["unknown_share", "unreachable_rule", "conflicting_routes", "undefined_subset"]


@dataclass(frozen=True)
class EvidenceFlag:
    kind: FlagKind
    message: str
    source: Provenance


@dataclass(frozen=True)
class ConfigEvidence:
    """Everything the mesh and workload manifests say about routing, policies and domains."""

    routes: Mapping[str, tuple[RouteEntry, ...]]
    retry_policies: tuple[RetryEvidence, ...]
    timeouts: tuple[TimeoutEvidence, ...]
    faults: tuple[FaultEvidence, ...]
    mirrors: tuple[MirrorEvidence, ...]
    subsets: Mapping[str, tuple[SubsetEvidence, ...]]
    outlier_detection: tuple[EjectionPolicy, ...]
    domains: Mapping[str, tuple[DomainEvidence, ...]]
    placements: tuple[PlacementEvidence, ...]
    resource_counts: Mapping[str, int]
    flags: tuple[EvidenceFlag, ...]

    def split(self, host: str) -> dict[tuple[str, str | None], float]:
        """The weighted branch of the host's default rule (its first unconditional one).

        With several VirtualServices for the host (flagged as conflicting), the first read wins.
        """
        default = [r for r in self.routes.get(host, ()) if r.reachable and not r.matches]
        out: dict[tuple[str, str | None], float] = {}
        for r in default:
            if virtual_service_key(r) == virtual_service_key(default[0]):
                out[(r.destination, r.subset)] = out.get((r.destination, r.subset), 0.0) + r.weight
        return out

    def conditional_routes(self, host: str) -> tuple[RouteEntry, ...]:
        return tuple(r for r in self.routes.get(host, ()) if r.matches)

    def domain_names(self, service: str, version: str | None = None) -> frozenset[str]:
        """Failure domains a service shares (all its workloads, or one version of it)."""
        return frozenset(
            d.domain
            for d in self.domains.get(service, ())
            if version is None or d.version == version
        )


def virtual_service_key(entry: RouteEntry | FaultEvidence) -> tuple[str, str]:
    """The VirtualService an entry was read from: its file and namespace/name."""
    return entry.source.file, entry.virtual_service
