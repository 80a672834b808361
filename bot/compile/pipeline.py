"""Compile journeys: from files (or git blobs) to CompiledJourney, one pure step after loading."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.compile import availability, budgets, decision, latency
from bot.compile.result import CompiledJourney, QuantileBound, TimeoutFactor
from bot.gcpause import without_gc
from bot.spec.build import build_journeys
from bot.spec.domain import REPORTED_QUANTILES, JourneyModel
from bot.spec.loader import (
    display_root,
    index_documents,
    neighbour_paths,
    parse_texts,
    read_files,
    read_neighbours,
)
from bot.spec.yamlpos import YamlDocument


def _latency(
    model: JourneyModel,
) -> tuple[dict[str, TimeoutFactor], dict[str, QuantileBound] | None]:
    """P(within timeout) for every node that carries one, and the journey's latency quantiles."""
    quantiles = dict(REPORTED_QUANTILES)
    if model.objective.latency_key and model.objective.latency_quantile:
        quantiles.setdefault(model.objective.latency_key, model.objective.latency_quantile)
    return latency.timeout_factors(model.root, model.components), latency.compile_latency(
        model.root, model.components, quantiles
    )


def compile_model(
    model: JourneyModel, pending: decision.PendingDelta | None = None
) -> CompiledJourney:
    """Every number for one journey, from its resolved model."""
    timeouts, latency = _latency(model)
    rules = availability.make_rules(model.root, model.components, timeouts)
    bounds = availability.node_bounds(model.root, model.components, timeouts, rules)
    root = bounds[model.root.path]
    gating = model.governance.use_bounds_for_automation.availability
    confidence = model.accepted.confidence if model.accepted else None
    flags = list(model.accepted.flags) if model.accepted else []
    budget = budgets.budget(model, root, gating, rules)
    verdict, reasons = decision.decide(
        model, root, latency, confidence=confidence, flags=flags, pending=pending
    )
    return CompiledJourney(
        model=model,
        availability=root,
        node_bounds=bounds,
        latency=latency,
        budget=budget,
        contributors=budgets.contributors(model, bounds, rules, budget.leaves),
        decision=verdict,
        reasons=reasons,
        confidence=confidence,
        flags=flags,
        provenance=dict(model.provenance),
        timeouts=timeouts,
    )


def load_models(paths: Sequence[Path], journeys: Sequence[str] | None = None) -> list[JourneyModel]:
    root = display_root(paths)
    files = read_files(paths, root)
    files.update(read_neighbours(neighbour_paths(paths), root, files))
    return build_journeys(index_documents(files), journeys)


@without_gc
def compile_paths(
    paths: Sequence[Path], journeys: Sequence[str] | None = None
) -> list[CompiledJourney]:
    """Compile every journey found under `paths` (or only the named ones)."""
    return [compile_model(m) for m in load_models(paths, journeys)]


def models_from_documents(
    docs: Mapping[str, list[YamlDocument]], journeys: Sequence[str] | None = None
) -> list[JourneyModel]:
    return build_journeys(index_documents(docs), journeys)


@without_gc
def compile_texts(
    files: Mapping[str, str], journeys: Sequence[str] | None = None
) -> list[CompiledJourney]:
    """Compile journeys from files given as text, e.g. read from a git tree."""
    return [compile_model(m) for m in models_from_documents(parse_texts(files), journeys)]
