"""What-if recompilation: the gating bound with part of the operator tree changed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from bot.compile.availability import (
    alternative_key,
    make_rules,
    node_bounds,
    sharing_groups,
)
from bot.compile.result import CompiledJourney, TimeoutFactor
from bot.compile.sensitivity import PathEvaluator
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

    Only the group and its ancestors change, so the group's new value is recombined from its
    kept children and carried up the path; timeouts keep the factors of the original compile
    (the what-if changes structure only). Optimistic bounds that condition on repeated
    components are recomputed whole.
    """
    model = cj.model
    timeouts = cj.timeouts
    rules = make_rules(model.root, model.components, timeouts)[cj.gating_bound]
    evaluator = PathEvaluator(model.root, rules)

    def rebound(group: Node, kept: tuple[int, ...]) -> float:
        reduced = reduced_group(group, kept)
        if evaluator.conditioned:
            root = _replace_node(model.root, group.path, reduced)
            bounds = node_bounds(root, model.components, reduced_timeouts(group, kept, timeouts))
            return bounds[root.path].get(cj.gating_bound)
        local = dataclasses.replace(
            rules,
            groups={**rules.groups, group.path: sharing_groups(reduced.children, model.components)},
            timeouts=reduced_timeouts(group, kept, rules.timeouts),
        )
        value = local.combine(reduced, [evaluator.values[c.path] for c in reduced.children])
        return evaluator.with_node_value(group, value)

    return rebound


def reduced_timeouts(
    group: Node, kept: tuple[int, ...], timeouts: Mapping[str, TimeoutFactor]
) -> dict[str, TimeoutFactor]:
    """Timeout factors for the reduced group: a fallback's per-alternative factors move with
    the kept alternatives to their new places."""
    out = dict(timeouts)
    if group.op != "fallback":
        return out
    for new, old in enumerate(kept):
        factor = timeouts.get(alternative_key(group, old))
        if factor is None:
            out.pop(alternative_key(group, new), None)
        else:
            out[alternative_key(group, new)] = factor
    return out
