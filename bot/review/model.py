"""What a review found: per-journey base→head deltas, their causes, and the overall verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.compile.result import CompiledJourney, Decision
from bot.spec.repoconfig import RepoConfig

Conclusion = Literal["success", "failure", "neutral", "action_required"]
JourneyStatus = Literal["added", "removed", "changed", "unchanged"]
CauseKind = Literal["spec", "openslo", "model", "config", "other"]


@dataclass(frozen=True)
class NumberDelta:
    """One number at base and head; either side is None when the journey is new or gone."""

    base: float | None
    head: float | None

    @property
    def delta(self) -> float | None:
        if self.base is None or self.head is None:
            return None
        return self.head - self.base

    @property
    def changed(self) -> bool:
        d = self.delta
        return (d is None and self.base != self.head) or (d is not None and abs(d) > 1e-12)


@dataclass(frozen=True)
class Cause:
    """A changed input that moved a journey's numbers: a file line and field, or a model delta."""

    file: str
    line: int
    field: str
    before: str | None
    after: str | None
    kind: CauseKind
    confidence: float | None = None

    @property
    def change(self) -> str:
        if self.before is None:
            return f"added: {self.after}"
        if self.after is None:
            return f"removed (was {self.before})"
        return f"{self.before} → {self.after}"

    @property
    def summary(self) -> str:
        return f"{self.field}: {self.change}"


@dataclass(frozen=True)
class PendingImpact:
    """A model delta the changed configs imply, not yet accepted: what accepting would do."""

    pessimistic_before: float
    pessimistic_after: float
    decision_after: Decision
    high_impact: bool
    confidence: float

    @property
    def delta(self) -> float:
        return self.pessimistic_after - self.pessimistic_before


@dataclass(frozen=True)
class JourneyReview:
    name: str
    status: JourneyStatus
    base: CompiledJourney | None
    head: CompiledJourney | None
    availability: dict[str, NumberDelta]
    latency: dict[str, dict[str, NumberDelta]]
    consumed: dict[str, NumberDelta]
    leaves: dict[str, dict[str, NumberDelta]]
    causes: list[Cause]
    changed_nodes: frozenset[str]
    decision: Decision
    reasons: list[str]
    regression: float | None = None
    pending: PendingImpact | None = None

    @property
    def gating_bound(self) -> str:
        cj = self.head or self.base
        assert cj is not None
        return cj.gating_bound


@dataclass(frozen=True)
class ReviewResult:
    """Everything the comment, the check run and the follow-up PR are built from."""

    base_sha: str
    head_sha: str
    journeys: list[JourneyReview]
    changed_files: list[str]
    conclusion: Conclusion
    decision: Decision | None
    config: RepoConfig = field(default_factory=RepoConfig)
    artifacts: dict[str, str] = field(default_factory=dict)
    # Accepted model files as `/emac accept` would rewrite them (config-implied deltas applied).
    model_updates: dict[str, str] = field(default_factory=dict)
    stale_artifacts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def affected(self) -> bool:
        return bool(self.journeys) or bool(self.errors)

    @property
    def exit_code(self) -> int:
        return {"success": 0, "neutral": 0, "failure": 1, "action_required": 3}[self.conclusion]
