"""Accepted-model precedence beyond failure domains: branch weights and retry/timeout policies.

The accepted model states what the running system does; the spec's declarations are the
fallback. Applying it twice gives the same model, so a builder that already applied it may
be handed the result again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from bot.spec.domain import JourneyModel, Node, Provenance
from bot.spec.errors import format_path
from bot.spec.models import AcceptedJourneyModel, CallPolicy
from bot.spec.wire import duration_seconds
from bot.spec.yamlpos import PathKey, YamlDocument

RETRY_SUFFIX = "@retry"  # path of the retry node a policy wraps around a leaf


@dataclasses.dataclass(frozen=True)
class _Weights:
    heads: tuple[str, ...]
    weights: tuple[float, ...]
    source: Provenance


@dataclasses.dataclass(frozen=True)
class _Policy:
    policy: CallPolicy
    retries_source: Provenance | None
    timeout_source: Provenance | None


def apply_accepted_model(
    model: JourneyModel, accepted: AcceptedJourneyModel, doc: YamlDocument
) -> JourneyModel:
    """`model` with the accepted model's branch weights and call policies in force.

    Branch weights come from a `branch` redundancy group naming the routes' first components,
    else from the topology's edge probabilities into them from one caller (normalised).
    A policy's retries wrap the target's leaves in a retry (or set an existing one's tries);
    its per-try timeout and timeout bound each try, or the leaf's call when there are no
    retries.
    """
    rewriter = _Rewriter(accepted, doc, dict(model.provenance))
    root = rewriter.node(model.root)
    return dataclasses.replace(model, root=root, provenance=rewriter.provenance)


def route_heads(branch: Node) -> tuple[str, ...]:
    """The first component each route of a branch calls (how model groups name routes)."""
    heads: list[str] = []
    for child in branch.children:
        first = child.leaves()[0].component
        assert first is not None
        heads.append(first)
    return tuple(heads)


def _at(doc: YamlDocument, path: PathKey) -> Provenance:
    loc = doc.location(path)
    return Provenance(loc.file, loc.line, loc.column, format_path(path))


def _weight_groups(accepted: AcceptedJourneyModel, doc: YamlDocument) -> list[_Weights]:
    out: list[_Weights] = []
    for i, group in enumerate(accepted.spec.redundancy):
        if group.pattern == "branch" and group.weights and len(group.weights) == len(group.group):
            where = _at(doc, ("spec", "redundancy", i, "weights"))
            out.append(_Weights(tuple(group.group), tuple(group.weights), where))
    return out


def _edge_weights(
    accepted: AcceptedJourneyModel, doc: YamlDocument, heads: Sequence[str]
) -> _Weights | None:
    """Weights from one caller's edge probabilities into every head, if the topology has them."""
    edges = accepted.spec.topology.edges
    callers: set[str] | None = None
    for head in heads:
        into = {e.from_ for e in edges if e.to == head}
        callers = into if callers is None else callers & into
    if not callers:
        return None
    caller = sorted(callers)[0]
    found = {e.to: (j, e.probability) for j, e in enumerate(edges) if e.from_ == caller}
    first = min(found[h][0] for h in heads)
    where = _at(doc, ("spec", "topology", "edges", first, "probability"))
    return _Weights(tuple(heads), tuple(found[h][1] for h in heads), where)


def _policies(accepted: AcceptedJourneyModel, doc: YamlDocument) -> dict[str, _Policy]:
    out: dict[str, _Policy] = {}
    for i, p in enumerate(accepted.spec.policies):
        base: PathKey = ("spec", "policies", i)
        out[p.target] = _Policy(
            p,
            _at(doc, (*base, "retries")) if p.retries else None,
            _at(doc, (*base, "timeout")) if p.timeout else None,
        )
    return out


def _seconds(text: str | None) -> float | None:
    return duration_seconds(text) if text else None


def _per_try(existing: float | None, policy: CallPolicy) -> float | None:
    per_try = _seconds(policy.retries.per_try_timeout) if policy.retries else None
    value = per_try if per_try is not None else existing
    overall = _seconds(policy.timeout)
    # A try cannot outlive the call's overall timeout, so the smaller of the two bounds it.
    given = [v for v in (value, overall) if v is not None]
    return min(given) if given else None


class _Rewriter:
    """Rebuilds the operator tree with the accepted model's weights and policies."""

    def __init__(
        self, accepted: AcceptedJourneyModel, doc: YamlDocument, provenance: dict[str, Provenance]
    ) -> None:
        self.accepted = accepted
        self.doc = doc
        self.groups = _weight_groups(accepted, doc)
        self.policies = _policies(accepted, doc)
        self.provenance = provenance

    def node(self, node: Node) -> Node:
        if node.op == "leaf":
            return self.leaf(node)
        child = node.children[0] if node.op == "retry" else None
        if child is not None and child.op == "leaf" and child.component in self.policies:
            return self.retry(node, self.policies[child.component])
        out = dataclasses.replace(node, children=tuple(self.node(c) for c in node.children))
        if node.op == "branch":
            weights = self.branch_weights(node)
            if weights is not None and sum(weights.weights) > 0:
                total = sum(weights.weights)
                out = dataclasses.replace(out, weights=tuple(w / total for w in weights.weights))
                self.provenance[f"weights.{node.path}"] = weights.source
        return out

    def branch_weights(self, node: Node) -> _Weights | None:
        heads = route_heads(node)
        if len(set(heads)) != len(heads):
            return None  # two routes start with one component: a group cannot tell them apart
        for g in self.groups:
            if set(g.heads) == set(heads) and len(g.heads) == len(heads):
                by_head = dict(zip(g.heads, g.weights, strict=True))
                return _Weights(heads, tuple(by_head[h] for h in heads), g.source)
        return _edge_weights(self.accepted, self.doc, heads)

    def leaf(self, leaf: Node) -> Node:
        entry = self.policies.get(leaf.component or "")
        if entry is None:
            return leaf
        p = entry.policy
        if p.retries is not None and p.retries.attempts > 1:
            source = entry.retries_source or leaf.source
            wrapper = Node("retry", leaf.path + RETRY_SUFFIX, source, (leaf,), attempts=1)
            return self.retry(wrapper, entry)
        self.note(leaf.component or "", entry)
        timeout = _per_try(None, p)
        return leaf if timeout is None else dataclasses.replace(leaf, timeout=timeout)

    def retry(self, node: Node, entry: _Policy) -> Node:
        p = entry.policy
        attempts = p.retries.attempts if p.retries else node.attempts
        self.note(node.children[0].component or "", entry)
        return dataclasses.replace(node, attempts=attempts, timeout=_per_try(node.timeout, p))

    def note(self, target: str, entry: _Policy) -> None:
        if entry.retries_source is not None:
            self.provenance[f"policies.{target}.retries"] = entry.retries_source
        if entry.timeout_source is not None:
            self.provenance[f"policies.{target}.timeout"] = entry.timeout_source
