"""Write generated artifacts to disk and find committed ones that are stale (the I/O edge)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StaleArtifact:
    path: str
    diff: str


def write_artifacts(root: Path, files: Mapping[str, str]) -> int:
    """Write files under root, touching only those whose bytes change; returns how many."""
    written = 0
    for rel, text in files.items():
        target = root / rel
        data = text.encode("utf-8")
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".emac-tmp")
        tmp.write_bytes(data)
        tmp.replace(target)  # atomic: a reader never sees half a rule file
        written += 1
    return written


def stale_against(
    current: Mapping[str, str | None], fresh: Mapping[str, str]
) -> list[StaleArtifact]:
    """Artifacts whose committed text (None = missing) differs from a fresh regeneration."""
    out: list[StaleArtifact] = []
    for rel, text in fresh.items():
        old = current.get(rel)
        if old == text:
            continue
        diff = "".join(
            difflib.unified_diff(
                (old or "").splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"a/{rel}" if old is not None else "/dev/null",
                tofile=f"b/{rel}",
            )
        )
        out.append(StaleArtifact(rel, diff))
    return out


def stale_artifacts(root: Path, fresh: Mapping[str, str]) -> list[StaleArtifact]:
    current: dict[str, str | None] = {}
    for rel in fresh:
        target = root / rel
        current[rel] = target.read_text("utf-8") if target.is_file() else None
    return stale_against(current, fresh)
