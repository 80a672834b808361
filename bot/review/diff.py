"""Base → head deltas of one journey, and the changed input lines that caused them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.compile.decision import fmt
from bot.compile.result import BOUND_NAMES, CompiledJourney, Decision
from bot.review.gitread import FileChange
from bot.review.model import (
    Cause,
    CauseKind,
    JourneyReview,
    JourneyStatus,
    NumberDelta,
    PendingImpact,
)
from bot.spec.domain import JourneyModel
from bot.spec.errors import format_path
from bot.spec.yamlpos import PathKey, YamlDocument


def journey_inputs(model: JourneyModel) -> set[str]:
    """Every file whose content feeds this journey's numbers."""
    files = {model.source}
    files.update(n.source.file for n in model.root.walk())
    for comp in model.components.values():
        files.add(comp.availability_source.file)
        files.add(comp.domains_source.file)
        if comp.latency is not None:
            files.add(comp.latency.source.file)
    if model.accepted is not None:
        files.add(model.accepted.file)
    if model.pending is not None:
        files.add(model.pending.file)
    return files


def _lookup(data: Any, path: PathKey) -> tuple[bool, Any]:
    for part in path:
        if isinstance(data, dict):
            if part not in data:
                return False, None
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return False, None
    return True, data


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, str):
        return value.strip()
    return str(value)


def _fields_on_lines(
    docs: Iterable[YamlDocument], lines: Iterable[int], other: Iterable[YamlDocument] = ()
) -> list[tuple[YamlDocument, PathKey, int]]:
    """The field that changed on each changed line.

    A line can hold several fields (`web: {availability: 0.999, failureDomains: [z1]}`): of
    the fields written on it, those whose value differs in the `other` revision are the change;
    when none does (added or removed text), the deepest one names it.
    """
    wanted = set(lines)
    on_line: dict[int, list[tuple[YamlDocument, PathKey]]] = {}
    for doc in docs:
        seen: set[PathKey] = set()
        for marks in (doc.key_marks, doc.value_marks):
            for path, (line, _col) in marks.items():
                if line in wanted and path not in seen:
                    seen.add(path)
                    on_line.setdefault(line, []).append((doc, path))
    others = {d.index: d for d in other}
    out: list[tuple[YamlDocument, PathKey, int]] = []
    for line in sorted(on_line):
        candidates = on_line[line]
        differing = [
            (doc, path)
            for doc, path in candidates
            if _scalar_changed(_lookup(doc.data, path), _lookup(_other_data(others, doc), path))
        ]
        if differing:
            out.extend((doc, path, line) for doc, path in differing)
        else:
            doc, path = max(candidates, key=lambda c: len(c[1]))
            out.append((doc, path, line))
    return out


def _scalar_changed(here: tuple[bool, Any], there: tuple[bool, Any]) -> bool:
    """A scalar field whose presence or value differs between the two revisions."""
    return not isinstance(here[1], dict | list) and here != there


def _other_data(others: dict[int, YamlDocument], doc: YamlDocument) -> Any:
    match = others.get(doc.index)
    return None if match is None else match.data


def _kind(docs: Iterable[YamlDocument]) -> CauseKind:
    for doc in docs:
        if isinstance(doc.data, dict):
            api, kind = str(doc.data.get("apiVersion", "")), doc.data.get("kind")
            if kind == "JourneyIntent":
                return "spec"
            if api.startswith("openslo/"):
                return "openslo"
            if kind in ("AcceptedJourneyModel", "DiscoveredJourneyModel", "ModelDelta"):
                return "model"
            return "config"
    return "other"


def causes_for(
    change: FileChange, base_docs: list[YamlDocument] | None, head_docs: list[YamlDocument] | None
) -> list[Cause]:
    """One cause per changed field of a file: where it is at head, its value before and after."""
    kind = _kind(head_docs or base_docs or [])
    out: dict[tuple[str, str], Cause] = {}
    for doc, path, line in _fields_on_lines(head_docs or [], change.head_lines, base_docs or []):
        index = doc.index
        before_docs = [d for d in base_docs or [] if d.index == index]
        found_before, before = _lookup(before_docs[0].data, path) if before_docs else (False, None)
        _, after = _lookup(doc.data, path)
        key = (change.path, format_path(path))
        out.setdefault(
            key,
            Cause(
                change.path,
                line,
                format_path(path),
                _show(before) if found_before else None,
                _show(after),
                kind,
            ),
        )
    for doc, path, _line in _fields_on_lines(base_docs or [], change.base_lines, head_docs or []):
        key = (change.path, format_path(path))
        if key in out:
            continue
        head_match = [d for d in head_docs or [] if d.index == doc.index]
        found_after, after = _lookup(head_match[0].data, path) if head_match else (False, None)
        if found_after:
            continue  # moved, not removed: the head side already explains it
        # Report a removed block once, at its top-most removed field.
        head_data = head_match[0].data if head_match else None
        while len(path) > 1 and not _lookup(head_data, path[:-1])[0]:
            path = path[:-1]
        key = (change.path, format_path(path))
        if key in out:
            continue
        _, before = _lookup(doc.data, path)
        anchor = _nearest_line(head_match[0] if head_match else None, path)
        out[key] = Cause(change.path, anchor, format_path(path), _show(before), None, kind)
    return sorted(out.values(), key=lambda c: (c.file, c.line, c.field))


def _nearest_line(doc: YamlDocument | None, path: PathKey) -> int:
    if doc is None:
        return 1
    return doc.location(path).line or 1


def _numbers(cj: CompiledJourney | None) -> dict[str, Any]:
    if cj is None:
        return {"availability": {}, "latency": {}, "consumed": {}, "leaves": {}}
    latency = {k: {"estimate": q.estimate, "upper": q.upper} for k, q in (cj.latency or {}).items()}
    leaves = {
        n: {"allocated": lb.allocated, "headroom": lb.headroom, "errorRatio": lb.error_ratio}
        for n, lb in cj.budget.leaves.items()
    }
    return {
        "availability": cj.availability.as_dict(),
        "latency": latency,
        "consumed": dict(cj.budget.consumed),
        "leaves": leaves,
    }


def _pair(base: Mapping[str, float], head: Mapping[str, float]) -> dict[str, NumberDelta]:
    return {
        k: NumberDelta(base.get(k), head.get(k))
        for k in [*base, *(k for k in head if k not in base)]
    }


def _nested(
    base: Mapping[str, Mapping[str, float]], head: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, NumberDelta]]:
    keys = [*base, *(k for k in head if k not in base)]
    return {k: _pair(base.get(k, {}), head.get(k, {})) for k in keys}


def changed_nodes(
    base: CompiledJourney | None, head: CompiledJourney | None, changed_components: set[str]
) -> frozenset[str]:
    """Head node paths whose bounds moved, are new, or whose leaf component's inputs changed."""
    if head is None:
        return frozenset()
    out: set[str] = set()
    for node in head.model.root.walk():
        now = head.node_bounds[node.path]
        before = base.node_bounds.get(node.path) if base else None
        moved = before is None or any(abs(now.get(b) - before.get(b)) > 1e-12 for b in BOUND_NAMES)
        if moved or (node.op == "leaf" and node.component in changed_components):
            out.add(node.path)
    return frozenset(out)


def _changed_components(head: CompiledJourney | None, causes: list[Cause]) -> set[str]:
    """Components whose own inputs changed: their block in the spec, or their SLO/model file."""
    if head is None:
        return set()
    out: set[str] = set()
    for comp in head.model.components.values():
        prefix = f"spec.components.{comp.name}"
        for cause in causes:
            in_spec_block = cause.file == head.model.source and (
                cause.field == prefix or cause.field.startswith((prefix + ".", prefix + "["))
            )
            own_file = cause.file != head.model.source and cause.file in (
                comp.availability_source.file,
                comp.domains_source.file,
                comp.latency.source.file if comp.latency else "",
            )
            if in_spec_block or own_file:
                out.add(comp.name)
    return out


def review_journey(
    name: str,
    base: CompiledJourney | None,
    head: CompiledJourney | None,
    causes: list[Cause],
    *,
    tolerance: float,
    gate: str | None,
    pending: PendingImpact | None = None,
) -> JourneyReview:
    """Deltas, decision and regression rule for one journey."""
    b, h = _numbers(base), _numbers(head)
    status: JourneyStatus = "added" if base is None else "removed" if head is None else "changed"
    decision: Decision
    reasons: list[str]
    regression = None
    if head is None:
        decision, reasons = "PASS", [f"journey {name} removed"]
    else:
        decision, reasons = head.decision, list(head.reasons)
        bound = gate or head.gating_bound
        if base is not None:
            before = base.availability.get(bound)  # type: ignore[arg-type]
            after = head.availability.get(bound)  # type: ignore[arg-type]
            regression = after - before
            if regression < -tolerance:
                why = (
                    f"{bound} regressed {fmt(before)} → {fmt(after)} "
                    f"(Δ {regression:+.8f}, tolerance {fmt(tolerance)})"
                )
                # A regression fails the PR whatever else the rule said; keep those reasons
                # after it as context.
                reasons = [*reasons, why] if decision == "FAIL" else [why, *reasons]
                decision = "FAIL"
    comps = _changed_components(head, causes)
    return JourneyReview(
        name=name,
        status=status,
        base=base,
        head=head,
        availability=_pair(b["availability"], h["availability"]),
        latency=_nested(b["latency"], h["latency"]),
        consumed=_pair(b["consumed"], h["consumed"]),
        leaves=_nested(b["leaves"], h["leaves"]),
        causes=causes,
        changed_nodes=changed_nodes(base, head, comps),
        decision=decision,
        reasons=reasons,
        regression=regression,
        pending=pending,
    )
