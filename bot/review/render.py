"""Render a review into the PR comment, check-run output and job summary (Jinja2 templates)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2

from bot.compile.decision import fmt
from bot.review.mermaid import journey_flowchart
from bot.review.model import JourneyReview, NumberDelta, ReviewResult

MARKER = "<!-- emac-bot:sticky -->"
COMMENT_LIMIT = 65_536
CHECK_TEXT_LIMIT = 65_535
CHECK_SUMMARY_LIMIT = 65_535
_ERROR_LOCATION = re.compile(r"^(.+?):(\d+):(\d+): (.*)$")  # file:line:col: message
ICONS = {"PASS": "✅", "FAIL": "❌", "REVIEW": "⚠️", None: "✅"}


@dataclass(frozen=True)
class CheckOutput:
    conclusion: str
    title: str
    summary: str
    text: str
    annotations: list[dict[str, Any]]


def _environment() -> jinja2.Environment:
    loader = jinja2.FunctionLoader(
        lambda name: (resources.files("bot") / "templates" / name).read_text("utf-8")
    )
    return jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


ENV = _environment()


def _safe_cuts(text: str) -> list[int]:
    """Offsets where the text may be cut without leaving a block open: line starts after a
    blank line, outside every `<details>` and code fence."""
    cuts, depth, fence, blank, pos = [0], 0, False, True, 0
    for line in text.splitlines(keepends=True):
        if depth == 0 and not fence and blank:
            cuts.append(pos)
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = not fence
        elif not fence:
            depth += line.count("<details") - line.count("</details>")
        blank = stripped == ""
        pos += len(line)
    cuts.append(len(text))
    return cuts


def middle_truncate(text: str, limit: int) -> str:
    """Cut the middle so the headline (top) and totals/footer (bottom) survive, at block
    boundaries so no collapsed section or code fence is left open around what is kept."""
    if len(text) <= limit:
        return text
    note = "\n\n… {n} characters omitted to fit GitHub's limit …\n\n"
    budget = limit - len(note.format(n=len(text)))
    cuts = _safe_cuts(text)
    head_end = max((c for c in cuts if c <= budget * 2 // 3), default=0)
    tail_start = min((c for c in cuts if c >= len(text) - (budget - head_end)), default=len(text))
    if head_end == 0 or tail_start == len(text):
        # No block boundary fits (one huge block): cut at characters rather than lose the top.
        head_end = budget * 2 // 3
        tail_start = len(text) - (budget - head_end)
    head, tail = text[:head_end].rstrip("\n"), text[tail_start:]
    return head + note.format(n=len(text) - len(head) - len(tail)) + tail


def _cell(d: NumberDelta, bold: bool = False) -> str:
    if d.base is None and d.head is None:
        return "—"
    if d.base is None:
        return f"new: {fmt(d.head or 0)}"
    if d.head is None:
        return f"removed (was {fmt(d.base)})"
    delta = d.delta or 0.0
    if abs(delta) <= 1e-12:
        return f"{fmt(d.head)} (=)"
    arrow = "↑" if delta > 0 else "↓"
    head = f"**{fmt(d.head)}**" if bold else fmt(d.head)
    return f"{fmt(d.base)} → {head} ({delta:+.8f}) {arrow}"


def budget_bar(consumed: float | None, width: int = 10) -> str:
    if consumed is None:
        return "—"
    filled = min(width, round(min(consumed, 1.0) * width))
    bar = "█" * filled + "░" * (width - filled)
    over = " ⚠ over budget" if consumed > 1.0 else ""
    return f"`{bar}` {100 * consumed:.1f}%{over}"


def _pending_text(j: JourneyReview) -> str:
    p = j.pending
    if p is None:
        return ""
    impact = "high impact" if p.high_impact else "low impact"
    return (
        f"the changed configs imply a model delta: pessimistic {fmt(p.pessimistic_before)} → "
        f"{fmt(p.pessimistic_after)} once accepted (ΔA⁻ {p.delta:+.8f}, {impact}, decision "
        f"then {p.decision_after}); evidence confidence {fmt(p.confidence, 4)}"
    )


def _maybe(value: float | None) -> str:
    return "—" if value is None else fmt(value)


def _journey_context(j: JourneyReview) -> dict[str, Any]:
    gate = j.gating_bound
    cells = {name: _cell(d, bold=name == gate) for name, d in j.availability.items()}
    head = j.head
    mermaid = ""
    if head is not None:
        mermaid = journey_flowchart(head.model.root, head.node_bounds, j.changed_nodes)
    leaves = [
        {
            "name": n,
            "error_ratio": _cell(v.get("errorRatio", NumberDelta(None, None))),
            "allocated": _cell(v.get("allocated", NumberDelta(None, None))),
            "headroom": _cell(v.get("headroom", NumberDelta(None, None))),
        }
        for n, v in j.leaves.items()
    ]
    latency = [
        {"key": k, "estimate": _cell(v["estimate"]), "upper": _cell(v["upper"])}
        for k, v in j.latency.items()
    ]
    confidence = ""
    if head is not None and head.confidence is not None:
        confidence = f"accepted model {fmt(head.confidence, 4)}"
    if head is not None and head.model.pending is not None:
        pend = head.model.pending
        conf = "unknown" if pend.confidence is None else fmt(pend.confidence, 4)
        confidence += (
            "; " if confidence else ""
        ) + f"pending discovered model `{pend.file}` {conf} (not applied)"
    contributors = ""
    if head is not None:
        contributors = "; ".join(
            f"{c.kind} `{c.node}` loss {fmt(c.loss)}" for c in head.contributors[:3]
        )
    return {
        "name": j.name,
        "decision": j.decision,
        "icon": ICONS[j.decision],
        "cells": cells,
        "reasons": j.reasons,
        "budget_bar": budget_bar(j.consumed[gate].head if gate in j.consumed else None),
        "causes": [
            {
                "file": c.file,
                "line": c.line,
                "field": c.field,
                "change": c.change.replace("|", "\\|"),
                "kind": c.kind,
                "confidence": f" (confidence {fmt(c.confidence, 4)})"
                if c.confidence is not None
                else "",
            }
            for c in j.causes
        ],
        "mermaid": mermaid,
        "changed_count": len(j.changed_nodes),
        "leaves": leaves,
        "latency": latency,
        "confidence": confidence,
        "contributors": contributors,
        "pending": _pending_text(j),
        "gate_base": _maybe(j.availability[gate].base),
        "gate_head": _maybe(j.availability[gate].head),
        "gate_delta": "—"
        if j.availability[gate].delta is None
        else f"{j.availability[gate].delta:+.8f}",
    }


def _headline(result: ReviewResult) -> str:
    if result.errors:
        return "specs at head do not compile"
    if not result.journeys:
        return "no journey affected"
    counts = {
        d: sum(1 for j in result.journeys if j.decision == d) for d in ("FAIL", "REVIEW", "PASS")
    }
    parts = [f"{n} {d}" for d, n in counts.items() if n]
    return ", ".join(parts)


def context(result: ReviewResult, followup_url: str | None = None) -> dict[str, Any]:
    journeys = [_journey_context(j) for j in result.journeys]
    gates = sorted({j.gating_bound for j in result.journeys}) or ["pessimistic"]
    return {
        "marker": MARKER,
        "head_marker": f"<!-- emac-bot:head={result.head_sha} -->",
        "verdict": {
            "icon": "❌" if result.errors else ICONS[result.decision],
            "headline": _headline(result),
        },
        "journeys": journeys,
        "errors": result.errors,
        "changed_files": result.changed_files,
        "base_sha": result.base_sha,
        "head_sha": result.head_sha,
        "base_short": result.base_sha[:7],
        "head_short": result.head_sha[:7],
        "gate_description": ", ".join(gates) + " availability bound",
        "gate_name": " / ".join(gates),
        "budget_bound": " / ".join(gates),
        "stale_artifacts": result.stale_artifacts,
        "followup_url": followup_url,
    }


def render_comment(result: ReviewResult, followup_url: str | None = None) -> str:
    body = ENV.get_template("comment.md.j2").render(context(result, followup_url))
    return middle_truncate(body, COMMENT_LIMIT)


def render_job_summary(result: ReviewResult) -> str:
    return ENV.get_template("job_summary.md.j2").render(context(result))


def _annotations(result: ReviewResult) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    level = {"FAIL": "failure", "REVIEW": "warning", "PASS": "notice"}
    for j in result.journeys:
        gate = j.gating_bound
        d = j.availability[gate]
        for c in j.causes:
            change = f"{gate} {_cell(d)}".replace("**", "")
            out.append(
                {
                    "path": c.file,
                    "start_line": c.line,
                    "end_line": c.line,
                    "annotation_level": level[j.decision],
                    "title": f"{j.name}: {j.decision}",
                    "message": f"{c.summary}\n{change}",
                }
            )
    for e in result.errors:
        m = _ERROR_LOCATION.match(e)
        if m:
            line = int(m.group(2))
            out.append(
                {
                    "path": m.group(1),
                    "start_line": line,
                    "end_line": line,
                    "annotation_level": "failure",
                    "title": "EmaC spec error",
                    "message": m.group(4),
                }
            )
    return out


def render_check(result: ReviewResult, *, review_conclusion: str | None = None) -> CheckOutput:
    ctx = context(result)
    if not result.journeys and not result.errors:
        title = "No journey affected"
    else:
        title = f"EmaC: {_headline(result)}"
    summary = middle_truncate(
        ENV.get_template("check_summary.md.j2").render(ctx), CHECK_SUMMARY_LIMIT
    )
    text = middle_truncate(ENV.get_template("check_text.md.j2").render(ctx), CHECK_TEXT_LIMIT)
    return CheckOutput(
        conclusion=review_conclusion or result.conclusion,
        title=title[:255],
        summary=summary,
        text=text,
        annotations=_annotations(result),
    )
