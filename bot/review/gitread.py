"""Read files and changes straight from git objects (bare or shallow clones work)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import git

from bot.spec.errors import Location, SpecError, SpecProblem
from bot.spec.yamlpos import MAX_FILE_BYTES

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class MissingCommitError(Exception):
    """A revision the review needs is not in this clone."""

    def __init__(self, repo_dir: str, rev: str) -> None:
        super().__init__(
            f"commit '{rev}' is not in the repository at {repo_dir}: fetch it (in a shallow "
            "clone, `git fetch --deepen=50` or fetch the PR's base and head shas) and retry"
        )
        self.rev = rev


@dataclass(frozen=True)
class FileChange:
    """One changed file between base and head, with the changed line numbers on each side."""

    path: str
    status: str  # A, D, M, R
    old_path: str | None
    head_lines: frozenset[int] = field(default_factory=frozenset)
    base_lines: frozenset[int] = field(default_factory=frozenset)


def open_repo(repo_dir: str) -> git.Repo:
    try:
        return git.Repo(repo_dir)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise SpecError(
            [SpecProblem(Location(repo_dir), "", f"not a git repository ({exc})")]
        ) from None


def resolve(repo: git.Repo, rev: str) -> git.Commit:
    try:
        return repo.commit(rev)
    except (git.BadName, ValueError, git.GitCommandError):
        raise MissingCommitError(str(repo.git_dir), rev) from None


def read_tree(commit: git.Commit, suffixes: tuple[str, ...] = (".yaml", ".yml")) -> dict[str, str]:
    """Text of each file ending in `suffixes` at `commit` (too large or binary: skipped)."""
    out: dict[str, str] = {}
    for item in commit.tree.traverse():
        if not isinstance(item, git.Blob) or not str(item.path).endswith(suffixes):
            continue
        if item.size > MAX_FILE_BYTES:
            continue
        data = item.data_stream.read()
        try:
            out[str(item.path)] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return out


def read_file(commit: git.Commit, path: str) -> str | None:
    try:
        blob = commit.tree / path
    except KeyError:
        return None
    if not isinstance(blob, git.Blob) or blob.size > MAX_FILE_BYTES:
        return None
    data: bytes = blob.data_stream.read()
    return data.decode("utf-8", errors="replace")


def changed_files(repo: git.Repo, base: git.Commit, head: git.Commit) -> list[FileChange]:
    """Files that differ, with changed line numbers parsed from a zero-context diff."""
    out: list[FileChange] = []
    names = repo.git.diff("--name-status", "-M", base.hexsha, head.hexsha).splitlines()
    for line in names:
        parts = line.split("\t")
        status = parts[0][0]
        old_path = parts[1] if status == "R" else None
        path = parts[-1]
        head_lines: set[int] = set()
        base_lines: set[int] = set()
        if status in ("M", "R", "A", "D"):
            spec = [path] if old_path is None else [old_path, path]
            text = repo.git.diff("-U0", "-M", base.hexsha, head.hexsha, "--", *spec)
            for hunk in (m for m in map(_HUNK.match, text.splitlines()) if m):
                a_start, a_len = int(hunk.group(1)), int(hunk.group(2) or "1")
                b_start, b_len = int(hunk.group(3)), int(hunk.group(4) or "1")
                base_lines.update(range(a_start, a_start + a_len))
                head_lines.update(range(b_start, b_start + b_len))
        out.append(FileChange(path, status, old_path, frozenset(head_lines), frozenset(base_lines)))
    return out
