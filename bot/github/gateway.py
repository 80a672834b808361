"""GitHubGateway: the only place the bot talks to GitHub's REST API, every call behind one retry."""

from __future__ import annotations

import enum
import re
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from github import Github

from bot.github import payloads
from bot.github.payloads import JsonObject
from bot.github.retry import GitHubCallError, GitHubRetryPolicy, call_with_retry

__all__ = [
    "CommentOutcome",
    "FollowupOutcome",
    "FollowupStatus",
    "GitHubCallError",
    "GitHubGateway",
    "GitHubRetryPolicy",
]

PAGE_SIZE = 100
# GitHub's own committer identity, used when it signs or writes a commit on an App's behalf.
GITHUB_COMMITTER_LOGIN = "web-flow"

_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


class CommentOutcome(enum.StrEnum):
    """What `upsert_sticky_comment` did."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # same text already posted: no write
    STALE = "stale"  # the head we wrote for is no longer the PR head (or is older): no write
    ABSENT = "absent"  # update_only and there is no comment to update: no write


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
class PullRequestInfo:
    repo: str
    number: int
    state: str
    draft: bool
    head_sha: str
    head_ref: str
    head_repo: str
    base_sha: str
    base_ref: str

    @property
    def from_fork(self) -> bool:
        return self.head_repo != self.repo


@dataclass(frozen=True)
class FollowupOutcome:
    status: FollowupStatus
    branch: str
    number: int | None = None  # the follow-up PR, when one exists
    url: str | None = None
    commit_sha: str | None = None  # the commit written by this call, if any


def _check_repo(repo: str) -> str:
    if not _REPO.fullmatch(repo):
        raise ValueError(f"repository must be 'owner/name', got {repo!r}")
    return repo


def next_page_url(link_header: str | None) -> str | None:
    """The rel="next" URL of a paginated reply's Link header."""
    found = _NEXT_LINK.search(link_header or "")
    return found.group(1) if found else None


def _login(user: Any) -> str:
    return str(user.get("login", "")).lower() if isinstance(user, Mapping) else ""


def is_bot_commit(commit: Mapping[str, Any], bot_login: str) -> bool:
    """A REST commit authored by the bot and committed by the bot or by GitHub on its behalf."""
    bot = bot_login.lower()
    committer = _login(commit.get("committer"))
    return _login(commit.get("author")) == bot and committer in (bot, GITHUB_COMMITTER_LOGIN)


class GitHubGateway:
    """Sticky comments, check runs, commit statuses and follow-up PRs; nothing about journeys.

    Takes a `github.Github` built elsewhere (token or App installation auth, any base URL for
    GitHub Enterprise Server). Retries are this class's job: the gateway works on a copy of the
    client with PyGithub's own retry switched off, so waits follow one policy and stay visible.
    One class on purpose: every REST call the bot makes can be read (and faked) in one place.
    """

    def __init__(self, github: Github, *, retry: GitHubRetryPolicy | None = None) -> None:
        settings = github.requester.kwargs
        settings["retry"] = None
        self._requester = Github(**settings).requester
        self._retry = retry or GitHubRetryPolicy()

    # --- plumbing -----------------------------------------------------------------------------

    def _call(
        self,
        operation: str,
        verb: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        payload: JsonObject | None = None,
    ) -> tuple[dict[str, Any], Any]:
        def send() -> tuple[dict[str, Any], Any]:
            return self._requester.requestJsonAndCheck(
                verb, url, parameters=dict(params) if params else None, input=payload
            )

        return call_with_retry(operation, send, self._retry)

    def _pages(
        self, operation: str, url: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[JsonObject]:
        page_url: str | None = url
        page_params: Mapping[str, Any] | None = {**(params or {}), "per_page": PAGE_SIZE}
        while page_url is not None:
            headers, items = self._call(operation, "GET", page_url, params=page_params)
            yield from items
            # The next link already carries every query parameter.
            page_url, page_params = next_page_url(headers.get("link")), None

    def _get_pull(self, repo: str, pr_number: int) -> JsonObject:
        _, pull = self._call(
            f"get pull request {repo}#{pr_number}", "GET", _pull_url(repo, pr_number)
        )
        return dict(pull)

    def pull_request(self, repo: str, pr_number: int) -> PullRequestInfo:
        """The facts a review needs about a PR, read once per job."""
        pull = self._get_pull(repo, pr_number)
        head, base = pull["head"], pull["base"]
        head_repo = (head.get("repo") or {}).get("full_name") or ""
        return PullRequestInfo(
            repo=repo,
            number=pr_number,
            state=str(pull.get("state", "")),
            draft=bool(pull.get("draft", False)),
            head_sha=head["sha"],
            head_ref=head["ref"],
            head_repo=head_repo,
            base_sha=base["sha"],
            base_ref=base["ref"],
        )

    def user_permission(self, repo: str, login: str) -> str:
        """`admin`, `maintain`, `write`, `triage`, `read` or `none` for a user on a repo."""
        _, data = self._call(
            f"read {login}'s permission on {repo}",
            "GET",
            f"/repos/{repo}/collaborators/{urllib.parse.quote(login)}/permission",
        )
        role = data.get("role_name") or data.get("permission") or "none"
        return str(role)

    def post_comment(self, repo: str, issue_number: int, body: str) -> None:
        """A plain (not sticky) comment, e.g. a reply to a command."""
        self._call(
            f"comment on {repo}#{issue_number}",
            "POST",
            f"/repos/{repo}/issues/{issue_number}/comments",
            payload={"body": body},
        )

    # --- sticky comment -----------------------------------------------------------------------

    def upsert_sticky_comment(
        self,
        repo: str,
        pr_number: int,
        body: str,
        *,
        marker: str = payloads.STICKY_MARKER,
        head_sha: str,
        head_committed_at: datetime | None = None,
        author_login: str | None = None,
        update_only: bool = False,
    ) -> CommentOutcome:
        """Create or edit the PR's one comment carrying `marker`, written for `head_sha`.

        Writes nothing when `head_sha` is no longer the PR head, when the comment already says
        exactly this, or when the comment records a later commit time than `head_committed_at`.
        `author_login`, when given, only counts comments by that user as the sticky one.
        `update_only` edits an existing comment but never creates one (outcome ABSENT).
        """
        _check_repo(repo)
        payload = payloads.sticky_comment_payload(
            body, marker=marker, head_sha=head_sha, head_committed_at=head_committed_at
        )
        pull = self._get_pull(repo, pr_number)
        if str(pull["head"]["sha"]).lower() != head_sha.lower():
            return CommentOutcome.STALE
        existing = self._find_sticky(repo, pr_number, marker, author_login)
        if existing is None and update_only:
            return CommentOutcome.ABSENT
        if existing is None:
            self._call(
                f"create sticky comment on {repo}#{pr_number}",
                "POST",
                f"/repos/{repo}/issues/{pr_number}/comments",
                payload=payload,
            )
            return CommentOutcome.CREATED
        if existing.get("body") == payload["body"]:
            return CommentOutcome.UNCHANGED
        if _written_for_later_commit(str(existing.get("body", "")), head_sha, head_committed_at):
            return CommentOutcome.STALE
        self._call(
            f"update sticky comment {existing['id']} on {repo}#{pr_number}",
            "PATCH",
            f"/repos/{repo}/issues/comments/{existing['id']}",
            payload=payload,
        )
        return CommentOutcome.UPDATED

    def _find_sticky(
        self, repo: str, pr_number: int, marker: str, author_login: str | None
    ) -> JsonObject | None:
        comments = self._pages(
            f"list comments on {repo}#{pr_number}", f"/repos/{repo}/issues/{pr_number}/comments"
        )
        for comment in comments:
            if marker not in str(comment.get("body") or ""):
                continue
            if author_login is None or _login(comment.get("user")) == author_login.lower():
                return comment
        return None

    # --- check runs and statuses --------------------------------------------------------------

    def start_check_run(
        self,
        repo: str,
        head_sha: str,
        name: str,
        *,
        external_id: str,
        details_url: str | None = None,
    ) -> int:
        """Create an in-progress check run on `head_sha`; returns its id."""
        _check_repo(repo)
        payload = payloads.check_run_start_payload(
            head_sha, name, external_id=external_id, details_url=details_url
        )
        _, run = self._call(
            f"create check run {name!r} on {repo}@{head_sha[:12]}",
            "POST",
            f"/repos/{repo}/check-runs",
            payload=payload,
        )
        return int(run["id"])

    def complete_check_run(
        self,
        repo: str,
        check_run_id: int,
        *,
        conclusion: str,
        title: str,
        summary: str,
        text: str,
        annotations: Sequence[Mapping[str, Any]],
        actions: Sequence[Mapping[str, str]] = (),
    ) -> None:
        """Complete the run with its output; annotations go 50 per request (GitHub's limit)."""
        _check_repo(repo)
        requests = payloads.check_run_completion_payloads(
            conclusion=conclusion,
            title=title,
            summary=summary,
            text=text,
            annotations=annotations,
            actions=actions,
        )
        for number, payload in enumerate(requests, start=1):
            self._call(
                f"complete check run {check_run_id} on {repo} "
                f"(request {number} of {len(requests)})",
                "PATCH",
                f"/repos/{repo}/check-runs/{check_run_id}",
                payload=payload,
            )

    def report_commit_status(
        self,
        repo: str,
        sha: str,
        state: str,
        description: str,
        context: str,
        target_url: str | None = None,
    ) -> None:
        """Commit status, for installations where check runs are not permitted."""
        _check_repo(repo)
        payload = payloads.commit_status_payload(state, description, context, target_url)
        self._call(
            f"create commit status {context!r} on {repo}@{sha[:12]}",
            "POST",
            f"/repos/{repo}/statuses/{sha}",
            payload=payload,
        )

    # --- follow-up pull request ---------------------------------------------------------------

    def ensure_followup_pr(
        self,
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
        create = payloads.pull_request_payload(
            title=title, body=body, head=branch, base=head_branch
        )
        pull = self._get_pull(repo, pr_number)
        head_repo = (pull["head"].get("repo") or {}).get("full_name")
        if str(head_repo).lower() != str(pull["base"]["repo"]["full_name"]).lower():
            return FollowupOutcome(FollowupStatus.NOT_POSSIBLE_FORK, branch)
        if pull.get("state") != "open":
            return FollowupOutcome(FollowupStatus.PR_NOT_OPEN, branch)
        if str(pull["head"]["sha"]).lower() != head_sha.lower():
            return FollowupOutcome(FollowupStatus.STALE, branch)

        followups = list(
            self._pages(
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

        tip = self._branch_tip(repo, branch)
        tip_tree: str | None = None
        if tip is not None:
            _, tip_commit = self._call(
                f"get commit {tip[:12]} at the tip of {branch} on {repo}",
                "GET",
                f"/repos/{repo}/commits/{tip}",
            )
            if not is_bot_commit(tip_commit, bot_login):
                return FollowupOutcome(FollowupStatus.LEFT_ALONE_HUMAN_PUSH, branch, number, url)
            tip_tree = str(tip_commit["commit"]["tree"]["sha"])

        head_tree = self._commit_tree(repo, head_sha)
        tree = self._write_tree(repo, head_tree, files)
        if tree in (head_tree, tip_tree):
            return FollowupOutcome(FollowupStatus.UNCHANGED, branch, number, url)

        _, commit = self._call(
            f"create follow-up commit for {repo}#{pr_number}",
            "POST",
            f"/repos/{repo}/git/commits",
            payload=payloads.commit_payload(
                f"{title}\n\nRegenerated from {head_sha} for #{pr_number}.", tree, [head_sha]
            ),
        )
        commit_sha = str(commit["sha"])
        if tip is None:
            self._call(
                f"create branch {branch} on {repo}",
                "POST",
                f"/repos/{repo}/git/refs",
                payload=payloads.create_ref_payload(branch, commit_sha),
            )
        else:
            # The new commit sits on the new PR head, not on the old tip: a forced update,
            # allowed only because the tip was checked to be the bot's own commit.
            self._call(
                f"move branch {branch} on {repo}",
                "PATCH",
                f"/repos/{repo}/git/refs/heads/{_quote_ref(branch)}",
                payload=payloads.update_ref_payload(commit_sha, force=True),
            )

        if open_pr is not None:
            self._call(
                f"update follow-up pull request {repo}#{open_pr['number']}",
                "PATCH",
                _pull_url(repo, int(open_pr["number"])),
                payload=edit,
            )
            return FollowupOutcome(FollowupStatus.UPDATED, branch, number, url, commit_sha)
        _, created = self._call(
            f"open follow-up pull request from {branch} into {head_branch} on {repo}",
            "POST",
            f"/repos/{repo}/pulls",
            payload=create,
        )
        return FollowupOutcome(
            FollowupStatus.CREATED, branch, created["number"], created["html_url"], commit_sha
        )

    def _branch_tip(self, repo: str, branch: str) -> str | None:
        try:
            _, ref = self._call(
                f"get branch {branch} on {repo}",
                "GET",
                f"/repos/{repo}/git/ref/heads/{_quote_ref(branch)}",
            )
        except GitHubCallError as exc:
            if exc.status == 404:
                return None
            raise
        return str(ref["object"]["sha"])

    def _commit_tree(self, repo: str, sha: str) -> str:
        _, commit = self._call(
            f"get git commit {sha[:12]} on {repo}", "GET", f"/repos/{repo}/git/commits/{sha}"
        )
        return str(commit["tree"]["sha"])

    def _write_tree(self, repo: str, base_tree: str, files: Mapping[str, bytes | None]) -> str:
        entries: dict[str, str | None] = {}
        for path, content in sorted(files.items()):
            if content is None:
                entries[path] = None
                continue
            _, blob = self._call(
                f"create blob for {path} on {repo}",
                "POST",
                f"/repos/{repo}/git/blobs",
                payload=payloads.blob_payload(content),
            )
            entries[path] = str(blob["sha"])
        _, tree = self._call(
            f"create tree on {repo}",
            "POST",
            f"/repos/{repo}/git/trees",
            payload=payloads.tree_payload(base_tree, entries),
        )
        return str(tree["sha"])


def _pull_url(repo: str, number: int) -> str:
    return f"/repos/{repo}/pulls/{number}"


def _quote_ref(branch: str) -> str:
    return urllib.parse.quote(branch, safe="/")


def _written_for_later_commit(
    existing_body: str, head_sha: str, head_committed_at: datetime | None
) -> bool:
    """True when the comment records a different head committed after ours."""
    if head_committed_at is None:
        return False
    existing_head = payloads.sticky_head(existing_body)
    existing_time = payloads.sticky_committed_at(existing_body)
    if existing_head is None or existing_time is None:
        return False
    return existing_head.lower() != head_sha.lower() and existing_time > head_committed_at
