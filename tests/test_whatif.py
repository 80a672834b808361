"""What-if recompilation: the fast path along ancestors equals recompiling the whole tree."""

from __future__ import annotations

import itertools

import pytest

from bot.compile.availability import node_bounds
from bot.compile.pipeline import compile_paths
from bot.compile.whatif import _replace_node, rebound_for, reduced_group, reduced_timeouts
from tests.conftest import FIXTURES


@pytest.mark.parametrize(
    "journey", ["journeys/search", "journeys/login", "journeys/feed", "checkout"]
)
def test_rebound_matches_a_full_recompile_for_every_reduction(journey: str) -> None:
    (cj,) = compile_paths([FIXTURES / journey])
    rebound = rebound_for(cj)
    timeouts = cj.timeouts
    checked = 0
    for group in cj.model.root.walk():
        if group.op not in ("race", "fallback", "retry", "quorum", "branch"):
            continue
        n = len(group.children)
        for size in range(1, n + 1):
            for kept in itertools.combinations(range(n), size):
                root = _replace_node(cj.model.root, group.path, reduced_group(group, kept))
                moved = reduced_timeouts(group, kept, timeouts)
                slow = node_bounds(root, cj.model.components, moved)[root.path]
                assert rebound(group, kept) == pytest.approx(
                    slow.get(cj.gating_bound), abs=1e-12
                ), (group.label, kept)
                checked += 1
    assert checked > 0
