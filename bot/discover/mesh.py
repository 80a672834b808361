"""Istio VirtualService/DestinationRule and k8s workloads mapped to configuration evidence."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field

from bot.discover.k8s import (
    DomainEvidence,
    PlacementEvidence,
    Resource,
    ResourceMeta,
    is_workload,
    iter_resources,
    workload_evidence,
)
from bot.spec.domain import Provenance
from bot.spec.errors import Location, SpecError, SpecProblem
from bot.spec.wire import OpenModel
from bot.spec.yamlpos import PathKey, YamlDocument, display_name, read_yaml_file

ISTIO_API_VERSIONS = (
    "networking.istio.io/v1alpha3",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1",
)

# Istio's retry policy when a route has no `retries` block: 2 retries (3 tries) on
# "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes". Source: istio
# pilot/pkg/networking/core/route/retry/retry.go (DefaultPolicy, ConvertPolicy) and the
# MeshConfig `defaultHttpRetryPolicy` reference. `attempts` counts retries after the first try;
# a `retries` block without `attempts` (or with 0) disables retries.
DEFAULT_RETRY_ATTEMPTS = 2
DEFAULT_RETRY_ON: tuple[str, ...] = (
    "connect-failure",
    "refused-stream",
    "unavailable",
    "cancelled",
    "retriable-status-codes",
)

_GO_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:h|m|s|ms|us|µs|ns))+$")
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_GO_UNIT_SECONDS = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "ns": 1e-9,
}


# --- Istio wire model (fields we use; other keys are allowed) ------------------------------


class Percent(OpenModel):
    value: float = Field(ge=0.0, le=100.0)


class PortSelector(OpenModel):
    number: int | None = None


class Destination(OpenModel):
    host: str
    subset: str | None = None
    port: PortSelector | None = None


class RouteDestination(OpenModel):
    destination: Destination
    weight: int | None = Field(default=None, ge=0)


class MatchRequest(OpenModel):
    uri: dict[str, str] | None = None
    scheme: dict[str, str] | None = None
    method: dict[str, str] | None = None
    authority: dict[str, str] | None = None
    headers: dict[str, dict[str, str]] = Field(default_factory=dict)
    query_params: dict[str, dict[str, str]] = Field(default_factory=dict)
    without_headers: dict[str, dict[str, str]] = Field(default_factory=dict)
    port: int | None = None
    source_labels: dict[str, str] = Field(default_factory=dict)
    source_namespace: str | None = None
    gateways: list[str] = Field(default_factory=list)


class Delay(OpenModel):
    fixed_delay: str
    percentage: Percent | None = None
    percent: int | None = Field(default=None, ge=0, le=100)


class Abort(OpenModel):
    http_status: int | None = None
    grpc_status: str | None = None
    http2_error: str | None = None
    percentage: Percent | None = None
    percent: int | None = Field(default=None, ge=0, le=100)


class Fault(OpenModel):
    delay: Delay | None = None
    abort: Abort | None = None


class Retries(OpenModel):
    attempts: int = 0
    per_try_timeout: str | None = None
    retry_on: str | None = None


class Mirror(OpenModel):
    destination: Destination
    percentage: Percent | None = None


class HttpRoute(OpenModel):
    name: str | None = None
    match: list[MatchRequest] = Field(default_factory=list)
    route: list[RouteDestination] = Field(default_factory=list)
    timeout: str | None = None
    retries: Retries | None = None
    fault: Fault | None = None
    mirror: Destination | None = None
    mirror_percentage: Percent | None = None
    mirror_percent: int | None = Field(default=None, ge=0, le=100)
    mirrors: list[Mirror] = Field(default_factory=list)


class VirtualServiceSpec(OpenModel):
    hosts: list[str] = Field(default_factory=list)
    gateways: list[str] = Field(default_factory=list)
    http: list[HttpRoute] = Field(default_factory=list)


class VirtualService(OpenModel):
    kind: Literal["VirtualService"]
    metadata: ResourceMeta
    spec: VirtualServiceSpec


class OutlierDetection(OpenModel):
    consecutive_errors: int | None = Field(default=None, ge=0)
    consecutive_5xx_errors: int | None = Field(default=None, ge=0, alias="consecutive5xxErrors")
    consecutive_gateway_errors: int | None = Field(default=None, ge=0)
    interval: str | None = None
    base_ejection_time: str | None = None
    max_ejection_percent: int | None = Field(default=None, ge=0, le=100)


class PortTrafficPolicy(OpenModel):
    port: PortSelector | None = None
    outlier_detection: OutlierDetection | None = None


class TrafficPolicy(OpenModel):
    outlier_detection: OutlierDetection | None = None
    port_level_settings: list[PortTrafficPolicy] = Field(default_factory=list)


class Subset(OpenModel):
    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    traffic_policy: TrafficPolicy | None = None


class DestinationRuleSpec(OpenModel):
    host: str
    subsets: list[Subset] = Field(default_factory=list)
    traffic_policy: TrafficPolicy | None = None


class DestinationRule(OpenModel):
    kind: Literal["DestinationRule"]
    metadata: ResourceMeta
    spec: DestinationRuleSpec


# --- Evidence -------------------------------------------------------------------------------


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
            if _vs_key(r) == _vs_key(default[0]):
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


def duration_seconds(text: str) -> float | None:
    """Seconds in an Istio duration (`7s`, `0.5s`, `1m30s`, `250ms`), None if not one."""
    if not _GO_DURATION.match(text.strip()):
        return None
    return sum(float(n) * _GO_UNIT_SECONDS[u] for n, u in _GO_DURATION_PART.findall(text))


def service_of(host: str) -> str:
    """The service a mesh host names: `reviews.prod.svc.cluster.local` → `reviews`."""
    for suffix in (".svc.cluster.local", ".svc"):
        if host.endswith(suffix):
            return host.split(".", 1)[0]
    return host


# --- Mapping --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    """One http rule of a VirtualService as seen for one of its hosts."""

    res: Resource
    host: str
    index: int
    matches: tuple[MatchClause, ...]
    share_known: bool
    virtual_service: str

    def at(self, *fields: str | int) -> Provenance:
        return self.res.provenance("spec", "http", self.index, *fields)

    def problem(self, message: str, *fields: str | int) -> SpecProblem:
        return self.res.problem(("spec", "http", self.index, *fields), message)


class _Collector:
    """Accumulates evidence and problems while resources are mapped one by one."""

    def __init__(self, domain_label_keys: Sequence[str]) -> None:
        self.domain_label_keys = domain_label_keys
        self.routes: dict[str, list[RouteEntry]] = {}
        self.retries: list[RetryEvidence] = []
        self.timeouts: list[TimeoutEvidence] = []
        self.faults: list[FaultEvidence] = []
        self.mirrors: list[MirrorEvidence] = []
        self.subsets: dict[str, list[SubsetEvidence]] = {}
        self.ejection: list[EjectionPolicy] = []
        self.domains: dict[str, list[DomainEvidence]] = {}
        self.placements: list[PlacementEvidence] = []
        self.counts: dict[str, int] = {}
        self.flags: list[EvidenceFlag] = []
        self.problems: list[SpecProblem] = []
        # (host, gateway) → the VirtualServices routing it; "mesh" is the sidecars' gateway.
        self.owners: dict[tuple[str, str], list[tuple[str, Provenance]]] = {}

    def seconds(self, res: Resource, text: str | None, fields: PathKey) -> float | None:
        value = None if text is None else duration_seconds(text)
        if text is not None and value is None:
            message = f"expected a duration like 2s, 0.5s or 250ms, got '{text}'"
            self.problems.append(res.problem(fields, message))
        return value

    def add(self, res: Resource) -> None:
        if res.api_version in ISTIO_API_VERSIONS and res.kind == "VirtualService":
            vs, problems = res.parse(VirtualService)
            if vs is not None:
                self.virtual_service(res, vs)
        elif res.api_version in ISTIO_API_VERSIONS and res.kind == "DestinationRule":
            dr, problems = res.parse(DestinationRule)
            if dr is not None:
                self.destination_rule(res, dr)
        elif is_workload(res):
            found, problems = workload_evidence(res, self.domain_label_keys)
            for d in found.domains if found else ():
                self.domains.setdefault(d.service, []).append(d)
            self.placements.extend(found.placements if found else ())
        else:
            self.counts["ignored"] = self.counts.get("ignored", 0) + 1
            return
        self.problems.extend(problems)
        self.counts[res.kind] = self.counts.get(res.kind, 0) + 1

    def virtual_service(self, res: Resource, vs: VirtualService) -> None:
        name = f"{vs.metadata.namespace or 'default'}/{vs.metadata.name}"
        for h, host in enumerate(vs.spec.hosts):
            where = res.provenance("spec", "hosts", h)
            for gateway in vs.spec.gateways or ["mesh"]:
                owner = (f"{res.doc.file}:{name}", where)
                self.owners.setdefault((host, gateway), []).append(owner)
            share_known, reachable = True, True
            for i, http in enumerate(vs.spec.http):
                matches = tuple(_clause(m) for m in http.match)
                share_known = share_known and not matches
                rule = _Rule(res, host, i, matches, share_known, name)
                if not reachable:
                    message = f"{host}: http[{i}] follows a rule that takes every request"
                    self.flag("unreachable_rule", message, rule.at())
                elif matches:
                    message = (
                        f"{host}: http[{i}] takes only requests matching "
                        f"{_describe(matches)}; its share of requests is unknown"
                    )
                    self.flag("unknown_share", message, rule.at("match"))
                self.route(rule, http, reachable, tuple(vs.spec.gateways))
                reachable = reachable and bool(matches)

    def flag(self, kind: FlagKind, message: str, source: Provenance) -> None:
        self.flags.append(EvidenceFlag(kind, message, source))

    def route(
        self, rule: _Rule, http: HttpRoute, reachable: bool, gateways: tuple[str, ...]
    ) -> None:
        # Istio: a single destination takes all of the rule's traffic whatever its weight;
        # otherwise each takes weight / (sum of weights), a missing weight counting as 0.
        weights = [1 if len(http.route) == 1 else (d.weight or 0) for d in http.route]
        total = sum(weights)
        if not http.route:
            return
        if total == 0:
            message = "every destination has weight 0 (a missing weight counts as 0 when there "
            message += "are several destinations), so none would receive traffic"
            self.problems.append(rule.problem(message, "route"))
        for j, (dest, weight) in enumerate(zip(http.route, weights, strict=True)):
            given = dest.weight is not None
            self.routes.setdefault(rule.host, []).append(
                RouteEntry(
                    host=rule.host,
                    destination=dest.destination.host,
                    subset=dest.destination.subset,
                    weight=weight / total if total else 0.0,
                    matches=rule.matches,
                    rule=rule.index,
                    rule_name=http.name,
                    share_known=rule.share_known,
                    reachable=reachable,
                    gateways=gateways,
                    virtual_service=rule.virtual_service,
                    source=rule.at("route", j, "weight" if given else "destination"),
                    signal="istio.route.weight" if given else "istio.route",
                )
            )
        self.retries.append(self.retry(rule, http.retries))
        path = ("spec", "http", rule.index)
        timeout = self.seconds(rule.res, http.timeout, (*path, "timeout"))
        if timeout:  # Istio: no timeout by default, and "0s" turns it off
            self.timeouts.append(
                TimeoutEvidence(rule.host, rule.index, timeout, rule.at("timeout"), "istio.timeout")
            )
        if http.fault is not None:
            targets = tuple((d.destination.host, d.destination.subset) for d in http.route)
            self.fault(rule, http.fault, targets)
        self.mirror(rule, http)

    def retry(self, rule: _Rule, retries: Retries | None) -> RetryEvidence:
        host, i = rule.host, rule.index
        if retries is None:
            return RetryEvidence(
                host,
                i,
                DEFAULT_RETRY_ATTEMPTS,
                None,
                DEFAULT_RETRY_ON,
                (),
                defaulted=True,
                source=rule.at(),
                signal="istio.retries.default",
            )
        if retries.attempts <= 0:
            return RetryEvidence(
                host,
                i,
                0,
                None,
                (),
                (),
                defaulted=False,
                source=rule.at("retries"),
                signal="istio.retries",
            )
        retry_on: tuple[str, ...] = DEFAULT_RETRY_ON
        codes: tuple[int, ...] = ()
        if retries.retry_on:
            # As Istio does: numeric parts are status codes, retried via retriable-status-codes.
            parts = [p.strip() for p in retries.retry_on.split(",") if p.strip()]
            codes = tuple(int(p) for p in parts if p.isdigit())
            retry_on = tuple(p for p in parts if not p.isdigit())
            if codes and "retriable-status-codes" not in retry_on:
                retry_on = (*retry_on, "retriable-status-codes")
        fields = ("spec", "http", i, "retries", "perTryTimeout")
        per_try = self.seconds(rule.res, retries.per_try_timeout, fields)
        return RetryEvidence(
            host,
            i,
            retries.attempts,
            per_try,
            retry_on,
            codes,
            defaulted=False,
            source=rule.at("retries", "attempts"),
            signal="istio.retries",
        )

    def fault(self, rule: _Rule, fault: Fault, targets: tuple[tuple[str, str | None], ...]) -> None:
        found: list[tuple[Literal["delay", "abort"], float, float | None, int | None]] = []
        if fault.delay is not None:
            fields = ("spec", "http", rule.index, "fault", "delay", "fixedDelay")
            delay = self.seconds(rule.res, fault.delay.fixed_delay, fields)
            if delay is not None:
                found.append(("delay", _share(fault.delay), delay, None))
        abort = fault.abort
        if abort is not None and (abort.http_status, abort.grpc_status, abort.http2_error) == (
            None,
            None,
            None,
        ):
            message = "an abort needs httpStatus, grpcStatus or http2Error"
            self.problems.append(rule.problem(message, "fault", "abort"))
        elif abort is not None:
            found.append(("abort", _share(abort), None, abort.http_status))
        for kind, share, delay, status in found:
            where = ("fault", "delay", "fixedDelay") if kind == "delay" else ("fault", "abort")
            self.faults.append(
                FaultEvidence(
                    rule.host,
                    rule.index,
                    kind,
                    share,
                    delay,
                    status,
                    targets,
                    rule.matches,
                    rule.share_known,
                    rule.virtual_service,
                    rule.at(*where),
                    f"istio.fault.{kind}",
                )
            )

    def mirror(self, rule: _Rule, http: HttpRoute) -> None:
        found: list[tuple[Destination, float, Provenance]] = []
        if http.mirror is not None:
            # Istio mirrors every request when neither mirrorPercentage nor mirrorPercent is set.
            percent = (
                http.mirror_percentage.value
                if http.mirror_percentage is not None
                else 100.0
                if http.mirror_percent is None
                else http.mirror_percent
            )
            found.append((http.mirror, percent / 100.0, rule.at("mirror")))
        for k, m in enumerate(http.mirrors):
            percent = 100.0 if m.percentage is None else m.percentage.value
            found.append((m.destination, percent / 100.0, rule.at("mirrors", k)))
        for dest, share, source in found:
            self.mirrors.append(
                MirrorEvidence(
                    rule.host, rule.index, dest.host, dest.subset, share, source, "istio.mirror"
                )
            )

    def destination_rule(self, res: Resource, dr: DestinationRule) -> None:
        host = dr.spec.host
        for k, subset in enumerate(dr.spec.subsets):
            self.subsets.setdefault(host, []).append(
                SubsetEvidence(
                    host,
                    subset.name,
                    tuple(sorted(subset.labels.items())),
                    res.provenance("spec", "subsets", k),
                    "istio.subset",
                )
            )
            path = ("spec", "subsets", k, "trafficPolicy")
            self.outliers(res, host, subset.name, subset.traffic_policy, path)
        self.outliers(res, host, None, dr.spec.traffic_policy, ("spec", "trafficPolicy"))

    def outliers(
        self,
        res: Resource,
        host: str,
        subset: str | None,
        policy: TrafficPolicy | None,
        path: PathKey,
    ) -> None:
        if policy is None:
            return
        found: list[tuple[int | None, OutlierDetection | None, PathKey]] = [
            (None, policy.outlier_detection, (*path, "outlierDetection"))
        ]
        for p, port in enumerate(policy.port_level_settings):
            number = port.port.number if port.port else None
            where = (*path, "portLevelSettings", p, "outlierDetection")
            found.append((number, port.outlier_detection, where))
        for number, od, where in found:
            if od is None:
                continue
            # consecutiveErrors is the deprecated name of the gateway-error (502/503/504) count.
            gateway = od.consecutive_gateway_errors
            self.ejection.append(
                EjectionPolicy(
                    host=host,
                    subset=subset,
                    port=number,
                    consecutive_5xx_errors=od.consecutive_5xx_errors,
                    consecutive_gateway_errors=od.consecutive_errors
                    if gateway is None
                    else gateway,
                    interval_seconds=self.seconds(res, od.interval, (*where, "interval")),
                    base_ejection_seconds=self.seconds(
                        res, od.base_ejection_time, (*where, "baseEjectionTime")
                    ),
                    max_ejection_percent=od.max_ejection_percent,
                    source=res.provenance(*where),
                    signal="istio.outlierDetection",
                )
            )

    def finish(self) -> ConfigEvidence:
        if self.problems:
            raise SpecError(self.problems)
        for (host, _), owners in sorted(self.owners.items()):
            if len(owners) > 1:
                names = ", ".join(o for o, _ in owners)
                message = (
                    f"{host}: routed by {len(owners)} VirtualServices ({names}); "
                    "Istio applies only one"
                )
                self.flag("conflicting_routes", message, owners[1][1])
        defined = {service_of(h): {s.name for s in subs} for h, subs in self.subsets.items()}
        for r in (r for entries in self.routes.values() for r in entries):
            known = defined.get(service_of(r.destination))
            if r.subset and known is not None and r.subset not in known:
                message = (
                    f"{r.host}: routes to subset '{r.subset}' of {r.destination}, "
                    "which no DestinationRule read defines"
                )
                self.flag("undefined_subset", message, r.source)
        return ConfigEvidence(
            routes={h: tuple(v) for h, v in self.routes.items()},
            retry_policies=tuple(self.retries),
            timeouts=tuple(self.timeouts),
            faults=tuple(self.faults),
            mirrors=tuple(self.mirrors),
            subsets={h: tuple(v) for h, v in self.subsets.items()},
            outlier_detection=tuple(self.ejection),
            domains={s: tuple(v) for s, v in self.domains.items()},
            placements=tuple(self.placements),
            resource_counts=dict(self.counts),
            flags=tuple(self.flags),
        )


def _share(fault: Delay | Abort) -> float:
    # Istio: "If left unspecified, no request will be delayed" (likewise aborted).
    if fault.percentage is not None:
        return fault.percentage.value / 100.0
    return (fault.percent or 0) / 100.0


def _clause(match: MatchRequest) -> MatchClause:
    out: list[MatchCondition] = []
    for name in ("uri", "scheme", "method", "authority"):
        string_match = getattr(match, name)
        if string_match is not None:
            out.extend(_string_match(name, string_match))
    for group, table in (
        ("headers", match.headers),
        ("queryParams", match.query_params),
        ("withoutHeaders", match.without_headers),
    ):
        for key, string_match in sorted(table.items()):
            out.extend(_string_match(f"{group}.{key}", string_match))
    if match.port is not None:
        out.append(MatchCondition("port", "exact", str(match.port)))
    for key, value in sorted(match.source_labels.items()):
        out.append(MatchCondition(f"sourceLabels.{key}", "exact", value))
    if match.source_namespace is not None:
        out.append(MatchCondition("sourceNamespace", "exact", match.source_namespace))
    out.extend(MatchCondition("gateways", "exact", g) for g in match.gateways)
    return tuple(out)


def _string_match(field: str, match: Mapping[str, str]) -> list[MatchCondition]:
    if not match:
        return [MatchCondition(field, "present", "")]
    return [MatchCondition(field, op, value) for op, value in sorted(match.items())]


def _describe(matches: tuple[MatchClause, ...]) -> str:
    return " or ".join(
        " and ".join(f"{c.field} {c.operator} '{c.value}'" for c in clause) or "anything"
        for clause in matches
    )


def config_evidence_from_documents(
    docs: Iterable[YamlDocument], *, domain_label_keys: Sequence[str] = ()
) -> ConfigEvidence:
    """Map parsed manifests to evidence; raises SpecError (file:line) for malformed resources."""
    collector = _Collector(domain_label_keys)
    for resource in iter_resources(list(docs)):
        collector.add(resource)
    return collector.finish()


def read_config_dirs(
    paths: Sequence[Path], *, domain_label_keys: Sequence[str] = ()
) -> ConfigEvidence:
    """Read every YAML file under `paths` (files or folders) and map it to evidence."""
    roots = [p.resolve() if p.is_dir() else p.resolve().parent for p in paths]
    root = Path(os.path.commonpath([str(r) for r in roots])) if roots else None
    docs: list[YamlDocument] = []
    problems: list[SpecProblem] = []
    for base in paths:
        if not base.exists():
            problems.append(SpecProblem(Location(base.as_posix()), "", "no such file or directory"))
        for file in [base] if base.is_file() else _yaml_files(base):
            try:
                docs.extend(read_yaml_file(file, display_name(file, root)))
            except SpecError as exc:
                problems.extend(exc.problems)
    try:
        evidence = config_evidence_from_documents(docs, domain_label_keys=domain_label_keys)
    except SpecError as exc:
        problems.extend(exc.problems)
    if problems:
        # Files that parsed are still checked, so one run reports every problem.
        raise SpecError(problems)
    return evidence


def _yaml_files(folder: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out.extend(Path(dirpath) / f for f in sorted(filenames) if f.endswith((".yaml", ".yml")))
    return out


# --- Predicted effect of injected faults ----------------------------------------------------


@dataclass(frozen=True)
class FaultEffect:
    """What injected faults do to calls to one host, as intervals over unknown traffic shares.

    availability_factor: multiply the host's availability by a value in this range (aborts
      happen in the caller's proxy before routing, so retries cannot mask them).
    delayed_share: share of calls delayed by between `min_delay` and `max_delay` seconds
      (both 0 when nothing is delayed).
    """

    host: str
    availability_factor: tuple[float, float]
    delayed_share: tuple[float, float]
    min_delay: float
    max_delay: float
    sources: tuple[Provenance, ...]

    def hull(self, other: FaultEffect) -> FaultEffect:
        """The smallest effect covering both (when it is unknown which one applies)."""
        a, b = self, other
        delaying = [e for e in (a, b) if e.max_delay > 0] or [a]
        return FaultEffect(
            a.host,
            (
                min(a.availability_factor[0], b.availability_factor[0]),
                max(a.availability_factor[1], b.availability_factor[1]),
            ),
            (
                min(a.delayed_share[0], b.delayed_share[0]),
                max(a.delayed_share[1], b.delayed_share[1]),
            ),
            min(e.min_delay for e in delaying),
            max(a.max_delay, b.max_delay),
            a.sources + b.sources,
        )

    def availability(self, a: float) -> tuple[float, float]:
        return a * self.availability_factor[0], a * self.availability_factor[1]

    def delayed_cdf(self, cdf: Callable[[float], float], t: float) -> tuple[float, float]:
        """Bounds on P(latency ≤ t) once the faults apply, given the undelayed CDF."""
        low = cdf(t) - self.delayed_share[1] * (cdf(t) - cdf(t - self.max_delay))
        high = cdf(t) - self.delayed_share[0] * (cdf(t) - cdf(t - self.min_delay))
        return low, high


def fault_effects(
    evidence: ConfigEvidence, rule_shares: Mapping[tuple[str, int], float] | None = None
) -> dict[str, FaultEffect]:
    """Per host with faults: the effect on availability and latency of calls to it.

    `rule_shares` may give the share of a host's requests that a match-routed rule takes,
    keyed by (host, rule index); a rule without a known share may take any share left. When
    several VirtualServices route the host (a flagged conflict), the effect spans them all.
    """
    out: dict[str, FaultEffect] = {}
    for host in sorted({f.host for f in evidence.faults}):
        for vs in sorted({_vs_key(r) for r in evidence.routes.get(host, ())}):
            routes = [r for r in evidence.routes.get(host, ()) if _vs_key(r) == vs]
            effect = _vs_fault_effect(host, vs, routes, evidence.faults, rule_shares or {})
            if effect is not None and host in out:
                effect = out[host].hull(effect)
            if effect is not None:
                out[host] = effect
    return out


def _vs_key(entry: RouteEntry | FaultEvidence) -> tuple[str, str]:
    return entry.source.file, entry.virtual_service


def _vs_fault_effect(
    host: str,
    vs: tuple[str, str],
    routes: Sequence[RouteEntry],
    all_faults: Sequence[FaultEvidence],
    shares: Mapping[tuple[str, int], float],
) -> FaultEffect | None:
    rules = sorted({r.rule for r in routes if r.reachable})
    faults = [f for f in all_faults if f.host == host and _vs_key(f) == vs and f.rule in rules]
    if not rules:
        return None
    factor = dict.fromkeys(rules, 1.0)
    delayed = dict.fromkeys(rules, 0.0)
    for f in faults:
        if f.kind == "abort":
            factor[f.rule] *= 1.0 - f.share
        else:
            delayed[f.rule] = max(delayed[f.rule], f.share)
    known = {i: shares[(host, i)] for i in rules if (host, i) in shares}
    if any(not 0.0 <= s <= 1.0 for s in known.values()) or sum(known.values()) > 1.0 + 1e-12:
        raise ValueError(f"rule shares for {host} must lie in [0, 1] and sum to at most 1")
    unknown = [i for i in rules if i not in known]
    catch_all = {r.rule for r in routes if r.reachable and not r.matches}
    if len(unknown) == 1 and unknown[0] in catch_all:
        known[unknown[0]] = 1.0 - sum(known.values())
        unknown = []
    delays = [f.delay_seconds for f in faults if f.delay_seconds is not None]
    return FaultEffect(
        host,
        _mix(factor, known, unknown),
        _mix(delayed, known, unknown),
        min(delays, default=0.0),
        max(delays, default=0.0),
        tuple(f.source for f in faults),
    )


def _mix(
    value: Mapping[int, float], known: Mapping[int, float], unknown: Sequence[int]
) -> tuple[float, float]:
    fixed = sum(known[i] * value[i] for i in known)
    rest = 1.0 - sum(known.values())
    if not unknown:
        # Shares that do not reach 1 with no rule left: requests no rule matches are not routed.
        total = sum(known.values())
        point = fixed / total if total > 0 else 1.0
        return point, point
    low = fixed + rest * min(value[i] for i in unknown)
    high = fixed + rest * max(value[i] for i in unknown)
    return low, high
