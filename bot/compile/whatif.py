"""What-if recompilation: the gating bound with part of the operator tree changed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from bot.compile.availability import node_bounds
from bot.compile.result import CompiledJourney
from bot.spec.domain import Node


def _replace_node(root: Node, path: str, new: Node) -> Node:
    if root.path == path:
        return new
    if not root.children:
        return root
    children = tuple(_replace_node(c, path, new) for c in root.children)
    return dataclasses.replace(root, children=children)


def reduced_group(group: Node, kept: tuple[int, ...]) -> Node:
    """The group with only the kept alternatives (a retry keeps one attempt)."""
    if group.op == "retry":
        return dataclasses.replace(group, attempts=1)
    children = tuple(group.children[i] for i in kept)
    weights = tuple(group.weights[i] for i in kept) if group.weights else ()
    if weights:
        total = sum(weights)
        weights = tuple(w / total for w in weights)
    required = min(group.required, len(children)) if group.op == "quorum" else group.required
    return dataclasses.replace(group, children=children, weights=weights, required=required)


def rebound_for(cj: CompiledJourney) -> Callable[[Node, tuple[int, ...]], float]:
    """Exact gating bound after keeping only some alternatives of one redundancy group.

    Timeouts keep the factors of the original compile (keyed by node path), so the what-if
    changes structure only.
    """
    from bot.compile.pipeline import timeout_factors_for

    timeouts = timeout_factors_for(cj.model)

    def rebound(group: Node, kept: tuple[int, ...]) -> float:
        root = _replace_node(cj.model.root, group.path, reduced_group(group, kept))
        bounds = node_bounds(root, cj.model.components, timeouts)
        return bounds[root.path].get(cj.gating_bound)

    return rebound
