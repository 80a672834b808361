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
    "GitHubCallError",
    "GitHubGateway",
    "GitHubRetryPolicy",
]

PAGE_SIZE = 100

_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


class CommentOutcome(enum.StrEnum):
    """What `upsert_sticky_comment` did."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # same text already posted: no write
    STALE = "stale"  # the head we wrote for is no longer the PR head (or is older): no write
    ABSENT = "absent"  # update_only and there is no comment to update: no write


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


class GitHubGateway:
    """Sticky comments, check runs and commit statuses; nothing about journeys.

    Takes a `github.Github` built elsewhere (token or App installation auth, any base URL for
    GitHub Enterprise Server). Retries are this class's job: the gateway works on a copy of the
    client with PyGithub's own retry switched off, so waits follow one policy and stay visible.
    Every REST call the bot makes goes through `_call` (the follow-up PR in `followup` too), so
    each can be read (and faked) in one place.
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


def _pull_url(repo: str, number: int) -> str:
    return f"/repos/{repo}/pulls/{number}"


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
