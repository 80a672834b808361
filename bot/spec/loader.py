"""Find EmaC, OpenSLO and model documents in files or text, validate them, and index by name."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from bot.spec.errors import Location, SpecError, SpecProblem, did_you_mean
from bot.spec.journey import JourneyIntent
from bot.spec.models import AcceptedJourneyModel, DiscoveredJourneyModel
from bot.spec.openslo import SLO, DataSource
from bot.spec.validation import validate_document
from bot.spec.yamlpos import YamlDocument, parse_yaml_text, read_yaml_file

YAML_SUFFIXES = (".yaml", ".yml")
SKIPPED_DIRS = {".git", ".hg", "node_modules", "__pycache__", ".venv", "venv"}
EMAC_KINDS = (
    "JourneyIntent",
    "AcceptedJourneyModel",
    "DiscoveredJourneyModel",
    "ModelDelta",
    "DerivationReport",
    "ActionGuard",
)
# Kinds we read; the others in the EmaC group are outputs and are recognised but not loaded.
OPENSLO_KINDS = (
    "SLO",
    "DataSource",
    "Service",
    "SLI",
    "AlertPolicy",
    "AlertCondition",
    "AlertNotificationTarget",
)


T = TypeVar("T")


@dataclass
class Loaded(Generic[T]):
    """A validated document and the YAML it came from (for positions)."""

    doc: YamlDocument
    model: T


@dataclass
class Workspace:
    """Every recognised document found in a set of files, indexed by kind and name."""

    journeys: list[Loaded[JourneyIntent]] = field(default_factory=list)
    slos: dict[str, Loaded[SLO]] = field(default_factory=dict)
    datasources: dict[str, Loaded[DataSource]] = field(default_factory=dict)
    accepted: dict[str, Loaded[AcceptedJourneyModel]] = field(default_factory=dict)
    discovered: dict[str, Loaded[DiscoveredJourneyModel]] = field(default_factory=dict)
    documents_by_file: dict[str, list[YamlDocument]] = field(default_factory=dict)


def _iter_yaml_files(path: Path) -> Iterable[Path]:
    if path.is_file():
        yield path
        return
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(YAML_SUFFIXES):
                yield Path(dirpath) / name


def display_root(paths: Sequence[Path]) -> Path:
    """The folder that output file names are shown relative to."""
    dirs = [p.resolve() if p.is_dir() else p.resolve().parent for p in paths]
    if not dirs:
        return Path.cwd()
    return Path(os.path.commonpath([str(d) for d in dirs]))


def neighbour_paths(paths: Sequence[Path]) -> list[Path]:
    """Where to look for the OpenSLO files and models a spec given as a file refers to.

    A spec given on its own (`spec/emac.checkout.yaml`) usually binds OpenSLO files that sit
    beside its folder (`atomic/openslo/...`), so the folder above the spec's is searched too.
    """
    return [p.resolve().parent.parent for p in paths if p.is_file()]


def read_neighbours(
    paths: Sequence[Path], root: Path, known: Mapping[str, object]
) -> dict[str, list[YamlDocument]]:
    """Read the folders around given spec files, leniently: only what parses, and no journeys
    (a neighbour's journeys were not asked for)."""
    out: dict[str, list[YamlDocument]] = {}
    for base in paths:
        for file in _iter_yaml_files(base):
            name = _relative(file.resolve(), root)
            if name in known or name in out or not _claims_ours(file):
                continue
            try:
                docs = read_yaml_file(file, name)
            except SpecError:
                continue
            out[name] = [
                d
                for d in docs
                if not (isinstance(d.data, dict) and d.data.get("kind") == "JourneyIntent")
            ]
    return out


def read_files(paths: Sequence[Path], root: Path) -> dict[str, list[YamlDocument]]:
    """Parse every YAML file under `paths`; names relative to `root`. Raises with all problems."""
    out: dict[str, list[YamlDocument]] = {}
    problems: list[SpecProblem] = []
    seen: set[Path] = set()
    for base in paths:
        if not base.exists():
            problems.append(SpecProblem(Location(base.as_posix()), "", "no such file or directory"))
            continue
        for file in _iter_yaml_files(base):
            real = file.resolve()
            if real in seen:
                continue
            seen.add(real)
            name = _relative(real, root)
            try:
                out[name] = read_yaml_file(file, name)
            except SpecError as exc:
                # A folder scan meets other tools' YAML (Helm templates are not YAML at all):
                # a file that fails to parse only matters if it was named or claims to be ours.
                if base.is_dir() and not _claims_ours(file):
                    continue
                problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    return out


def _claims_ours(file: Path) -> bool:
    try:
        with file.open("rb") as fh:
            head = fh.read(65536)
    except OSError:
        return True
    return b"emac.dev/" in head or b"openslo/" in head


def _relative(path: Path, root: Path) -> str:
    # `../x` for files beside the root, so refs written relative to a spec resolve to the
    # same name whichever folder was given.
    return Path(os.path.relpath(path, root)).as_posix()


def parse_texts(files: Mapping[str, str]) -> dict[str, list[YamlDocument]]:
    """Parse YAML files given as text (e.g. blobs read from a git tree)."""
    out: dict[str, list[YamlDocument]] = {}
    problems: list[SpecProblem] = []
    for name in sorted(files):
        if not name.endswith(YAML_SUFFIXES):
            continue
        try:
            out[name] = parse_yaml_text(files[name], name)
        except SpecError as exc:
            if "emac.dev/" in files[name] or "openslo/" in files[name]:
                problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    return out


def index_documents(files: Mapping[str, list[YamlDocument]]) -> Workspace:
    """Recognise each document by apiVersion/kind, validate it, and index it by name."""
    ws = Workspace(documents_by_file=dict(files))
    problems: list[SpecProblem] = []
    for name in sorted(files):
        for doc in files[name]:
            problems.extend(_index_one(ws, doc))
    if problems:
        raise SpecError(problems)
    return ws


def _index_one(ws: Workspace, doc: YamlDocument) -> list[SpecProblem]:
    data = doc.data
    if not isinstance(data, dict):
        return []
    api, kind = data.get("apiVersion"), data.get("kind")
    if not isinstance(api, str) or not isinstance(kind, str):
        return []
    if api.startswith("emac.dev/"):
        if api != "emac.dev/v1alpha1":
            return [
                doc.problem(
                    ("apiVersion",),
                    f"unsupported apiVersion '{api}' "
                    "(this version of emac reads emac.dev/v1alpha1)",
                )
            ]
        if kind not in EMAC_KINDS:
            return [
                doc.problem(("kind",), f"unknown kind '{kind}'{did_you_mean(kind, EMAC_KINDS)}")
            ]
        return _index_emac(ws, doc, kind)
    if api.startswith("openslo/"):
        if api != "openslo/v1":
            return [
                doc.problem(
                    ("apiVersion",), f"unsupported apiVersion '{api}' (expected openslo/v1)"
                )
            ]
        if kind not in OPENSLO_KINDS:
            return [
                doc.problem(
                    ("kind",), f"unknown OpenSLO kind '{kind}'{did_you_mean(kind, OPENSLO_KINDS)}"
                )
            ]
        return _index_openslo(ws, doc, kind)
    return []


def _index_emac(ws: Workspace, doc: YamlDocument, kind: str) -> list[SpecProblem]:
    if kind == "JourneyIntent":
        journey, problems = validate_document(doc, JourneyIntent)
        if journey is not None:
            for other in ws.journeys:
                if other.model.metadata.name == journey.metadata.name:
                    return [
                        doc.problem(
                            ("metadata", "name"),
                            f"journey '{journey.metadata.name}' is already defined at "
                            f"{other.doc.location(('metadata', 'name'))}",
                        )
                    ]
            ws.journeys.append(Loaded(doc, journey))
        return problems
    if kind == "AcceptedJourneyModel":
        accepted, problems = validate_document(doc, AcceptedJourneyModel)
        if accepted is not None:
            ws.accepted[accepted.metadata.name] = Loaded(doc, accepted)
        return problems
    if kind == "DiscoveredJourneyModel":
        discovered, problems = validate_document(doc, DiscoveredJourneyModel)
        if discovered is not None:
            ws.discovered.setdefault(discovered.metadata.name, Loaded(doc, discovered))
        return problems
    return []


def _index_openslo(ws: Workspace, doc: YamlDocument, kind: str) -> list[SpecProblem]:
    if kind == "SLO":
        slo, problems = validate_document(doc, SLO)
        if slo is not None:
            if slo.metadata.name in ws.slos:
                first = ws.slos[slo.metadata.name].doc.location(("metadata", "name"))
                return [
                    doc.problem(
                        ("metadata", "name"),
                        f"OpenSLO SLO '{slo.metadata.name}' is already defined at {first}",
                    )
                ]
            ws.slos[slo.metadata.name] = Loaded(doc, slo)
        return problems
    if kind == "DataSource":
        source, problems = validate_document(doc, DataSource)
        if source is not None:
            ws.datasources[source.metadata.name] = Loaded(doc, source)
        return problems
    return []


def resolve_relative(from_file: str, ref: str) -> str:
    """A ref written relative to the file that contains it, as a normalised display name."""
    base = posixpath.dirname(from_file)
    return posixpath.normpath(posixpath.join(base, ref))
