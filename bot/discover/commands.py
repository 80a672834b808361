"""`emac discover` and `emac accept`: read evidence and models, write the results, print a summary.

File names in every output are relative to the working directory, as the user gave them.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.compile.decision import fmt
from bot.discover.accept import (
    DeltaMismatch,
    accept_delta,
    accepted_doc,
    accepted_document,
    check_based_on,
    model_with_accepted,
    sha256_digest,
)
from bot.discover.changes import diff_models
from bot.discover.delta import delta_document, discovered_document, propose_delta
from bot.discover.mesh import ConfigEvidence, config_evidence_from_documents, read_config_dirs
from bot.discover.model_build import (
    Discovery,
    DiscoverySettings,
    discover_model,
    domain_keys,
    trace_label_keys,
)
from bot.discover.trace_evidence import InferenceSettings
from bot.discover.trace_lanes import JourneyReading, infer_files
from bot.emit.yamlout import dump_yaml
from bot.spec.delta import (
    BasedOn,
    BranchWeightsChange,
    Change,
    EdgeChange,
    EvidenceFile,
    ModelDelta,
    PolicyChange,
    RedundancyChange,
)
from bot.spec.errors import Location, SpecError, SpecProblem
from bot.spec.loader import display_root, neighbour_paths, read_files, read_neighbours
from bot.spec.models import AcceptedJourneyModel, CallPolicy
from bot.spec.validation import validate_document
from bot.spec.wire import wire_document
from bot.spec.yamlpos import parse_yaml_text

EXIT_OK, EXIT_USAGE = 0, 2
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def shown(path: Path) -> str:
    """A path as outputs name it: relative to the working directory."""
    return Path(os.path.relpath(path.resolve())).as_posix()


@dataclass(frozen=True)
class DiscoverRun:
    """One discovery run: the findings, the delta, and both files' text."""

    discovery: Discovery
    delta: ModelDelta
    discovered_text: str
    delta_text: str


def config_files(paths: Sequence[Path]) -> list[Path]:
    """The YAML files a config path names (a file, or every YAML file under a folder)."""
    out: list[Path] = []
    for base in paths:
        if base.is_file():
            out.append(base)
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            out.extend(
                Path(dirpath) / f for f in sorted(filenames) if f.endswith((".yaml", ".yml"))
            )
    return out


def _read_config(paths: Sequence[Path], keys: Sequence[str]) -> tuple[ConfigEvidence, Any]:
    if not paths:
        return config_evidence_from_documents([]), str
    evidence = read_config_dirs(paths, domain_label_keys=keys)
    # The mesh reader names files relative to the folder all config paths share.
    roots = [p.resolve() if p.is_dir() else p.resolve().parent for p in paths]
    root = Path(os.path.commonpath([str(r) for r in roots]))
    return evidence, lambda name: shown(root / name)


def discover_files(
    journey: str,
    traces: Sequence[Path],
    configs: Sequence[Path],
    accepted: Path,
    specs: Sequence[Path],
    *,
    extra_domain_keys: Sequence[str] = (),
    entry_operation: str | None = None,
    rule_shares: Mapping[tuple[str, int], float] | None = None,
) -> DiscoverRun:
    """Discover one journey's model from evidence files and diff it against `accepted`."""
    missing = [p for p in (*traces, accepted) if not p.is_file()]
    if missing:
        problems = [SpecProblem(Location(shown(p)), "", "no such file") for p in missing]
        raise SpecError(problems)
    root = display_root(specs)
    docs = read_files(specs, root)
    docs.update(read_neighbours(neighbour_paths(specs), root, docs))
    accepted_name = Path(os.path.relpath(accepted.resolve(), root)).as_posix()
    accepted_bytes = accepted.read_bytes()
    accepted_text = _text(accepted_bytes, accepted)
    current = _accepted_model(accepted_text, accepted_name, journey)
    model = model_with_accepted(docs, journey, accepted_name, accepted_text)

    keys = domain_keys(model, extra_domain_keys)
    trace_paths = [Path(shown(p)) for p in traces]
    reading = JourneyReading(
        model.leaf_components()[0],
        entry_operation,
        tuple(trace_label_keys(keys)),
        InferenceSettings(),
    )
    evidence = infer_files(trace_paths, reading)
    config, config_name = _read_config(configs, keys)
    settings = DiscoverySettings(tuple(extra_domain_keys), config_name, rule_shares)
    discovery = discover_model(model, evidence, config, settings)
    changes = diff_models(current, discovery)
    files = [
        *(EvidenceFile(file=shown(p), kind="traces", digest=_digest(p)) for p in traces),
        *(
            EvidenceFile(file=shown(p), kind="config", digest=_digest(p))
            for p in config_files(configs)
        ),
    ]
    delta = propose_delta(
        docs,
        discovery,
        changes,
        accepted_file=accepted_name,
        accepted_text=accepted_text,
        based_on=BasedOn(file=shown(accepted), digest=sha256_digest(accepted_bytes)),
        evidence=files,
    )
    source = shown(root / model.source)
    discovered_text = dump_yaml(wire_document(discovered_document(discovery)), source)
    return DiscoverRun(discovery, delta, discovered_text, dump_yaml(delta_document(delta), source))


def _text(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise SpecError([SpecProblem(Location(shown(path)), "", message)]) from None


def _digest(path: Path) -> str:
    return sha256_digest(path.read_bytes())


def _accepted_model(text: str, file: str, journey: str) -> AcceptedJourneyModel:
    doc = accepted_doc(parse_yaml_text(text, file), file)
    model, problems = validate_document(doc, AcceptedJourneyModel)
    if model is None:
        raise SpecError(problems)
    if model.metadata.name != journey:
        message = f"is the accepted model of '{model.metadata.name}', not of '{journey}'"
        raise SpecError([doc.problem(("metadata", "name"), message)])
    return model


def summary(run: DiscoverRun) -> str:
    """What a reviewer reads first: changes, confidence, flags, A⁻ before → after, decision."""
    spec = run.delta.spec
    lines = [
        f"emac discover {spec.journey}: {len(spec.changes)} change(s), confidence "
        f"{spec.confidence.overall:.4f}, flags: {', '.join(spec.confidence.flags) or 'none'}"
    ]
    lines.extend(f"  {describe(c)}" for c in spec.changes)
    impact = spec.predicted_impact
    if impact is not None:
        before, after = impact.before, impact.after
        lines.append(
            f"  A⁻ {fmt(before.availability.pessimistic)} → {fmt(after.availability.pessimistic)}"
            f" (ΔA⁻ {impact.delta_pessimistic:+.8f}"
            f"{', high impact' if impact.high_impact else ''})"
        )
        if impact.under_faults is not None:
            lines.append(
                f"  under injected faults ({', '.join(impact.under_faults.components)}): A⁻ "
                f"{fmt(impact.under_faults.availability.pessimistic)}"
            )
        lines.append(f"  decision: {before.decision} while pending, {after.decision} once accepted")
        lines.extend(f"    - {r}" for r in before.reasons)
    return "\n".join(lines) + "\n"


def describe(change: Change) -> str:
    """One line per change, as the summary prints it."""
    c = f"(confidence {change.confidence:.4f})"
    if isinstance(change, EdgeChange):
        edge = change.after or change.before
        assert edge is not None
        return f"{change.kind} {edge.from_} → {edge.to} {c}"
    if isinstance(change, BranchWeightsChange):
        before = "none" if change.before is None else _weights(change.before)
        return f"branch-weights {','.join(change.group)}: {before} → {_weights(change.after)} {c}"
    if isinstance(change, RedundancyChange):
        group = change.after or change.before
        assert group is not None
        verb = "added" if change.after else "removed"
        return f"redundancy-group {group.pattern}({','.join(group.group)}) {verb} {c}"
    if isinstance(change, PolicyChange):
        return (
            f"call-policy {change.target}: {_policy(change.before)} → {_policy(change.after)} {c}"
        )
    before, after = ", ".join(change.before) or "none", ", ".join(change.after) or "none"
    return f"failure-domain {change.target}: {before} → {after} {c}"


def _weights(values: Sequence[float]) -> str:
    return "[" + ", ".join(fmt(v, 4) for v in values) + "]"


def _policy(policy: CallPolicy | None) -> str:
    if policy is None:
        return "none"
    parts = []
    if policy.retries is not None:
        r = policy.retries
        parts.append(
            f"{r.attempts} tries" + (f" of ≤ {r.per_try_timeout}" if r.per_try_timeout else "")
        )
    if policy.timeout:
        parts.append(f"timeout {policy.timeout}")
    return ", ".join(parts) or "none"


def run_discover(args: argparse.Namespace) -> int:
    run = discover_files(
        args.journey,
        [Path(p) for p in args.traces],
        [Path(p) for p in args.config],
        Path(args.accepted),
        [Path(p) for p in args.paths],
        extra_domain_keys=args.domain_key,
        entry_operation=args.entry_operation,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        (f"discovered.{args.journey}.yaml", run.discovered_text),
        (f"delta.{args.journey}.yaml", run.delta_text),
    ):
        (out / name).write_text(text, encoding="utf-8")
        written.append(shown(out / name))
    sys.stdout.write(summary(run))
    print(f"emac: wrote {', '.join(written)}", file=sys.stderr)
    return EXIT_OK


def accept_file(delta_path: Path, accepted_path: Path, *, by: str, clock: Clock) -> str:
    """Apply the delta to the accepted model file in place; returns what happened, for people."""
    missing = [p for p in (delta_path, accepted_path) if not p.is_file()]
    if missing:
        raise SpecError([SpecProblem(Location(shown(p)), "", "no such file") for p in missing])
    delta_bytes = delta_path.read_bytes()
    docs = parse_yaml_text(_text(delta_bytes, delta_path), shown(delta_path))
    if not docs:
        raise SpecError([SpecProblem(Location(shown(delta_path)), "", "empty file")])
    delta, problems = validate_document(docs[0], ModelDelta)
    if delta is None:
        raise SpecError(problems)
    accepted_bytes = accepted_path.read_bytes()
    check_based_on(delta, shown(accepted_path), accepted_bytes)
    current = _accepted_model(
        _text(accepted_bytes, accepted_path), shown(accepted_path), delta.spec.journey
    )
    new = accept_delta(
        current,
        delta,
        accepted_by=by,
        accepted_at=clock(),
        delta_digest=sha256_digest(delta_bytes),
    )
    text = dump_yaml(accepted_document(new), shown(delta_path))
    accepted_path.write_text(text, encoding="utf-8")
    acceptance = new.spec.acceptance
    assert acceptance is not None
    return (
        f"emac: accepted {len(delta.spec.changes)} change(s) of {delta.spec.journey} into "
        f"{shown(accepted_path)} (by {acceptance.accepted_by} at {acceptance.accepted_at})"
    )


def run_accept(args: argparse.Namespace, clock: Clock = utc_now) -> int:
    try:
        message = accept_file(
            Path(args.delta), Path(args.accepted), by=args.by or _user(), clock=clock
        )
    except DeltaMismatch as exc:
        print(f"emac: refusing {args.delta}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(message, file=sys.stderr)
    return EXIT_OK


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def register(subparsers: Any) -> None:
    """Add `discover` and `accept` to the `emac` command line."""
    p = subparsers.add_parser(
        "discover", help="discover a journey's model from traces and mesh/k8s config"
    )
    p.add_argument("--journey", required=True, metavar="NAME")
    p.add_argument(
        "--traces",
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE",
        help="OTLP/Jaeger/Zipkin",
    )
    p.add_argument(
        "--config",
        nargs="+",
        action="extend",
        default=[],
        metavar="DIR",
        help="Istio/k8s manifests",
    )
    p.add_argument("--accepted", required=True, metavar="FILE", help="the accepted model")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument(
        "--domain-key",
        action="append",
        default=[],
        metavar="KEY",
        help="a label that names a failure domain (besides the spec's rules)",
    )
    p.add_argument("--entry-operation", metavar="OP", help="the journey's entry span name")
    p.add_argument("paths", nargs="*", default=["."], metavar="SPEC PATHS")
    p.set_defaults(func=run_discover)

    p = subparsers.add_parser("accept", help="apply a model delta to the accepted model")
    p.add_argument("delta", metavar="DELTA")
    p.add_argument("--accepted", required=True, metavar="FILE")
    p.add_argument("--by", metavar="NAME", help="who accepts (default: the current user)")
    p.set_defaults(func=run_accept)
