"""Spec errors: one problem per message, each pinned to file:line:column and a field path."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Location:
    """A position in a source file; line and column are 1-based, 0 means unknown."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with an input file: where, which field, and what was expected."""

    location: Location
    field: str
    message: str

    def __str__(self) -> str:
        where = str(self.location)
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


class SpecError(Exception):
    """Raised when input files are invalid; carries every problem found, sorted by position."""

    def __init__(self, problems: Iterable[SpecProblem]) -> None:
        self.problems: list[SpecProblem] = sorted(
            set(problems), key=lambda p: (p.location, p.field, p.message)
        )
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def did_you_mean(word: str, candidates: Sequence[str]) -> str:
    """A ' (did you mean "x"?)' suffix naming the closest known word, or '' if none is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    return f' (did you mean "{close[0]}"?)' if close else ""


def format_path(parts: Sequence[str | int]) -> str:
    """Render a field path as `spec.operator.steps[1].ref`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
