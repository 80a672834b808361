"""Properties of the availability bounds on random expressions (hypothesis).

The reference semantics are computed by brute force over every state of the components and
of the failure domains' common-cause shocks, so no tolerance beyond float rounding is needed.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.compile.availability import node_bounds
from bot.spec.domain import ComponentModel, Node
from tests.builders import comp, leaf, op

NAMES = ["a", "b", "c", "d", "e"]
DOMAINS = ["z1", "z2"]
EPS = 1e-12


@st.composite
def trees(draw: st.DrawFn, depth: int = 3, allow_retry: bool = True) -> Node:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return leaf(draw(st.sampled_from(NAMES)))
    kinds = ["series", "parallel", "race", "fallback", "branch", "quorum", "optional"]
    if allow_retry:
        kinds.append("retry")
    kind = draw(st.sampled_from(kinds))
    if kind in ("retry", "optional"):
        child = draw(trees(depth - 1, allow_retry))
        if kind == "retry":
            return op("retry", child, attempts=draw(st.integers(1, 3)))
        return op("optional", child)
    children = draw(st.lists(trees(depth - 1, allow_retry), min_size=1, max_size=3))
    if kind == "branch":
        raw = draw(st.lists(st.integers(1, 9), min_size=len(children), max_size=len(children)))
        return op("branch", *children, weights=tuple(r / sum(raw) for r in raw))
    if kind == "quorum":
        return op("quorum", *children, required=draw(st.integers(1, len(children))))
    return op(kind, *children)  # type: ignore[arg-type]


@st.composite
def components(draw: st.DrawFn, shared: bool = True) -> dict[str, ComponentModel]:
    out = {}
    for name in NAMES:
        a = draw(st.floats(0.5, 1.0))
        domains = draw(st.sets(st.sampled_from(DOMAINS), max_size=2)) if shared else set()
        out[name] = comp(name, a, *domains)
    return out


def structure(node: Node, up: Mapping[str, bool]) -> float:
    """Success of the journey given every component's state (weights for branches)."""
    if node.op == "leaf":
        assert node.component is not None
        return 1.0 if up[node.component] else 0.0
    kids = [structure(c, up) for c in node.children]
    if node.op in ("series", "parallel"):
        return (
            float(all(k == 1.0 for k in kids))
            if all(k in (0.0, 1.0) for k in kids)
            else float(np.prod(kids))
        )
    if node.op in ("race", "fallback"):
        return 1.0 - float(np.prod([1.0 - k for k in kids]))
    if node.op == "retry":
        return kids[0]  # a down component stays down for every try
    if node.op == "branch":
        return sum(w * k for w, k in zip(node.weights, kids, strict=True))
    if node.op == "quorum":
        # Given the component states the members are deterministic, except through branches;
        # treat member success as independent draws with those probabilities.
        from bot.compile.availability import poisson_binomial_at_least

        return poisson_binomial_at_least(kids, node.required)
    return 1.0  # optional


def used(node: Node) -> list[str]:
    return sorted({leaf.component for leaf in node.leaves() if leaf.component})


def independent_truth(node: Node, comps: Mapping[str, ComponentModel]) -> float:
    names = used(node)
    total = 0.0
    for states in itertools.product((True, False), repeat=len(names)):
        w = 1.0
        for name, s in zip(names, states, strict=True):
            a = comps[name].availability
            w *= a if s else 1 - a
        total += w * structure(node, dict(zip(names, states, strict=True)))
    return total


def common_cause_truth(
    node: Node, comps: Mapping[str, ComponentModel], shock_share: Mapping[str, float]
) -> float:
    """A common-cause model with the same marginals: each domain has a shock that takes all
    its members down; each component also fails on its own so its availability is unchanged."""
    names = used(node)
    domains = sorted({d for n in names for d in comps[n].failure_domains})
    shock = {}
    for d in domains:
        members = [n for n in names if d in comps[n].failure_domains]
        room = min(
            1 - comps[n].availability ** (1 / len(comps[n].failure_domains)) for n in members
        )
        shock[d] = shock_share[d] * room
    total = 0.0
    for hits in itertools.product((True, False), repeat=len(domains)):
        w_hits = 1.0
        for d, hit in zip(domains, hits, strict=True):
            w_hits *= shock[d] if hit else 1 - shock[d]
        hit_set = {d for d, hit in zip(domains, hits, strict=True) if hit}
        own: dict[str, float] = {}
        for n in names:
            survive = float(np.prod([1 - shock[d] for d in comps[n].failure_domains]))
            own[n] = 0.0 if hit_set & comps[n].failure_domains else comps[n].availability / survive
        for states in itertools.product((True, False), repeat=len(names)):
            w = w_hits
            for n, s in zip(names, states, strict=True):
                w *= own[n] if s else 1 - own[n]
            if w:
                total += w * structure(node, dict(zip(names, states, strict=True)))
    return total


@settings(max_examples=300, deadline=None)
@given(trees(), components())
def test_worst_case_le_pessimistic_le_optimistic(
    root: Node, comps: dict[str, ComponentModel]
) -> None:
    for b in node_bounds(root, comps).values():
        assert b.worst_case <= b.pessimistic <= b.optimistic
        assert b.worst_case >= 0.0 and b.optimistic <= 1.0 + EPS


@settings(max_examples=200, deadline=None)
@given(trees(allow_retry=False), components(shared=False))
def test_optimistic_is_exact_when_nothing_is_shared(
    root: Node, comps: dict[str, ComponentModel]
) -> None:
    got = node_bounds(root, comps)[root.path].optimistic
    assert abs(got - independent_truth(root, comps)) <= EPS


@settings(max_examples=200, deadline=None)
@given(
    trees(allow_retry=True),
    components(),
    st.fixed_dictionaries({d: st.floats(0.0, 1.0) for d in DOMAINS}),
)
def test_pessimistic_and_worst_case_never_exceed_a_common_cause_model(
    root: Node, comps: dict[str, ComponentModel], shocks: dict[str, float]
) -> None:
    b = node_bounds(root, comps)[root.path]
    truth = common_cause_truth(root, comps, shocks)
    assert b.pessimistic <= truth + EPS
    assert b.worst_case <= truth + EPS


def test_pessimistic_is_contained_by_a_seeded_monte_carlo_of_common_cause_failures() -> None:
    """The paper's checkout with a payment-network shock: a million simulated requests."""
    rng = np.random.default_rng(20260205)
    n = 1_000_000
    shock = rng.random(n) < 0.004  # the network takes both providers down together
    own = 0.995 / (1 - 0.004)
    up = {
        name: rng.random(n) < a
        for name, a in [("front", 0.9995), ("cart", 0.999), ("pricing", 0.999)]
    }
    paya = (rng.random(n) < own) & ~shock
    payb = (rng.random(n) < own) & ~shock
    ok = up["front"] & up["cart"] & up["pricing"] & (paya | payb)
    mean = ok.mean()
    sigma = np.sqrt(mean * (1 - mean) / n)
    root = op(
        "series",
        leaf("front"),
        op("parallel", leaf("cart"), leaf("pricing")),
        op("race", leaf("paya"), leaf("payb")),
    )
    comps = {
        c.name: c
        for c in [
            comp("front", 0.9995),
            comp("cart", 0.999),
            comp("pricing", 0.999),
            comp("paya", 0.995, "net"),
            comp("payb", 0.995, "net"),
        ]
    }
    b = node_bounds(root, comps)[root.path]
    # 5 sigma: the bound may sit at most that far above the simulated mean by chance.
    assert b.pessimistic <= mean + 5 * sigma
    assert b.worst_case <= mean + 5 * sigma
    assert b.optimistic >= mean - 5 * sigma
