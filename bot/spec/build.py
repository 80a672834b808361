"""Map validated documents into JourneyModels: resolve refs, check structure, attach provenance."""

from __future__ import annotations

import math
from collections.abc import Sequence

from bot.spec.build_components import build_components
from bot.spec.build_context import BuildContext, provenance, quantile_of_metric
from bot.spec.build_operators import build_node
from bot.spec.domain import REPORTED_QUANTILES, JourneyModel, ModelEvidence, Objective
from bot.spec.errors import Location, SpecError, SpecProblem, did_you_mean
from bot.spec.journey import JourneyIntent
from bot.spec.loader import Loaded, Workspace, resolve_relative
from bot.spec.precedence import apply_accepted_model
from bot.spec.yamlpos import PathKey


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
    ctx = BuildContext(ws, doc, intent, problems, (intent.metadata.name,), {})
    spec = intent.spec
    components = build_components(ctx, ws.accepted.get(intent.metadata.name))
    root = build_node(ctx, spec.operator, ("spec", "operator"))
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


def _pending_model(ctx: BuildContext) -> ModelEvidence | None:
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
