"""Plain-text rendering of compiled journeys: a table a person can scan in a terminal."""

from __future__ import annotations

from collections.abc import Sequence

from bot.compile.decision import fmt
from bot.compile.result import CompiledJourney


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _table(rows: Sequence[Sequence[str]], indent: str = "    ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in rows
    ]


def render_journey(cj: CompiledJourney) -> str:
    m = cj.model
    obj = m.objective
    a = cj.availability
    lines = [f"{m.name}  ({m.source})  {cj.decision}"]
    objective = f"availability {fmt(obj.availability_target)} over {obj.availability_window}"
    if obj.latency_key:
        objective += f", {obj.latency_key} ≤ {fmt(obj.latency_threshold or 0, 4)}s"
    lines.append(f"  objective     {objective}")
    lines.append(
        f"  availability  optimistic {fmt(a.optimistic)}  pessimistic {fmt(a.pessimistic)}"
        f"  worstCase {fmt(a.worst_case)}  (gate: {cj.gating_bound})"
    )
    c = cj.budget.consumed
    lines.append(
        f"  budget        error budget {fmt(cj.budget.error_budget)}; consumed "
        f"optimistic {_pct(c['optimistic'])}  pessimistic {_pct(c['pessimistic'])}  "
        f"worstCase {_pct(c['worstCase'])}"
    )
    if cj.latency is None:
        lines.append("  latency       no leaf latency evidence")
    else:
        lines.append("  latency")
        rows = [["quantile", "estimate", "bracket", "upper (any dependence)"]]
        for key, q in cj.latency.items():
            rows.append(
                [
                    key,
                    f"{q.estimate:.4f}s",
                    f"[{q.bracket[0]:.4f}, {q.bracket[1]:.4f}]",
                    f"{q.upper:.4f}s",
                ]
            )
        lines.extend(_table(rows))
    lines.append("  leaves")
    rows = [["leaf", "availability", "allocated", "max error", "headroom", "importance"]]
    for name, lb in cj.budget.leaves.items():
        rows.append(
            [
                name,
                fmt(1 - lb.error_ratio),
                fmt(lb.allocated),
                fmt(lb.max_error_ratio),
                f"{lb.headroom:+.8f}",
                fmt(lb.importance),
            ]
        )
    lines.extend(_table(rows))
    if cj.contributors:
        lines.append("  contributors")
        rows = [["kind", "node", "loss", "journey loss"]]
        rows += [[k.kind, k.node, fmt(k.loss), fmt(k.journey_loss)] for k in cj.contributors]
        lines.extend(_table(rows))
    if m.pending is not None:
        conf = "unknown" if m.pending.confidence is None else fmt(m.pending.confidence, 4)
        lines.append(
            f"  pending model {m.pending.file} (confidence {conf}; not accepted, changes no number)"
        )
    lines.append("  reasons")
    lines.extend(f"    - {r}" for r in cj.reasons)
    return "\n".join(lines)


def render(journeys: Sequence[CompiledJourney]) -> str:
    return "\n\n".join(render_journey(cj) for cj in journeys) + "\n"
