"""Confidence of discovered claims from counts, and the named evidence flags that force REVIEW.

Two kinds of claim, both read off a 95% Wilson interval [L, U] of k successes in n trials:

- support: "this holds" (an always-called leaf is called, a label has this value, two calls
  race). Confidence = L, the share of observations that certainly support it.
- estimate: "the share is about k/n" (a branch weight, a sometimes-called edge).
  Confidence = 1 − (U − L), how tightly the counts pin the share.

No observations give 0. The journey's confidence is the smallest claim confidence (a chain
of evidence is as strong as its weakest link), so no claim is weighted against another.
See docs/discovery.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.discover.stats import wilson_interval
from bot.spec.domain import Node

LOW_COVERAGE = "low-coverage"


def missing_evidence(component: str) -> str:
    """A spec leaf never reached in the traces, or reached but sending no spans of its own."""
    return f"missing-evidence:{component}"


def conflicting_labels(component: str) -> str:
    """A component's failure-domain label took more than one value across spans and manifests."""
    return f"conflicting-labels:{component}"


def conflicting_routes(service: str) -> str:
    """Routing config that traces contradict, or several VirtualServices for one host."""
    return f"conflicting-routes:{service}"


def config_flag(kind: str, service: str) -> str:
    """A mesh reader flag (`unknown_share`, `unreachable_rule`, ...) as a named evidence flag."""
    return f"{kind.replace('_', '-')}:{service}"


def support_confidence(successes: int, trials: int) -> float:
    """Lower end of the 95% Wilson interval of successes/trials; 0 without trials."""
    return wilson_interval(successes, trials).low if trials else 0.0


def estimate_confidence(successes: int, trials: int) -> float:
    """1 − width of the 95% Wilson interval of successes/trials; 0 without trials."""
    if not trials:
        return 0.0
    share = wilson_interval(successes, trials)
    return max(0.0, 1.0 - (share.high - share.low))


@dataclass(frozen=True)
class LabelVote:
    """The value a failure-domain label takes on one component, and how sure the votes are."""

    value: str
    votes: int
    total: int
    confidence: float
    conflicting: bool


def label_vote(votes: Mapping[str, int]) -> LabelVote | None:
    """The most voted value (ties: the smallest value) and its support confidence.

    Each span carrying the label is one vote, and so is each workload manifest stating it:
    the two are independent signals, and disagreement between them or within one of them
    is a conflict.
    """
    counted = {v: n for v, n in votes.items() if n > 0}
    if not counted:
        return None
    value = min(counted, key=lambda v: (-counted[v], v))
    total = sum(counted.values())
    return LabelVote(
        value,
        counted[value],
        total,
        support_confidence(counted[value], total),
        len(counted) > 1,
    )


@dataclass(frozen=True)
class Claim:
    """One statement the discovered model makes, with its confidence."""

    subject: str
    confidence: float


@dataclass(frozen=True)
class Coverage:
    expected: tuple[str, ...]
    seen: tuple[str, ...]

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(c for c in self.expected if c not in self.seen)

    @property
    def share(self) -> float:
        return len(self.seen) / len(self.expected) if self.expected else 1.0


def coverage(expected: Iterable[str], seen: Iterable[str]) -> Coverage:
    wanted = tuple(dict.fromkeys(expected))
    found = set(seen)
    return Coverage(wanted, tuple(c for c in wanted if c in found))


def overall(claims: Iterable[Claim]) -> tuple[float, Claim | None]:
    """The weakest claim's confidence (0 with no claims) and that claim."""
    weakest: Claim | None = None
    for claim in claims:
        if weakest is None or claim.confidence < weakest.confidence:
            weakest = claim
    return (weakest.confidence if weakest else 0.0), weakest


def always_called(root: Node) -> set[str]:
    """Components every journey request calls: their calls are support claims, the others'
    (behind a branch, a fallback's later alternative or a hedge delay) are estimates."""
    out: set[str] = set()
    stack: list[tuple[Node, bool]] = [(root, True)]
    while stack:
        node, always = stack.pop()
        if node.op == "leaf" and always and node.component:
            out.add(node.component)
        for i, child in enumerate(node.children):
            first_only = node.op == "fallback" or (node.op == "race" and node.hedge_delay > 0)
            stack.append((child, always and node.op != "branch" and (i == 0 or not first_only)))
    return out
