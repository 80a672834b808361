"""What every step of building a JourneyModel shares: the context, provenance, SLO lookup."""

from __future__ import annotations

from dataclasses import dataclass

from bot.spec.domain import ComponentModel, Provenance
from bot.spec.errors import SpecProblem, did_you_mean, format_path
from bot.spec.journey import JourneyIntent
from bot.spec.loader import Loaded, Workspace
from bot.spec.openslo import SLO
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
class BuildContext:
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


def resolve_slo(ctx: BuildContext, ref: str, path: PathKey) -> Loaded[SLO] | None:
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
