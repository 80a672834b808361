"""The follow-up pull request: regenerated files as one bot commit on top of a PR's head.

Part of the gateway: every call goes through `GitHubGateway._call`, so the follow-up shares
its client and its one retry policy rather than being a second way to talk to GitHub.
"""

from __future__ import annotations

import enum
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.github import payloads
from bot.github.gateway import GitHubGateway, _check_repo, _login, _pull_url
from bot.github.retry import GitHubCallError

__all__ = [
    "FollowupOutcome",
    "FollowupStatus",
    "ensure_followup_pr",
    "is_bot_commit",
]

# GitHub's own committer identity, used when it signs or writes a commit on an App's behalf.
GITHUB_COMMITTER_LOGIN = "web-flow"


class FollowupStatus(enum.StrEnum):
    """What `ensure_followup_pr` did."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    LEFT_ALONE_HUMAN_PUSH = "left_alone_human_push"
    CLOSED_BY_HUMAN = "closed_by_human"
    NOT_POSSIBLE_FORK = "not_possible_fork"
    STALE = "stale"  # the PR head moved on since head_sha: a newer run will regenerate
    PR_NOT_OPEN = "pr_not_open"  # the PR itself is closed or merged


@dataclass(frozen=True)
class FollowupOutcome:
    status: FollowupStatus
    branch: str
    number: int | None = None  # the follow-up PR, when one exists
    url: str | None = None
    commit_sha: str | None = None  # the commit written by this call, if any


def is_bot_commit(commit: Mapping[str, Any], bot_login: str) -> bool:
    """A REST commit authored by the bot and committed by the bot or by GitHub on its behalf."""
    bot = bot_login.lower()
    committer = _login(commit.get("committer"))
    return _login(commit.get("author")) == bot and committer in (bot, GITHUB_COMMITTER_LOGIN)


def ensure_followup_pr(
    gateway: GitHubGateway,
    repo: str,
    pr_number: int,
    *,
    head_branch: str,
    head_sha: str,
    files: Mapping[str, bytes | None],
    title: str,
    body: str,
    bot_login: str,
) -> FollowupOutcome:
    """Put `files` (None = delete; the path must exist at head) on the bot's follow-up branch.

    The branch `emac/regenerate/<pr>` holds one bot commit on top of the PR head and a PR
    into the PR's head branch. A branch whose tip a person wrote, or whose PR a person
    closed unmerged, is never touched again.
    """
    _check_repo(repo)
    branch = payloads.followup_branch(pr_number)
    for path in files:
        payloads.check_repo_path(path)
    # Built before any write so a refused title or body leaves GitHub untouched.
    edit = payloads.pull_request_edit_payload(title=title, body=body)
    create = payloads.pull_request_payload(title=title, body=body, head=branch, base=head_branch)
    pull = gateway._get_pull(repo, pr_number)
    head_repo = (pull["head"].get("repo") or {}).get("full_name")
    if str(head_repo).lower() != str(pull["base"]["repo"]["full_name"]).lower():
        return FollowupOutcome(FollowupStatus.NOT_POSSIBLE_FORK, branch)
    if pull.get("state") != "open":
        return FollowupOutcome(FollowupStatus.PR_NOT_OPEN, branch)
    if str(pull["head"]["sha"]).lower() != head_sha.lower():
        return FollowupOutcome(FollowupStatus.STALE, branch)

    followups = list(
        gateway._pages(
            f"list follow-up pull requests from {branch} on {repo}",
            f"/repos/{repo}/pulls",
            {"head": f"{repo.split('/')[0]}:{branch}", "state": "all"},
        )
    )
    open_pr = next((p for p in followups if p.get("state") == "open"), None)
    if open_pr is None and any(p.get("merged_at") is None for p in followups):
        closed = next(p for p in followups if p.get("merged_at") is None)
        return FollowupOutcome(
            FollowupStatus.CLOSED_BY_HUMAN, branch, closed["number"], closed["html_url"]
        )
    number = open_pr["number"] if open_pr else None
    url = open_pr["html_url"] if open_pr else None

    tip = _branch_tip(gateway, repo, branch)
    tip_tree: str | None = None
    if tip is not None:
        _, tip_commit = gateway._call(
            f"get commit {tip[:12]} at the tip of {branch} on {repo}",
            "GET",
            f"/repos/{repo}/commits/{tip}",
        )
        if not is_bot_commit(tip_commit, bot_login):
            return FollowupOutcome(FollowupStatus.LEFT_ALONE_HUMAN_PUSH, branch, number, url)
        tip_tree = str(tip_commit["commit"]["tree"]["sha"])

    head_tree = _commit_tree(gateway, repo, head_sha)
    tree = _write_tree(gateway, repo, head_tree, files)
    if tree in (head_tree, tip_tree):
        return FollowupOutcome(FollowupStatus.UNCHANGED, branch, number, url)

    _, commit = gateway._call(
        f"create follow-up commit for {repo}#{pr_number}",
        "POST",
        f"/repos/{repo}/git/commits",
        payload=payloads.commit_payload(
            f"{title}\n\nRegenerated from {head_sha} for #{pr_number}.", tree, [head_sha]
        ),
    )
    commit_sha = str(commit["sha"])
    if tip is None:
        gateway._call(
            f"create branch {branch} on {repo}",
            "POST",
            f"/repos/{repo}/git/refs",
            payload=payloads.create_ref_payload(branch, commit_sha),
        )
    else:
        # The new commit sits on the new PR head, not on the old tip: a forced update,
        # allowed only because the tip was checked to be the bot's own commit.
        gateway._call(
            f"move branch {branch} on {repo}",
            "PATCH",
            f"/repos/{repo}/git/refs/heads/{_quote_ref(branch)}",
            payload=payloads.update_ref_payload(commit_sha, force=True),
        )

    if open_pr is not None:
        gateway._call(
            f"update follow-up pull request {repo}#{open_pr['number']}",
            "PATCH",
            _pull_url(repo, int(open_pr["number"])),
            payload=edit,
        )
        return FollowupOutcome(FollowupStatus.UPDATED, branch, number, url, commit_sha)
    _, created = gateway._call(
        f"open follow-up pull request from {branch} into {head_branch} on {repo}",
        "POST",
        f"/repos/{repo}/pulls",
        payload=create,
    )
    return FollowupOutcome(
        FollowupStatus.CREATED, branch, created["number"], created["html_url"], commit_sha
    )


def _branch_tip(gateway: GitHubGateway, repo: str, branch: str) -> str | None:
    try:
        _, ref = gateway._call(
            f"get branch {branch} on {repo}",
            "GET",
            f"/repos/{repo}/git/ref/heads/{_quote_ref(branch)}",
        )
    except GitHubCallError as exc:
        if exc.status == 404:
            return None
        raise
    return str(ref["object"]["sha"])


def _commit_tree(gateway: GitHubGateway, repo: str, sha: str) -> str:
    _, commit = gateway._call(
        f"get git commit {sha[:12]} on {repo}", "GET", f"/repos/{repo}/git/commits/{sha}"
    )
    return str(commit["tree"]["sha"])


def _write_tree(
    gateway: GitHubGateway, repo: str, base_tree: str, files: Mapping[str, bytes | None]
) -> str:
    entries: dict[str, str | None] = {}
    for path, content in sorted(files.items()):
        if content is None:
            entries[path] = None
            continue
        _, blob = gateway._call(
            f"create blob for {path} on {repo}",
            "POST",
            f"/repos/{repo}/git/blobs",
            payload=payloads.blob_payload(content),
        )
        entries[path] = str(blob["sha"])
    _, tree = gateway._call(
        f"create tree on {repo}",
        "POST",
        f"/repos/{repo}/git/trees",
        payload=payloads.tree_payload(base_tree, entries),
    )
    return str(tree["sha"])


def _quote_ref(branch: str) -> str:
    return urllib.parse.quote(branch, safe="/")
