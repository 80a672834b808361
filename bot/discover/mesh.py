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
    ObjectMeta,
    PlacementEvidence,
    Resource,
    is_workload,
    iter_resources,
    workload_evidence,
)
from bot.spec.domain import Provenance
from bot.spec.errors import Location, SpecError, SpecProblem
from bot.spec.wire import OpenModel
from bot.spec.yamlpos import YamlDocument, display_name, read_yaml_file

ISTIO_API_VERSIONS = ("networking.istio.io/v1alpha3", "networking.istio.io/v1beta1",
                      "networking.istio.io/v1")

# Istio's retry policy when a route has no `retries` block: 2 retries (3 tries) on
# "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes". Source: istio
# pilot/pkg/networking/core/route/retry/retry.go (DefaultPolicy, ConvertPolicy) and the
# MeshConfig `defaultHttpRetryPolicy` reference. `attempts` counts retries after the first try;
# a `retries` block without `attempts` (or with 0) disables retries.
DEFAULT_RETRY_ATTEMPTS = 2
DEFAULT_RETRY_ON = ("connect-failure", "refused-stream", "unavailable", "cancelled",
                    "retriable-status-codes")

_GO_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:h|m|s|ms|us|µs|ns))+$")
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_GO_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6,
                    "ns": 1e-9}


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
    headers: dict[str, dict[str, str]] = {}
    query_params: dict[str, dict[str, str]] = {}
    without_headers: dict[str, dict[str, str]] = {}
    port: int | None = None
    source_labels: dict[str, str] = {}
    source_namespace: str | None = None
    gateways: list[str] = []


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
    match: list[MatchRequest] = []
    route: list[RouteDestination] = []
    timeout: str | None = None
    retries: Retries | None = None
    fault: Fault | None = None
    mirror: Destination | None = None
    mirror_percentage: Percent | None = None
    mirror_percent: int | None = Field(default=None, ge=0, le=100)
    mirrors: list[Mirror] = []


class VirtualServiceSpec(OpenModel):
    hosts: list[str] = []
    gateways: list[str] = []
    http: list[HttpRoute] = []


class VirtualService(OpenModel):
    kind: Literal["VirtualService"]
    metadata: ObjectMeta
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
    port_level_settings: list[PortTrafficPolicy] = []


class Subset(OpenModel):
    name: str
    labels: dict[str, str] = {}
    traffic_policy: TrafficPolicy | None = None


class DestinationRuleSpec(OpenModel):
    host: str
    subsets: list[Subset] = []
    traffic_policy: TrafficPolicy | None = None


class DestinationRule(OpenModel):
    kind: Literal["DestinationRule"]
    metadata: ObjectMeta
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
        """The weighted branch of the host's default (first unconditional) rule."""
        default = [r for r in self.routes.get(host, ()) if r.reachable and not r.matches]
        first = min((r.rule for r in default), default=None)
        out: dict[tuple[str, str | None], float] = {}
        for r in default:
            if r.rule == first:
                out[(r.destination, r.subset)] = out.get((r.destination, r.subset), 0.0) + r.weight
        return out

    def conditional_routes(self, host: str) -> tuple[RouteEntry, ...]:
        return tuple(r for r in self.routes.get(host, ()) if r.matches)

    def domain_names(self, service: str, version: str | None = None) -> frozenset[str]:
        """Failure domains a service shares (all its workloads, or one version of it)."""
        return frozenset(d.domain for d in self.domains.get(service, ())
                         if version is None or d.version == version)


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


class _Collector:
    """Accumulates evidence and problems while documents are mapped one by one."""

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
        self.vs_by_host: dict[str, list[tuple[str, Provenance]]] = {}

    def seconds(self, res: Resource, text: str | None, *path: str | int) -> float | None:
        if text is None:
            return None
        value = duration_seconds(text)
        if value is None:
            where = res.provenance(*path)
            self.problems.append(SpecProblem(
                Location(where.file, where.line, where.column), where.field,
                f"expected a duration like 2s, 0.5s or 250ms, got '{text}'"))
        return value

    def add(self, res: Resource) -> None:
        if res.api_version in ISTIO_API_VERSIONS and res.kind == "VirtualService":
            vs, problems = res.parse(VirtualService)
            self.problems.extend(problems)
            if vs is not None:
                self._virtual_service(res, vs)
        elif res.api_version in ISTIO_API_VERSIONS and res.kind == "DestinationRule":
            dr, problems = res.parse(DestinationRule)
            self.problems.extend(problems)
            if dr is not None:
                self._destination_rule(res, dr)
        elif is_workload(res):
            found, problems = workload_evidence(res, self.domain_label_keys)
            self.problems.extend(problems)
            if found is not None:
                for d in found.domains:
                    self.domains.setdefault(d.service, []).append(d)
                self.placements.extend(found.placements)
        else:
            self.counts["ignored"] = self.counts.get("ignored", 0) + 1
            return
        self.counts[res.kind] = self.counts.get(res.kind, 0) + 1

    def _virtual_service(self, res: Resource, vs: VirtualService) -> None:
        name = f"{vs.metadata.namespace or 'default'}/{vs.metadata.name}"
        for h, host in enumerate(vs.spec.hosts):
            self.vs_by_host.setdefault(host, []).append(
                (f"{res.doc.file}:{name}", res.provenance("spec", "hosts", h)))
            share_known, reachable = True, True
            for i, rule in enumerate(vs.spec.http):
                path = ("spec", "http", i)
                matches = tuple(_clause(m) for m in rule.match)
                if not reachable:
                    self.flags.append(EvidenceFlag(
                        "unreachable_rule", f"{host}: http[{i}] follows a rule that matches "
                        "every request, so it never applies", res.provenance(*path)))
                elif matches:
                    share_known = False
                    self.flags.append(EvidenceFlag(
                        "unknown_share", f"{host}: http[{i}] routes only requests matching "
                        f"{_describe(matches)}; the share of requests it takes is unknown",
                        res.provenance(*path, "match")))
                self._rule(res, host, i, rule, matches, share_known and not matches, reachable,
                           tuple(vs.spec.gateways), name)
                if not matches:
                    reachable = False

    def _rule(self, res: Resource, host: str, i: int, rule: HttpRoute,
              matches: tuple[MatchClause, ...], share_known: bool, reachable: bool,
              gateways: tuple[str, ...], vs_name: str) -> None:
        path = ("spec", "http", i)
        # Istio: a single destination takes all of the rule's traffic whatever its weight;
        # otherwise each takes weight / (sum of weights).
        weights = [1 if len(rule.route) == 1 else (d.weight or 0) for d in rule.route]
        total = sum(weights)
        if rule.route and total == 0:
            where = res.provenance(*path, "route")
            self.problems.append(SpecProblem(Location(where.file, where.line, where.column),
                                             where.field, "every destination has weight 0, so "
                                             "no destination would receive traffic"))
            return
        for j, (dest, weight) in enumerate(zip(rule.route, weights, strict=True)):
            given = dest.weight is not None
            source = res.provenance(*path, "route", j, "weight" if given else "destination")
            self.routes.setdefault(host, []).append(RouteEntry(
                host, dest.destination.host, dest.destination.subset, weight / total, matches,
                i, rule.name, share_known, reachable, gateways, vs_name, source,
                "istio.route.weight" if given else "istio.route"))
        if not rule.route:
            return
        self.retries.append(self._retry(res, host, i, rule.retries))
        timeout = self.seconds(res, rule.timeout, *path, "timeout")
        if timeout is not None:
            self.timeouts.append(TimeoutEvidence(host, i, timeout,
                                                 res.provenance(*path, "timeout"), "istio.timeout"))
        destinations = tuple((d.destination.host, d.destination.subset) for d in rule.route)
        if rule.fault is not None:
            self._faults(res, host, i, rule.fault, destinations, matches, share_known)
        self._mirrors(res, host, i, rule)

    def _retry(self, res: Resource, host: str, i: int, retries: Retries | None) -> RetryEvidence:
        path = ("spec", "http", i)
        if retries is None:
            return RetryEvidence(host, i, DEFAULT_RETRY_ATTEMPTS, None, DEFAULT_RETRY_ON, (),
                                 True, res.provenance(*path), "istio.retries.default")
        if retries.attempts <= 0:
            return RetryEvidence(host, i, 0, None, (), (), False,
                                 res.provenance(*path, "retries"), "istio.retries")
        retry_on, codes = DEFAULT_RETRY_ON, ()
        if retries.retry_on:
            # As Istio does: integer parts are status codes, which need retriable-status-codes.
            parts = [p.strip() for p in retries.retry_on.split(",") if p.strip()]
            codes = tuple(int(p) for p in parts if p.isdigit())
            retry_on = tuple(p for p in parts if not p.isdigit())
            if codes and "retriable-status-codes" not in retry_on:
                retry_on = (*retry_on, "retriable-status-codes")
        per_try = self.seconds(res, retries.per_try_timeout, *path, "retries", "perTryTimeout")
        return RetryEvidence(host, i, retries.attempts, per_try, retry_on, codes, False,
                             res.provenance(*path, "retries", "attempts"), "istio.retries")

    def _faults(self, res: Resource, host: str, i: int, fault: Fault,
                destinations: tuple[tuple[str, str | None], ...],
                matches: tuple[MatchClause, ...], share_known: bool) -> None:
        path = ("spec", "http", i, "fault")
        if fault.delay is not None:
            delay = self.seconds(res, fault.delay.fixed_delay, *path, "delay", "fixedDelay")
            if delay is not None:
                self.faults.append(FaultEvidence(
                    host, i, "delay", _share(fault.delay.percentage, fault.delay.percent), delay,
                    None, destinations, matches, share_known,
                    res.provenance(*path, "delay", "fixedDelay"), "istio.fault.delay"))
        if fault.abort is not None:
            abort = fault.abort
            if abort.http_status is None and abort.grpc_status is None and abort.http2_error is None:
                where = res.provenance(*path, "abort")
                self.problems.append(SpecProblem(
                    Location(where.file, where.line, where.column), where.field,
                    "an abort needs httpStatus, grpcStatus or http2Error"))
                return
            self.faults.append(FaultEvidence(
                host, i, "abort", _share(abort.percentage, abort.percent), None,
                abort.http_status, destinations, matches, share_known,
                res.provenance(*path, "abort"), "istio.fault.abort"))

    def _mirrors(self, res: Resource, host: str, i: int, rule: HttpRoute) -> None:
        path = ("spec", "http", i)
        if rule.mirror is not None:
            # Istio mirrors all traffic when no mirrorPercentage (or legacy mirrorPercent) is set.
            share = 1.0
            if rule.mirror_percentage is not None:
                share = rule.mirror_percentage.value / 100.0
            elif rule.mirror_percent is not None:
                share = rule.mirror_percent / 100.0
            self.mirrors.append(MirrorEvidence(host, i, rule.mirror.host, rule.mirror.subset,
                                               share, res.provenance(*path, "mirror"),
                                               "istio.mirror"))
        for k, mirror in enumerate(rule.mirrors):
            share = 1.0 if mirror.percentage is None else mirror.percentage.value / 100.0
            self.mirrors.append(MirrorEvidence(
                host, i, mirror.destination.host, mirror.destination.subset, share,
                res.provenance(*path, "mirrors", k), "istio.mirror"))

    def _destination_rule(self, res: Resource, dr: DestinationRule) -> None:
        host = dr.spec.host
        for k, subset in enumerate(dr.spec.subsets):
            self.subsets.setdefault(host, []).append(SubsetEvidence(
                host, subset.name, tuple(sorted(subset.labels.items())),
                res.provenance("spec", "subsets", k), "istio.subset"))
            self._policy(res, host, subset.name, subset.traffic_policy,
                         ("spec", "subsets", k, "trafficPolicy"))
        self._policy(res, host, None, dr.spec.traffic_policy, ("spec", "trafficPolicy"))

    def _policy(self, res: Resource, host: str, subset: str | None,
                policy: TrafficPolicy | None, path: tuple[str | int, ...]) -> None:
        if policy is None:
            return
        found = [(None, policy.outlier_detection, (*path, "outlierDetection"))]
        for p, port in enumerate(policy.port_level_settings):
            number = port.port.number if port.port else None
            found.append((number, port.outlier_detection,
                          (*path, "portLevelSettings", p, "outlierDetection")))
        for number, od, where in found:
            if od is None:
                continue
            self.ejection.append(EjectionPolicy(
                host, subset, number, od.consecutive_5xx_errors,
                # consecutiveErrors is the deprecated name of the gateway-error (502/503/504) count.
                od.consecutive_gateway_errors if od.consecutive_gateway_errors is not None
                else od.consecutive_errors,
                self.seconds(res, od.interval, *where, "interval"),
                self.seconds(res, od.base_ejection_time, *where, "baseEjectionTime"),
                od.max_ejection_percent, res.provenance(*where), "istio.outlierDetection"))

    def finish(self) -> ConfigEvidence:
        for host, owners in sorted(self.vs_by_host.items()):
            if len(owners) > 1:
                self.flags.append(EvidenceFlag(
                    "conflicting_routes", f"{host}: routed by {len(owners)} VirtualServices "
                    f"({', '.join(o for o, _ in owners)}); Istio applies only one",
                    owners[1][1]))
        defined = {service_of(h): {s.name for s in subs} for h, subs in self.subsets.items()}
        for entries in self.routes.values():
            for r in entries:
                known = defined.get(service_of(r.destination))
                if r.subset and known is not None and r.subset not in known:
                    self.flags.append(EvidenceFlag(
                        "undefined_subset", f"{r.host}: routes to subset '{r.subset}' of "
                        f"{r.destination}, which no DestinationRule read defines", r.source))
        if self.problems:
            raise SpecError(self.problems)
        return ConfigEvidence(
            routes={h: tuple(v) for h, v in self.routes.items()},
            retry_policies=tuple(self.retries), timeouts=tuple(self.timeouts),
            faults=tuple(self.faults), mirrors=tuple(self.mirrors),
            subsets={h: tuple(v) for h, v in self.subsets.items()},
            outlier_detection=tuple(self.ejection),
            domains={s: tuple(v) for s, v in self.domains.items()},
            placements=tuple(self.placements), resource_counts=dict(self.counts),
            flags=tuple(self.flags))


def _share(percentage: Percent | None, legacy_percent: int | None) -> float:
    # Istio: "If left unspecified, no request will be delayed/aborted".
    if percentage is not None:
        return percentage.value / 100.0
    return (legacy_percent or 0) / 100.0


def _clause(match: MatchRequest) -> MatchClause:
    out: list[MatchCondition] = []
    for name in ("uri", "scheme", "method", "authority"):
        string_match = getattr(match, name)
        if string_match is not None:
            out.extend(_string_match(name, string_match))
    for group, table in (("headers", match.headers), ("queryParams", match.query_params),
                         ("withoutHeaders", match.without_headers)):
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
        for clause in matches)


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
    for file in _yaml_files(paths, problems):
        try:
            docs.extend(read_yaml_file(file, display_name(file, root)))
        except SpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    return config_evidence_from_documents(docs, domain_label_keys=domain_label_keys)


def _yaml_files(paths: Sequence[Path], problems: list[SpecProblem]) -> list[Path]:
    out: list[Path] = []
    for base in paths:
        if base.is_file():
            out.append(base)
        elif base.is_dir():
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                out.extend(Path(dirpath) / f for f in sorted(filenames)
                           if f.endswith((".yaml", ".yml")))
        else:
            problems.append(SpecProblem(Location(base.as_posix()), "", "no such file or directory"))
    return out


# --- Predicted effect of injected faults ----------------------------------------------------


@dataclass(frozen=True)
class FaultEffect:
    """What injected faults do to calls to one host, as intervals over unknown traffic shares.

    availability_factor: multiply the host's availability by a value in this range (aborts
      happen in the caller's proxy before routing, so retries cannot mask them).
    delayed_share: share of calls delayed by between `min_delay` and `max_delay` seconds.
    """

    host: str
    availability_factor: tuple[float, float]
    delayed_share: tuple[float, float]
    min_delay: float
    max_delay: float
    sources: tuple[Provenance, ...]

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
    keyed by (host, rule index); a rule without a known share may take any share left.
    """
    shares = dict(rule_shares or {})
    out: dict[str, FaultEffect] = {}
    for host in sorted({f.host for f in evidence.faults}):
        rules = sorted({r.rule for r in evidence.routes.get(host, ()) if r.reachable})
        faults = [f for f in evidence.faults if f.host == host and f.rule in rules]
        if not faults:
            continue
        factor = {i: 1.0 for i in rules}
        delayed = {i: 0.0 for i in rules}
        delays = [f.delay_seconds for f in faults if f.delay_seconds is not None]
        for f in faults:
            if f.kind == "abort":
                factor[f.rule] *= 1.0 - f.share
            else:
                delayed[f.rule] = max(delayed[f.rule], f.share)
        catch_all = {r.rule for r in evidence.routes[host] if r.reachable and not r.matches}
        known = {i: shares[(host, i)] for i in rules if (host, i) in shares}
        if any(not 0.0 <= s <= 1.0 for s in known.values()) or sum(known.values()) > 1.0 + 1e-12:
            raise ValueError(f"rule shares for {host} must lie in [0, 1] and sum to at most 1")
        unknown = [i for i in rules if i not in known]
        if len(unknown) == 1 and unknown[0] in catch_all:
            known[unknown[0]] = 1.0 - sum(known.values())
            unknown = []
        out[host] = FaultEffect(host, _mix(factor, known, unknown), _mix(delayed, known, unknown),
                                min(delays, default=0.0), max(delays, default=0.0),
                                tuple(f.source for f in faults))
    return out


def _mix(value: Mapping[int, float], known: Mapping[int, float],
         unknown: Sequence[int]) -> tuple[float, float]:
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
