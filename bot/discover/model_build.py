"""The discovered journey model: trace and configuration evidence mapped onto a journey's spec.

Pure: evidence and the spec's model in, a `Discovery` out (the `DiscoveredJourneyModel`
document plus, for each statement in it, the confidence, flags and provenance a delta needs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from bot.discover import confidence as conf
from bot.discover.mesh import ConfigEvidence, FaultEffect, fault_effects, service_of
from bot.discover.stats import wilson_interval
from bot.discover.trace_infer import CallEdge, TraceEvidence
from bot.discover.trace_infer import Provenance as SpanProvenance
from bot.spec.delta import EvidenceSource
from bot.spec.domain import JourneyModel, Node, Provenance
from bot.spec.models import (
    CallPolicy,
    RedundancyGroup,
    RetryPolicy,
    TopologyEdge,
)
from bot.spec.precedence import route_heads

T = TypeVar("T")

# Span attributes that name the same failure domain as a Kubernetes node label.
TRACE_KEY_ALIASES: dict[str, tuple[str, ...]] = {
    "topology.kubernetes.io/zone": ("cloud.availability_zone",),
    "topology.kubernetes.io/region": ("cloud.region",),
}


def domain_keys(model: JourneyModel, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """Label keys that are failure domains: the spec's rules with a `key`, plus `extra`."""
    rules = model.intent.spec.failure_domains.rules
    return tuple(dict.fromkeys([*(r.key for r in rules if r.key), *extra]))


def trace_label_keys(keys: Iterable[str]) -> tuple[str, ...]:
    """The span attribute keys to collect for these domain keys (aliases included)."""
    return tuple(dict.fromkeys(k for key in keys for k in (key, *TRACE_KEY_ALIASES.get(key, ()))))


@dataclass(frozen=True)
class Found(Generic[T]):
    """One statement of the discovered model with its confidence, flags and provenance."""

    item: T
    confidence: float
    provenance: tuple[EvidenceSource, ...] = ()
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Domains:
    component: str
    names: tuple[str, ...]  # `<key>=<value>`, one per domain key with evidence


@dataclass(frozen=True)
class Branch:
    heads: tuple[str, ...]  # the first component of each route, in the spec's order
    weights: tuple[float, ...]
    intervals: tuple[tuple[float, float], ...]  # a point per weight when config states it


@dataclass(frozen=True)
class FaultFinding:
    """Injected faults on calls to one component (a what-if: they are not accepted)."""

    effect: FaultEffect
    provenance: tuple[EvidenceSource, ...]


@dataclass(frozen=True)
class DiscoverySettings:
    extra_domain_keys: tuple[str, ...] = ()
    # Display name of a manifest (mesh provenance names files relative to the config root).
    config_file: Callable[[str], str] = str
    # Share of a host's requests a match-routed rule takes, keyed (host, rule index).
    rule_shares: Mapping[tuple[str, int], float] | None = None


@dataclass(frozen=True)
class Discovery:
    """What the evidence says about one journey, statement by statement."""

    journey: str
    journey_traces: int
    coverage: conf.Coverage
    edges: tuple[Found[TopologyEdge], ...]
    domains: tuple[Found[Domains], ...]
    branches: tuple[Found[Branch], ...]
    groups: tuple[Found[RedundancyGroup], ...]
    policies: tuple[Found[CallPolicy], ...]
    faults: Mapping[str, FaultFinding]
    confidence: float
    flags: tuple[str, ...]
    notes: tuple[str, ...]
    traces: TraceEvidence = field(repr=False)

    def edge(self, caller: str, callee: str) -> Found[TopologyEdge] | None:
        return next((e for e in self.edges if (e.item.from_, e.item.to) == (caller, callee)), None)


def discover_model(
    model: JourneyModel,
    traces: TraceEvidence,
    config: ConfigEvidence,
    settings: DiscoverySettings | None = None,
) -> Discovery:
    """Map evidence onto the journey `model` (its operator tree says what to expect)."""
    return _Builder(model, traces, config, settings or DiscoverySettings()).build()


def component_for(service: str, subset: str | None, components: Iterable[str]) -> str | None:
    """The spec component a mesh destination names: `reviews`+`v1` → `reviews-v1` or `reviews`."""
    names = set(components)
    candidates = [f"{service}-{subset}", f"{service}.{subset}"] if subset else []
    return next((c for c in (*candidates, service) if c in names), None)


def span_sources(
    items: Iterable[SpanProvenance], signal: str | None = None
) -> list[EvidenceSource]:
    return [
        EvidenceSource(file=p.file, span_ids=list(p.span_ids), signal=signal or p.signal)
        for p in items
    ]


class _Builder:
    def __init__(
        self,
        model: JourneyModel,
        traces: TraceEvidence,
        config: ConfigEvidence,
        settings: DiscoverySettings,
    ) -> None:
        self.model, self.traces, self.config, self.settings = model, traces, config, settings
        self.leaves = model.leaf_components()
        self.entry = self.leaves[0]
        self.always = conf.always_called(model.root)
        self.n = traces.counts.journey_traces
        self.claims: list[conf.Claim] = []
        self.flags: list[str] = []

    def source(self, p: Provenance, signal: str) -> EvidenceSource:
        file = self.settings.config_file(p.file)
        return EvidenceSource(file=file, field=p.field, line=p.line, signal=signal)

    def calls(self, component: str) -> int:
        """Journey traces that called `component` (the entry: every journey trace)."""
        if component == self.entry:
            return self.n
        return max((e.traces for e in self.traces.edges if e.callee == component), default=0)

    def call_confidence(self, component: str) -> float:
        k = self.calls(component)
        if component in self.always:
            return conf.support_confidence(k, self.n)
        return conf.estimate_confidence(k, self.n)

    def build(self) -> Discovery:
        cover = conf.coverage(self.leaves, [c for c in self.leaves if self.calls(c) > 0])
        edges = self.edges()
        self.observed(cover)
        domains = tuple(d for c in self.leaves if (d := self.domain(c)) is not None)
        branches = tuple(b for n in self.model.root.walk() if (b := self.branch(n)) is not None)
        groups = self.groups()
        policies = self.policy_findings()
        self.config_flags()
        if cover.missing:
            self.flags.append(conf.LOW_COVERAGE)
        overall, weakest = conf.overall(self.claims)
        notes = (
            f"{self.n} journey traces ({self.traces.counts.spans} spans read)",
            f"coverage {len(cover.seen)}/{len(cover.expected)} spec leaves seen in traces",
            f"weakest claim: {weakest.subject} ({weakest.confidence:.4f})"
            if weakest
            else "no claims",
        )
        return Discovery(
            journey=self.model.name,
            journey_traces=self.n,
            coverage=cover,
            edges=edges,
            domains=domains,
            branches=branches,
            groups=groups,
            policies=policies,
            faults=self.faults(),
            confidence=overall,
            flags=tuple(sorted(set(self.flags))),
            notes=notes,
            traces=self.traces,
        )

    def edges(self) -> tuple[Found[TopologyEdge], ...]:
        out: list[Found[TopologyEdge]] = []
        for e in self.traces.edges:
            if e.caller in self.leaves and e.callee in self.leaves:
                edge = TopologyEdge.model_validate(
                    {"from": e.caller, "to": e.callee, "callType": e.call_type,
                     "probability": e.probability.point,
                     "interval": (e.probability.low, e.probability.high)}
                )  # fmt: skip
                sources = tuple(span_sources(e.provenance, f"span {e.via}"))
                out.append(Found(edge, self.call_confidence(e.callee), sources))
        for c in self.leaves:
            if c != self.entry or not self.n:
                self.claims.append(conf.Claim(f"calls to {c}", self.call_confidence(c)))
        return tuple(out)

    def observed(self, cover: conf.Coverage) -> None:
        """Leaves never reached, or reached but sending no spans of their own, lack evidence."""
        for c in cover.missing:
            self.flags.append(conf.missing_evidence(c))
        for c in cover.seen:
            leaf = self.traces.leaf(c)
            own = leaf is not None and leaf.observed_via == "server spans"
            k = self.calls(c)
            self.claims.append(
                conf.Claim(f"own spans of {c}", conf.support_confidence(k if own else 0, k))
            )
            if not own:
                self.flags.append(conf.missing_evidence(c))

    def domain(self, component: str) -> Found[Domains] | None:
        names: list[str] = []
        sources: list[EvidenceSource] = []
        weakest = 1.0
        flags: list[str] = []
        labels = self.traces.domain(component)
        leaf = self.traces.leaf(component)
        for key in domain_keys(self.model, self.settings.extra_domain_keys):
            votes: Counter[str] = Counter()
            for alias in (key, *TRACE_KEY_ALIASES.get(key, ())):
                found = labels.get(alias) if labels else None
                for value, count in found.values if found else ():
                    votes[value] += count
                if found and leaf is not None:
                    sources.extend(span_sources(leaf.provenance, f"span attribute {alias}"))
            for service, evidence in self.config.domains.items():
                for d in evidence:
                    label, _, value = d.domain.partition("=")
                    if label == key and component_for(service, d.version, [component]):
                        votes[value] += 1
                        sources.append(self.source(d.source, d.signal))
            vote = conf.label_vote(votes)
            if vote is None:
                continue
            names.append(f"{key}={vote.value}")
            weakest = min(weakest, vote.confidence)
            self.claims.append(conf.Claim(f"{key} of {component}", vote.confidence))
            if vote.conflicting:
                flags.append(conf.conflicting_labels(component))
        self.flags.extend(flags)
        if not names:
            return None
        return Found(Domains(component, tuple(names)), weakest, tuple(sources), tuple(flags))

    def branch(self, node: Node) -> Found[Branch] | None:
        if node.op != "branch":
            return None
        heads = route_heads(node)
        for host in sorted(self.config.routes):
            split: dict[str, float] = {}
            for (dest, subset), w in self.config.split(host).items():
                comp = component_for(service_of(dest), subset, heads)
                split[comp or ""] = split.get(comp or "", 0.0) + w
            if split and set(split) <= set(heads):
                return self.config_branch(host, heads, tuple(split.get(h, 0.0) for h in heads))
        counts = [self.calls(h) for h in heads]
        total = sum(counts)
        if not total:
            return None
        weights = tuple(k / total for k in counts)
        shares = [wilson_interval(k, total) for k in counts]
        confidence = min(conf.estimate_confidence(k, total) for k in counts)
        self.claims.append(conf.Claim(f"branch weights of {','.join(heads)}", confidence))
        sources = [s for h in heads for e in self.edges_into(h) for s in span_sources(e.provenance)]
        branch = Branch(heads, weights, tuple((s.low, s.high) for s in shares))
        return Found(branch, confidence, tuple(sources))

    def edges_into(self, component: str) -> list[CallEdge]:
        return [e for e in self.traces.edges if e.callee == component]

    def config_branch(
        self, host: str, heads: tuple[str, ...], weights: tuple[float, ...]
    ) -> Found[Branch]:
        entries = [r for r in self.config.routes[host] if r.reachable and not r.matches]
        sources = tuple(self.source(r.source, r.signal) for r in entries)
        # A route weight is stated, not sampled: traffic confirms it when traces show each
        # route's share within its Wilson interval, as precisely as the counts allow.
        flags: list[str] = []
        confidence = 1.0
        for head, w in zip(heads, weights, strict=True):
            share = wilson_interval(self.calls(head), self.n) if self.n else None
            flag = conf.conflicting_routes(service_of(host))
            if share is not None and not share.low <= w <= share.high and flag not in flags:
                flags.append(flag)
            confidence = min(confidence, conf.estimate_confidence(self.calls(head), self.n))
        self.flags.extend(flags)
        self.claims.append(conf.Claim(f"route weights of {service_of(host)}", confidence))
        branch = Branch(heads, weights, tuple((w, w) for w in weights))
        return Found(branch, confidence, sources, tuple(flags))

    def groups(self) -> tuple[Found[RedundancyGroup], ...]:
        out: list[Found[RedundancyGroup]] = []
        for r in self.traces.races:
            if set(r.providers) <= set(self.leaves):
                group = RedundancyGroup(
                    pattern="race", group=list(r.providers), semantics=r.semantics
                )
                confidence = conf.support_confidence(r.races, r.traces)
                self.claims.append(conf.Claim(f"race of {','.join(r.providers)}", confidence))
                out.append(Found(group, confidence, tuple(span_sources(r.provenance))))
        for f in self.traces.fallbacks:
            if f.confirmed and {f.primary, f.fallback} <= set(self.leaves):
                group = RedundancyGroup(pattern="fallback", group=[f.primary, f.fallback])
                confidence = conf.support_confidence(f.fallbacks, f.fallbacks + f.violations)
                self.claims.append(conf.Claim(f"fallback {f.primary}→{f.fallback}", confidence))
                out.append(Found(group, confidence, tuple(span_sources(f.provenance))))
        return tuple(out)

    def policy_findings(self) -> tuple[Found[CallPolicy], ...]:
        chosen: dict[str, tuple[tuple[bool, int], Found[CallPolicy]]] = {}
        timeouts = {(t.host, t.rule, t.source.file): t for t in self.config.timeouts}
        for r in self.config.retry_policies:
            timeout = timeouts.get((r.host, r.rule, r.source.file))
            for e in self.config.routes.get(r.host, ()):
                comp = component_for(service_of(e.destination), e.subset, self.leaves)
                if comp is None or e.rule != r.rule or not e.reachable:
                    continue
                if e.source.file != r.source.file:
                    continue
                retries = RetryPolicy(
                    attempts=r.tries,
                    per_try_timeout=_duration(r.per_try_timeout),
                    retry_on=list(r.retry_on),
                )
                policy = CallPolicy(
                    target=comp,
                    retries=retries,
                    timeout=_duration(timeout.seconds) if timeout else None,
                )
                sources = [self.source(r.source, r.signal)]
                if timeout:
                    sources.append(self.source(timeout.source, timeout.signal))
                # A policy is stated, not sampled: traffic to the target confirms it.
                found = Found(policy, self.call_confidence(comp), tuple(sources))
                rank = (bool(e.matches), e.rule)  # the catch-all rule speaks for most calls
                if comp not in chosen or rank < chosen[comp][0]:
                    chosen[comp] = (rank, found)
        out = [chosen[c][1] for c in self.leaves if c in chosen]
        for p in out:
            self.claims.append(conf.Claim(f"policy of {p.item.target}", p.confidence))
        return tuple(out)

    def config_flags(self) -> None:
        services = {s for c in self.leaves for s in (c, c.rsplit("-", 1)[0], c.split(".")[0])}
        for f in self.config.flags:
            # The mesh reader's messages open with the host they are about.
            service = service_of(f.message.split(":", 1)[0])
            if service in services:
                self.flags.append(conf.config_flag(f.kind, service))

    def faults(self) -> dict[str, FaultFinding]:
        effects = fault_effects(self.config, self.settings.rule_shares)
        out: dict[str, FaultFinding] = {}
        for f in self.config.faults:
            effect = effects.get(f.host)
            for dest, subset in f.destinations if effect else ():
                comp = component_for(service_of(dest), subset, self.leaves)
                if comp is not None and effect is not None:
                    sources = tuple(self.source(s, "istio.fault") for s in effect.sources)
                    out[comp] = FaultFinding(effect, sources)
        return out


def _duration(seconds: float | None) -> str | None:
    """Seconds as the wire's duration text: 250ms, 2s, 0.0005s."""
    if seconds is None:
        return None
    ms = round(seconds * 1000.0, 6)
    if ms.is_integer() and ms % 1000:
        return f"{int(ms)}ms"
    return f"{seconds:.6f}".rstrip("0").rstrip(".") + "s"
