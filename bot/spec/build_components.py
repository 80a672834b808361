"""Components: atomic availability from OpenSLO or inline, failure domains, SLIs, latency."""

from __future__ import annotations

from bot.spec.build_context import BuildContext, provenance, resolve_slo
from bot.spec.build_latency import leaf_latency
from bot.spec.domain import ComponentModel, Provenance, SliQueries
from bot.spec.errors import did_you_mean
from bot.spec.journey import Component
from bot.spec.loader import Loaded
from bot.spec.models import AcceptedJourneyModel
from bot.spec.openslo import SLO
from bot.spec.yamlpos import PathKey


def build_components(
    ctx: BuildContext, accepted: Loaded[AcceptedJourneyModel] | None
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
            latency=leaf_latency(ctx, comp.latency, (*base, "latency")),
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
    ctx: BuildContext, name: str, comp: Component, base: PathKey
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
    slo = resolve_slo(ctx, comp.atomic_slo_ref, (*base, "atomicSLORef"))
    if slo is None:
        return None
    for i, objective in enumerate(slo.model.spec.objectives):
        ratio = objective.ratio()
        if ratio is not None:
            field = "target" if objective.target is not None else "targetPercent"
            return ratio, provenance(slo.doc, ("spec", "objectives", i, field)), slo.model
    ctx.problems.append(slo.doc.problem(("spec", "objectives"), "no objective has a target"))
    return None


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
