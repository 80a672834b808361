"""A Mermaid flowchart of a journey's operator tree, changed nodes marked."""

from __future__ import annotations

from collections.abc import Mapping

from bot.compile.decision import fmt
from bot.compile.result import AvailabilityBounds
from bot.spec.domain import Node

MAX_NODES = 150


def _escape(text: str) -> str:
    # Mermaid labels are quoted; quotes and markup characters become entity codes.
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


def _label(node: Node, bounds: AvailabilityBounds | None) -> str:
    if node.op == "leaf":
        text = _escape(node.component or "?")
        return f"{text}<br/>A={fmt(bounds.optimistic)}" if bounds else text
    extra = ""
    if node.op == "retry":
        extra = f" ×{node.attempts}"
    elif node.op == "quorum":
        extra = f" {node.required} of {len(node.children)}"
    elif node.op == "branch":
        extra = " " + "/".join(fmt(w, 3) for w in node.weights)
    elif node.op == "race" and node.hedge_delay:
        extra = f" hedge {fmt(node.hedge_delay, 3)}s"
    text = node.op + extra
    if bounds is not None:
        text += f"<br/>A⁻={fmt(bounds.pessimistic)}"
    return text


def journey_flowchart(
    root: Node, bounds: Mapping[str, AvailabilityBounds], changed: frozenset[str]
) -> str:
    """`flowchart TD` with one box per operator and leaf; changed ones get the `changed` class."""
    nodes = root.walk()[:MAX_NODES]
    ids = {n.path: f"n{i}" for i, n in enumerate(nodes)}
    lines = ["flowchart TD"]
    for node in nodes:
        shape = ('(["', '"])') if node.op == "leaf" else ('["', '"]')
        lines.append(f"  {ids[node.path]}{shape[0]}{_label(node, bounds.get(node.path))}{shape[1]}")
    for node in nodes:
        for i, child in enumerate(node.children):
            if child.path not in ids:
                continue
            edge = f" -->|{fmt(node.weights[i], 3)}| " if node.op == "branch" else " --> "
            lines.append(f"  {ids[node.path]}{edge}{ids[child.path]}")
    marked = [ids[p] for p in sorted(changed) if p in ids]
    lines.append("  classDef changed fill:#ffe3e3,stroke:#d1242f,stroke-width:2px")
    if marked:
        lines.append(f"  class {','.join(marked)} changed")
    return "\n".join(lines)
