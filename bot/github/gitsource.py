"""Local bare mirrors of the repositories the bot reviews: fetch just the commits a job needs."""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import git

from bot.review.gitread import MissingCommitError

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class GitMirror:
    """One bare repository per GitHub repository under `cache_dir`.

    Fetches go by ref (the PR's head ref and the base branch) and then by sha; the token is
    sent as an HTTP header, never written into a URL or the repository's config.
    """

    def __init__(
        self,
        cache_dir: Path,
        remote_url: Callable[[str], str],
        token: Callable[[str], str | None] = lambda repo: None,
    ) -> None:
        self.cache_dir = cache_dir
        self.remote_url = remote_url
        self.token = token

    def path_for(self, repo: str) -> Path:
        owner, _, name = repo.partition("/")
        return self.cache_dir / _SAFE.sub("_", owner) / (_SAFE.sub("_", name) + ".git")

    def _git(self, repo: str, bare: git.Repo) -> git.Git:
        token = self.token(repo)
        if not token:
            return bare.git
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        cmd = bare.git
        cmd.set_persistent_git_options(c=f"http.extraHeader=Authorization: Basic {basic}")
        return cmd

    def ensure(self, repo: str, shas: Sequence[str], refspecs: Sequence[str] = ()) -> str:
        """Path of a bare clone holding every sha in `shas`; MissingCommitError otherwise."""
        path = self.path_for(repo)
        bare = git.Repo(path) if path.exists() else git.Repo.init(path, bare=True, mkdir=True)
        missing = [s for s in shas if not _has(bare, s)]
        if missing:
            cmd = self._git(repo, bare)
            url = self.remote_url(repo)
            for refspec in refspecs:
                # A branch may be gone (deleted after merge); the shas below still decide.
                with contextlib.suppress(git.GitCommandError):
                    cmd.fetch("--no-tags", "--quiet", url, refspec)
            still = [s for s in missing if not _has(bare, s)]
            for sha in still:
                try:
                    cmd.fetch("--no-tags", "--quiet", url, sha)
                except git.GitCommandError:
                    raise MissingCommitError(repo, sha) from None
            for sha in shas:
                if not _has(bare, sha):
                    raise MissingCommitError(repo, sha)
        return str(path)


def _has(repo: git.Repo, sha: str) -> bool:
    try:
        repo.commit(sha)
        return True
    except (ValueError, git.BadName):
        return False
