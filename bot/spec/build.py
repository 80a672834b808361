"""Map validated documents into JourneyModels: resolve refs, check structure, attach provenance."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.spec.domain import (
    REPORTED_QUANTILES,
    ComponentModel,
    JourneyModel,
    LatencyCurve,
    ModelEvidence,
    Node,
    Objective,
    OpKind,
    Provenance,
    SliQueries,
)
from bot.spec.errors import Location, SpecError, SpecProblem, did_you_mean, format_path
from bot.spec.journey import (
    AsyncOp,
    BranchOp,
    Component,
    FallbackOp,
    JourneyIntent,
    LeafLatency,
    LeafRef,
    OptionalOp,
    ParallelOp,
    QuorumOp,
    RaceOp,
    RetryOp,
    SeriesOp,
)
from bot.spec.loader import Loaded, Workspace, resolve_relative
from bot.spec.models import AcceptedJourneyModel
from bot.spec.openslo import SLO
from bot.spec.precedence import apply_accepted_model
from bot.spec.wire import duration_seconds
from bot.spec.yamlpos import PathKey, YamlDocument

OPENSLO_PREFIX = "openslo:"
JOURNEY_PREFIX = "journey:"
WEIGHT_TOLERANCE = 1e-6


def quantile_of_metric(metric: str) -> float:
    """`p99` → 0.99, `p999` → 0.999, `p99.9` → 0.999, `p50` → 0.5, `p5` → 0.05."""
    digits = metric[1:]
    if "." in digits:
        return float(digits) / 100.0
    if len(digits) <= 2:
        return int(digits) / 100.0
    return float("0." + digits)


def provenance(doc: YamlDocument, path: PathKey) -> Provenance:
    loc = doc.location(path)
    return Provenance(loc.file, loc.line, loc.column, format_path(path))


@dataclass
class _Context:
    ws: Workspace
    doc: YamlDocument
    intent: JourneyIntent
    problems: list[SpecProblem]
    stack: tuple[str, ...]
    # Components of journeys inlined with `ref: journey:<name>`, shared across the whole build.
    inlined: dict[str, ComponentModel]
    # Node paths of an inlined journey are prefixed with the ref that pulled it in, so every
    # node of the combined tree has its own path.
    prefix: str = ""


def build_journeys(ws: Workspace, only: Sequence[str] | None = None) -> list[JourneyModel]:
    """Build every journey in the workspace (or the named ones); SpecError lists all problems."""
    problems: list[SpecProblem] = []
    journeys: list[JourneyModel] = []
    names = [j.model.metadata.name for j in ws.journeys]
    for wanted in only or ():
        if wanted not in names:
            raise SpecError(
                [
                    SpecProblem(
                        Location("emac"),
                        "",
                        f"no journey named '{wanted}'"
                        f"{did_you_mean(wanted, names)}; found: "
                        f"{', '.join(sorted(names)) or 'none'}",
                    )
                ]
            )
    for loaded in ws.journeys:
        if only and loaded.model.metadata.name not in only:
            continue
        before = len(problems)
        model = _build_one(ws, loaded, problems)
        if model is not None and len(problems) == before:
            journeys.append(model)
    if problems:
        raise SpecError(problems)
    return journeys


def _build_one(
    ws: Workspace, loaded: Loaded[JourneyIntent], problems: list[SpecProblem]
) -> JourneyModel | None:
    doc, intent = loaded.doc, loaded.model
    ctx = _Context(ws, doc, intent, problems, (intent.metadata.name,), {})
    spec = intent.spec
    components = _build_components(ctx, ws.accepted.get(intent.metadata.name))
    root = _build_node(ctx, spec.operator, ("spec", "operator"))
    if root is None:
        return None
    for name, comp in ctx.inlined.items():
        components.setdefault(name, comp)
    accepted = ws.accepted.get(intent.metadata.name)
    objectives = spec.objectives
    latency = objectives.latency
    objective = Objective(
        availability_target=objectives.availability.target,
        availability_window=objectives.availability.window,
        latency_quantile=quantile_of_metric(latency.objective.metric) if latency else None,
        latency_key=_latency_key(latency.objective.metric) if latency else None,
        latency_threshold=latency.objective.threshold if latency else None,
    )
    prov = {
        "objective.availability": provenance(doc, ("spec", "objectives", "availability", "target")),
    }
    if latency:
        prov["objective.latency"] = provenance(
            doc, ("spec", "objectives", "latency", "objective", "threshold")
        )
    pending = _pending_model(ctx)
    accepted_evidence = None
    if accepted is not None:
        conf = accepted.model.spec.confidence
        accepted_evidence = ModelEvidence(
            accepted.doc.file,
            "AcceptedJourneyModel",
            conf.overall if conf else None,
            tuple(conf.flags) if conf else (),
        )
    model = JourneyModel(
        name=intent.metadata.name,
        source=doc.file,
        objective=objective,
        root=root,
        components=components,
        governance=spec.governance,
        intent=intent,
        provenance=prov,
        accepted=accepted_evidence,
        pending=pending,
    )
    return model if accepted is None else apply_accepted_model(model, accepted.model, accepted.doc)


def _latency_key(metric: str) -> str:
    q = quantile_of_metric(metric)
    for key, value in REPORTED_QUANTILES.items():
        if math.isclose(q, value):
            return key
    return metric.replace(".", "")


def _pending_model(ctx: _Context) -> ModelEvidence | None:
    ev = ctx.intent.spec.evidence
    ref = ev.model_discovery.discovered_model_ref if ev and ev.model_discovery else None
    path: PathKey = ("spec", "evidence", "modelDiscovery", "discoveredModelRef")
    if ref is None:
        found = ctx.ws.discovered.get(ctx.intent.metadata.name)
        if found is None:
            return None
        conf = found.model.spec.confidence
        return ModelEvidence(
            found.doc.file,
            "DiscoveredJourneyModel",
            conf.overall if conf else None,
            tuple(conf.flags) if conf else (),
        )
    target = resolve_relative(ctx.doc.file, ref)
    docs = ctx.ws.documents_by_file.get(target)
    if docs is None:
        ctx.problems.append(
            ctx.doc.problem(path, f"discovered model '{ref}' not found (looked for {target})")
        )
        return None
    for d in docs:
        if isinstance(d.data, dict) and d.data.get("kind") == "DiscoveredJourneyModel":
            conf_block = ctx.ws.discovered.get(ctx.intent.metadata.name)
            conf = conf_block.model.spec.confidence if conf_block else None
            return ModelEvidence(
                target,
                "DiscoveredJourneyModel",
                conf.overall if conf else None,
                tuple(conf.flags) if conf else (),
            )
    ctx.problems.append(ctx.doc.problem(path, f"'{ref}' holds no DiscoveredJourneyModel"))
    return None


# --- components ---------------------------------------------------------------------------------


def _build_components(
    ctx: _Context, accepted: Loaded[AcceptedJourneyModel] | None
) -> dict[str, ComponentModel]:
    spec = ctx.intent.spec
    rule_names = [r.name for r in spec.failure_domains.rules]
    model_domains = _accepted_domains(accepted)
    out: dict[str, ComponentModel] = {}
    for name, comp in spec.components.items():
        base: PathKey = ("spec", "components", name)
        for i, domain in enumerate(comp.failure_domains):
            if rule_names and domain not in rule_names:
                ctx.problems.append(
                    ctx.doc.problem(
                        (*base, "failureDomains", i),
                        f"failure domain '{domain}' is not declared in spec.failureDomains.rules"
                        f"{did_you_mean(domain, rule_names)}",
                    )
                )
        availability = _availability(ctx, name, comp, base)
        if availability is None:
            continue
        value, source, slo = availability
        domains = frozenset(comp.failure_domains)
        domains_source = provenance(ctx.doc, (*base, "failureDomains"))
        if accepted is not None and name in model_domains:
            domains, domains_source = model_domains[name]
        out[name] = ComponentModel(
            name=name,
            kind=comp.kind,
            availability=value,
            availability_source=source,
            failure_domains=domains,
            domains_source=domains_source,
            latency=_latency(ctx, comp.latency, (*base, "latency")),
            retriable_share=comp.retriable_share,
            slo_name=slo.metadata.name if slo else None,
            sli=_sli(slo),
        )
    return out


def _accepted_domains(
    accepted: Loaded[AcceptedJourneyModel] | None,
) -> dict[str, tuple[frozenset[str], Provenance]]:
    """Effective failure domains from the accepted model: it takes precedence over the spec."""
    if accepted is None:
        return {}
    out: dict[str, tuple[set[str], Provenance]] = {}
    fd = accepted.model.spec.failure_domains
    for group_name, groups in (("declared", fd.declared), ("inferred", fd.inferred)):
        for i, assignment in enumerate(groups):
            where = provenance(accepted.doc, ("spec", "failureDomains", group_name, i, "members"))
            for member in assignment.members:
                names, _ = out.setdefault(member, (set(), where))
                names.add(assignment.name)
    return {k: (frozenset(v), p) for k, (v, p) in out.items()}


def _availability(
    ctx: _Context, name: str, comp: Component, base: PathKey
) -> tuple[float, Provenance, SLO | None] | None:
    if comp.availability is not None and comp.atomic_slo_ref is not None:
        ctx.problems.append(
            ctx.doc.problem(
                (*base, "availability"), "give either availability or atomicSLORef, not both"
            )
        )
        return None
    if comp.availability is not None:
        return comp.availability, provenance(ctx.doc, (*base, "availability")), None
    if comp.atomic_slo_ref is None:
        ctx.problems.append(
            ctx.doc.problem(
                base, 'component needs atomicSLORef ("openslo:<name>") or an inline availability'
            )
        )
        return None
    slo = _resolve_slo(ctx, comp.atomic_slo_ref, (*base, "atomicSLORef"))
    if slo is None:
        return None
    for i, objective in enumerate(slo.model.spec.objectives):
        ratio = objective.ratio()
        if ratio is not None:
            field = "target" if objective.target is not None else "targetPercent"
            return ratio, provenance(slo.doc, ("spec", "objectives", i, field)), slo.model
    ctx.problems.append(slo.doc.problem(("spec", "objectives"), "no objective has a target"))
    return None


def _resolve_slo(ctx: _Context, ref: str, path: PathKey) -> Loaded[SLO] | None:
    if not ref.startswith(OPENSLO_PREFIX):
        ctx.problems.append(
            ctx.doc.problem(path, f"expected \"openslo:<SLO metadata.name>\", got '{ref}'")
        )
        return None
    name = ref[len(OPENSLO_PREFIX) :]
    slo = ctx.ws.slos.get(name)
    if slo is None:
        ctx.problems.append(
            ctx.doc.problem(
                path, f"no OpenSLO SLO named '{name}'{did_you_mean(name, sorted(ctx.ws.slos))}"
            )
        )
    return slo


def _sli(slo: SLO | None) -> SliQueries | None:
    if slo is None or slo.spec.indicator is None or slo.spec.indicator.spec.ratio_metric is None:
        return None
    ratio = slo.spec.indicator.spec.ratio_metric

    def query(q: object) -> str | None:
        if q is None:
            return None
        spec = q.metric_source.spec  # type: ignore[attr-defined]
        extra = spec.model_extra or {}
        for key in ("query", "promql", "expr"):
            if isinstance(extra.get(key), str):
                return str(extra[key]).strip()
        return None

    total = query(ratio.total)
    if total is None:
        return None
    return SliQueries(good=query(ratio.good), bad=query(ratio.bad), total=total)


def _latency(ctx: _Context, lat: LeafLatency | None, path: PathKey) -> LatencyCurve | None:
    if lat is None:
        return None
    given = [k for k in ("percentiles", "histogram", "slo_ref") if getattr(lat, k) is not None]
    if len(given) != 1:
        ctx.problems.append(
            ctx.doc.problem(path, "give exactly one of percentiles, histogram or sloRef")
        )
        return None
    src = provenance(ctx.doc, path)
    points: list[tuple[float, float]] = []
    if lat.percentiles is not None:
        for key, seconds in lat.percentiles.items():
            if not re.fullmatch(r"p\d+(\.\d+)?", key) or not 0 < quantile_of_metric(key) < 1:
                ctx.problems.append(
                    ctx.doc.problem(
                        (*path, "percentiles", key),
                        f"'{key}' is not a percentile like p50, p99, p999",
                        key=True,
                    )
                )
                return None
            points.append((seconds, quantile_of_metric(key)))
    elif lat.histogram is not None:
        buckets = lat.histogram.buckets
        total = buckets[-1].count
        if total <= 0:
            ctx.problems.append(
                ctx.doc.problem(
                    (*path, "histogram", "buckets"),
                    "the last bucket must count at least one request",
                )
            )
            return None
        for i, b in enumerate(buckets):
            if i and (b.le <= buckets[i - 1].le or b.count < buckets[i - 1].count):
                ctx.problems.append(
                    ctx.doc.problem(
                        (*path, "histogram", "buckets", i),
                        "buckets must have increasing le and cumulative (non-decreasing) counts",
                    )
                )
                return None
            if math.isinf(b.le):
                continue
            points.append((b.le, b.count / total))
        # A trailing +Inf bucket leaves the tail open: _curve closes it at `max` (or twice the
        # last finite bound), so the counts in the +Inf bucket are kept, not dropped.
    else:
        assert lat.slo_ref is not None
        slo = _resolve_slo(ctx, lat.slo_ref, (*path, "sloRef"))
        if slo is None:
            return None
        for i, o in enumerate(slo.model.spec.objectives):
            ratio = o.ratio()
            if o.value is None or ratio is None or o.op not in ("lt", "lte"):
                ctx.problems.append(
                    slo.doc.problem(
                        ("spec", "objectives", i),
                        "a latency SLO objective needs op lt/lte, value (seconds) and target",
                    )
                )
                return None
            points.append((o.value, ratio))
        src = provenance(slo.doc, ("spec", "objectives"))
    return _curve(ctx, points, lat.max, src, path)


def _curve(
    ctx: _Context,
    points: list[tuple[float, float]],
    max_seconds: float | None,
    src: Provenance,
    path: PathKey,
) -> LatencyCurve | None:
    points.sort(key=lambda p: p[1])
    for (t0, _), (t1, _) in itertools.pairwise(points):
        if t1 < t0:
            ctx.problems.append(
                ctx.doc.problem(path, "latency must not decrease as the percentile grows")
            )
            return None
    knots: list[tuple[float, float]] = [(0.0, 0.0), *points]
    if knots[-1][1] < 1.0:
        # Without a stated maximum the tail beyond the last point is assumed to end at twice
        # that point: finite support keeps the grid bounded; state `max` to be explicit.
        end = max_seconds if max_seconds is not None else 2.0 * knots[-1][0]
        if end < knots[-1][0]:
            ctx.problems.append(
                ctx.doc.problem(
                    (*path, "max"), f"max {end} is below the highest percentile {knots[-1][0]}"
                )
            )
            return None
        knots.append((end, 1.0))
    return LatencyCurve(tuple(knots), src)


# --- operator tree ------------------------------------------------------------------------------


def _build_node(ctx: _Context, op: object, path: PathKey) -> Node | None:
    src = provenance(ctx.doc, path)
    fp = ctx.prefix + format_path(path)
    if isinstance(op, LeafRef):
        return _build_leaf(ctx, op, path)

    def kids(items: Sequence[object], key: str) -> tuple[Node, ...] | None:
        built = [_build_node(ctx, item, (*path, key, i)) for i, item in enumerate(items)]
        if any(b is None for b in built):
            return None
        return tuple(b for b in built if b is not None)

    if isinstance(op, SeriesOp):
        children = kids(op.steps, "steps")
        return None if children is None else Node("series", fp, src, children)
    if isinstance(op, ParallelOp):
        children = kids(op.branches, "branches")
        return None if children is None else Node("parallel", fp, src, children)
    if isinstance(op, RaceOp):
        children = kids(op.branches, "branches")
        delay = duration_seconds(op.hedge_delay) if op.hedge_delay else 0.0
        return None if children is None else Node("race", fp, src, children, hedge_delay=delay)
    if isinstance(op, FallbackOp):
        children = kids(op.alternatives, "alternatives")
        timeout = duration_seconds(op.per_try_timeout) if op.per_try_timeout else None
        return None if children is None else Node("fallback", fp, src, children, timeout=timeout)
    if isinstance(op, RetryOp):
        child = _build_node(ctx, op.target, (*path, "target"))
        timeout = duration_seconds(op.per_try_timeout) if op.per_try_timeout else None
        return (
            None
            if child is None
            else Node(
                "retry",
                fp,
                src,
                (child,),
                timeout=timeout,
                attempts=op.attempts,
                retriable_share=op.retriable_share,
            )
        )
    if isinstance(op, BranchOp):
        total = sum(r.weight for r in op.routes)
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            ctx.problems.append(
                ctx.doc.problem((*path, "routes"), f"route weights sum to {total:g}, expected 1")
            )
            return None
        built = [
            _build_node(ctx, r.target, (*path, "routes", i, "target"))
            for i, r in enumerate(op.routes)
        ]
        if any(b is None for b in built):
            return None
        return Node(
            "branch",
            fp,
            src,
            tuple(b for b in built if b is not None),
            weights=tuple(r.weight for r in op.routes),
        )
    if isinstance(op, QuorumOp):
        children = kids(op.members, "members")
        if children is None:
            return None
        if op.required > len(children):
            ctx.problems.append(
                ctx.doc.problem(
                    (*path, "required"),
                    f"required {op.required} is more than the {len(children)} members",
                )
            )
            return None
        return Node("quorum", fp, src, children, required=op.required)
    if isinstance(op, OptionalOp | AsyncOp):
        child = _build_node(ctx, op.target, (*path, "target"))
        kind: OpKind = "optional" if isinstance(op, OptionalOp) else "async"
        return None if child is None else Node(kind, fp, src, (child,))
    raise TypeError(f"unexpected operator {type(op).__name__}")


def _build_leaf(ctx: _Context, op: LeafRef, path: PathKey) -> Node | None:
    ref_path = (*path, "ref")
    timeout = duration_seconds(op.timeout) if op.timeout else None
    if op.ref.startswith(JOURNEY_PREFIX):
        return _build_subjourney(ctx, op.ref[len(JOURNEY_PREFIX) :], ref_path)
    if op.ref not in ctx.intent.spec.components:
        names = sorted(ctx.intent.spec.components)
        ctx.problems.append(
            ctx.doc.problem(
                ref_path,
                f"unknown component '{op.ref}'{did_you_mean(op.ref, names)}; "
                f"components: {', '.join(names)}",
            )
        )
        return None
    return Node(
        "leaf",
        ctx.prefix + format_path(path),
        provenance(ctx.doc, ref_path),
        component=op.ref,
        timeout=timeout,
    )


def _build_subjourney(ctx: _Context, name: str, ref_path: PathKey) -> Node | None:
    """Inline another journey's operator tree (`ref: journey:payment`), refusing cycles."""
    if name in ctx.stack:
        cycle = " → ".join((*ctx.stack, name))
        ctx.problems.append(ctx.doc.problem(ref_path, f"journey reference cycle: {cycle}"))
        return None
    target = next((j for j in ctx.ws.journeys if j.model.metadata.name == name), None)
    if target is None:
        names = [j.model.metadata.name for j in ctx.ws.journeys]
        ctx.problems.append(
            ctx.doc.problem(ref_path, f"unknown journey '{name}'{did_you_mean(name, names)}")
        )
        return None
    sub = _Context(
        ctx.ws,
        target.doc,
        target.model,
        ctx.problems,
        (*ctx.stack, name),
        ctx.inlined,
        f"{ctx.prefix}{format_path(ref_path)}>{name}:",
    )
    for comp_name, comp in _build_components(sub, ctx.ws.accepted.get(name)).items():
        own = ctx.intent.spec.components.get(comp_name)
        if own is not None or (comp_name in ctx.inlined and ctx.inlined[comp_name] != comp):
            ctx.problems.append(
                ctx.doc.problem(
                    ref_path,
                    f"component '{comp_name}' is defined both here and in journey "
                    f"'{name}'; rename one so each name is one component",
                )
            )
            return None
        ctx.inlined[comp_name] = comp
    return _build_node(sub, target.model.spec.operator, ("spec", "operator"))
