"""Istio VirtualService/DestinationRule and k8s workloads mapped to configuration evidence.

The wire models are in `istio_models`, the evidence types in `config_evidence`, the mapping of
each rule's traffic policies in `istio_policies` and the effect of injected faults in `faults`;
this module maps resources (routes, subsets, workload domains) and reads manifest folders.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from bot.discover.config_evidence import (
    ConfigEvidence,
    EjectionPolicy,
    EvidenceFlag,
    FaultEvidence,
    FlagKind,
    MatchClause,
    MatchCondition,
    MirrorEvidence,
    RetryEvidence,
    RouteEntry,
    SubsetEvidence,
    TimeoutEvidence,
)
from bot.discover.faults import FaultEffect, fault_effects
from bot.discover.istio_models import (
    ISTIO_API_VERSIONS,
    Abort,
    Delay,
    Destination,
    DestinationRule,
    DestinationRuleSpec,
    Fault,
    HttpRoute,
    MatchRequest,
    Mirror,
    OutlierDetection,
    Percent,
    PortSelector,
    PortTrafficPolicy,
    Retries,
    RouteDestination,
    Subset,
    TrafficPolicy,
    VirtualService,
    VirtualServiceSpec,
    duration_seconds,
    service_of,
)
from bot.discover.istio_policies import (
    DEFAULT_RETRY_ATTEMPTS,
    DEFAULT_RETRY_ON,
    HttpRule,
    PolicyCollector,
)
from bot.discover.k8s import (
    DomainEvidence,
    PlacementEvidence,
    Resource,
    is_workload,
    iter_resources,
    workload_evidence,
)
from bot.spec.domain import Provenance
from bot.spec.errors import Location, SpecError, SpecProblem
from bot.spec.yamlpos import YamlDocument, display_name, read_yaml_file

__all__ = [
    "DEFAULT_RETRY_ATTEMPTS",
    "DEFAULT_RETRY_ON",
    "ISTIO_API_VERSIONS",
    "Abort",
    "ConfigEvidence",
    "Delay",
    "Destination",
    "DestinationRule",
    "DestinationRuleSpec",
    "EjectionPolicy",
    "EvidenceFlag",
    "Fault",
    "FaultEffect",
    "FaultEvidence",
    "FlagKind",
    "HttpRoute",
    "MatchClause",
    "MatchCondition",
    "MatchRequest",
    "Mirror",
    "MirrorEvidence",
    "OutlierDetection",
    "Percent",
    "PortSelector",
    "PortTrafficPolicy",
    "Retries",
    "RetryEvidence",
    "RouteDestination",
    "RouteEntry",
    "Subset",
    "SubsetEvidence",
    "TimeoutEvidence",
    "TrafficPolicy",
    "VirtualService",
    "VirtualServiceSpec",
    "config_evidence_from_documents",
    "duration_seconds",
    "fault_effects",
    "read_config_dirs",
    "service_of",
]


class _Collector:
    """Accumulates evidence and problems while resources are mapped one by one."""

    def __init__(self, domain_label_keys: Sequence[str]) -> None:
        self.domain_label_keys = domain_label_keys
        self.routes: dict[str, list[RouteEntry]] = {}
        self.subsets: dict[str, list[SubsetEvidence]] = {}
        self.domains: dict[str, list[DomainEvidence]] = {}
        self.placements: list[PlacementEvidence] = []
        self.counts: dict[str, int] = {}
        self.flags: list[EvidenceFlag] = []
        self.problems: list[SpecProblem] = []
        self.policies = PolicyCollector(self.problems)
        # (host, gateway) → the VirtualServices routing it; "mesh" is the sidecars' gateway.
        self.owners: dict[tuple[str, str], list[tuple[str, Provenance]]] = {}

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
                rule = HttpRule(res, host, i, matches, share_known, name)
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
        self, rule: HttpRule, http: HttpRoute, reachable: bool, gateways: tuple[str, ...]
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
        self.policies.http_rule(rule, http)

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
            self.policies.outliers(res, host, subset.name, subset.traffic_policy, path)
        self.policies.outliers(res, host, None, dr.spec.traffic_policy, ("spec", "trafficPolicy"))

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
            retry_policies=tuple(self.policies.retries),
            timeouts=tuple(self.policies.timeouts),
            faults=tuple(self.policies.faults),
            mirrors=tuple(self.policies.mirrors),
            subsets={h: tuple(v) for h, v in self.subsets.items()},
            outlier_detection=tuple(self.policies.ejection),
            domains={s: tuple(v) for s, v in self.domains.items()},
            placements=tuple(self.placements),
            resource_counts=dict(self.counts),
            flags=tuple(self.flags),
        )


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
