"""The GitHub Action step: review the event's base and head, report to GitHub and the runner."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import git
from github import Auth, Github

from bot.compile.availability import AvailabilityError
from bot.github import action_io
from bot.github.action_io import ActionContext, read_context
from bot.github.gateway import CommentOutcome, GitHubCallError, GitHubGateway
from bot.github.payloads import max_sticky_body_chars
from bot.review.gitread import MissingCommitError, open_repo, resolve
from bot.review.model import Conclusion, ReviewResult
from bot.review.pipeline import review_revisions
from bot.review.render import (
    MARKER,
    CheckOutput,
    middle_truncate,
    render_check,
    render_comment,
    render_job_summary,
)
from bot.spec.errors import SpecError

__all__ = [
    "CHECK_NAME",
    "action_outputs",
    "default_github",
    "effective_conclusion",
    "exit_code_for",
    "main",
    "prepare_commits",
    "run_action",
]

CHECK_NAME = "EmaC journey bounds"
FETCH_DEPTH = 50
EXIT_SETUP_ERROR = 2
STATUS_STATES: dict[str, str] = {
    "success": "success",
    "neutral": "success",
    "failure": "failure",
    "action_required": "failure",
}

GitHubFactory = Callable[[str, str], Github]


def default_github(token: str, api_url: str) -> Github:
    """A token-authenticated client for github.com or a GitHub Enterprise Server API URL."""
    return Github(auth=Auth.Token(token), base_url=api_url)


def _say(line: str) -> None:
    print(line, flush=True)


def _warn(message: str) -> None:
    _say(action_io.workflow_command("warning", message, {"title": CHECK_NAME}))


def prepare_commits(workspace: Path, revisions: Sequence[str]) -> None:
    """Fetch, once, the commits a shallow checkout lacks; a fetch failure is only a warning
    (the review then stops with MissingCommitError, which says what to do)."""
    repo = open_repo(str(workspace))
    missing: list[str] = []
    for rev in revisions:
        try:
            resolve(repo, rev)
        except MissingCommitError:
            missing.append(rev.rstrip("^"))
    if not missing:
        return
    wanted = list(dict.fromkeys(missing))
    _say(f"Fetching {', '.join(w[:12] for w in wanted)} (not in the checkout) from origin")
    try:
        repo.git.fetch("--no-tags", f"--depth={FETCH_DEPTH}", "origin", *wanted)
    except git.GitCommandError as exc:
        _warn(f"git fetch of {', '.join(wanted)} failed: {str(exc.stderr).strip()}")


def effective_conclusion(conclusion: Conclusion, review_is_neutral: bool) -> Conclusion:
    return "neutral" if conclusion == "action_required" and review_is_neutral else conclusion


def exit_code_for(conclusion: Conclusion) -> int:
    """The step fails on FAIL and on a blocking REVIEW; success and neutral pass."""
    return 1 if conclusion in ("failure", "action_required") else 0


def action_outputs(result: ReviewResult, conclusion: Conclusion) -> dict[str, str]:
    """The step outputs: decision, conclusion, gating bound(s), journey count, gating deltas."""
    deltas = {
        j.name: {
            "bound": j.gating_bound,
            "base": j.availability[j.gating_bound].base,
            "head": j.availability[j.gating_bound].head,
            "delta": j.availability[j.gating_bound].delta,
        }
        for j in result.journeys
    }
    decision = result.decision or ("FAIL" if result.errors else "NONE")
    return {
        "decision": decision,
        "conclusion": conclusion,
        "gating-bound": ",".join(sorted({j.gating_bound for j in result.journeys})),
        "journeys": str(len(result.journeys)),
        "deltas": json.dumps(deltas, separators=(",", ":"), sort_keys=True),
    }


def _visible_comment(result: ReviewResult) -> str:
    """The comment without the hidden lines render_comment puts first (the gateway adds its own)."""
    lines = render_comment(result).split("\n")
    if lines[:1] == [MARKER]:
        lines = lines[1:]
    if lines and lines[0].startswith("<!-- emac-bot:head="):
        lines = lines[1:]
    return middle_truncate("\n".join(lines), max_sticky_body_chars(MARKER))


class GitHubReport:
    """The run's writes to GitHub: a check run (or commit statuses where checks are refused) and
    the sticky comment. A 403 turns into a warning; any other refusal is remembered as an error."""

    def __init__(self, gateway: GitHubGateway, ctx: ActionContext) -> None:
        self._gateway, self._ctx = gateway, ctx
        self._check_id: int | None = None
        self._use_statuses = False
        self._statuses_refused = False
        self.failed = False

    def _refused(self, exc: GitHubCallError) -> None:
        if exc.status == 403:
            _warn(f"{exc} (results are in the job summary and annotations)")
        else:
            self.failed = True
            _say(action_io.workflow_command("error", str(exc), {"title": CHECK_NAME}))

    def _status(self, state: str, description: str) -> None:
        if self._statuses_refused:
            return
        try:
            self._gateway.report_commit_status(
                self._ctx.repository,
                self._ctx.event.head,
                state,
                description,
                CHECK_NAME,
                self._ctx.details_url,
            )
        except GitHubCallError as exc:
            self._statuses_refused = True
            self._refused(exc)

    def start(self) -> None:
        try:
            self._check_id = self._gateway.start_check_run(
                self._ctx.repository,
                self._ctx.event.head,
                CHECK_NAME,
                external_id=f"emac-action:{self._ctx.event.head}",
                details_url=self._ctx.details_url,
            )
        except GitHubCallError as exc:
            if exc.status != 403:
                self._refused(exc)
                return
            _warn("this token may not create check runs (HTTP 403): reporting a commit status")
            self._use_statuses = True
            self._status("pending", "reviewing journey bounds")

    def finish(self, check: CheckOutput) -> None:
        if self._use_statuses:
            self._status(STATUS_STATES[check.conclusion], check.title)
            return
        if self._check_id is None:
            return
        try:
            self._gateway.complete_check_run(
                self._ctx.repository,
                self._check_id,
                conclusion=check.conclusion,
                title=check.title,
                summary=check.summary,
                text=check.text,
                annotations=check.annotations,
            )
        except GitHubCallError as exc:
            self._refused(exc)

    def comment(
        self, pr_number: int, body: str, committed_at: datetime | None, *, update_only: bool
    ) -> None:
        try:
            outcome = self._gateway.upsert_sticky_comment(
                self._ctx.repository,
                pr_number,
                body,
                marker=MARKER,
                head_sha=self._ctx.event.head,
                head_committed_at=committed_at,
                update_only=update_only,
            )
        except GitHubCallError as exc:
            self._refused(exc)
            return
        if outcome is CommentOutcome.STALE:
            _say("The pull request moved on to a newer head: its own run will comment")


def _wants_comment(ctx: ActionContext, result: ReviewResult) -> bool:
    """Comment unless disabled; an unaffected PR only updates a comment an earlier head left
    (see `_update_only`), so a stale FAIL table never sits beside a green check."""
    mode = result.config.comment.mode  # `.emac.yml` at head
    return ctx.comment and ctx.event.pr_number is not None and mode != "never"


def _update_only(result: ReviewResult) -> bool:
    return result.config.comment.mode == "on-change" and not result.affected


def _review(ctx: ActionContext) -> tuple[ReviewResult, datetime]:
    prepare_commits(ctx.workspace, [ctx.event.base, ctx.event.head])
    result = review_revisions(str(ctx.workspace), ctx.event.base, ctx.event.head)
    head = resolve(open_repo(str(ctx.workspace)), ctx.event.head)
    return result, head.committed_datetime


def _write_runner_files(ctx: ActionContext, summary: str, outputs: Mapping[str, str]) -> None:
    if ctx.summary_path is not None:
        action_io.append_summary(ctx.summary_path, summary)
    if ctx.output_path is not None:
        action_io.append_outputs(ctx.output_path, outputs)


def _setup_failure(ctx: ActionContext, report: GitHubReport | None, message: str) -> int:
    _say(action_io.workflow_command("error", message, {"title": CHECK_NAME}))
    if report is not None:
        report.finish(
            CheckOutput("failure", "EmaC could not run the review", message, "", annotations=[])
        )
    outputs = {
        "decision": "ERROR",
        "conclusion": "failure",
        "gating-bound": "",
        "journeys": "0",
        "deltas": "{}",
    }
    _write_runner_files(ctx, f"## {CHECK_NAME}: could not run\n\n```\n{message}\n```\n", outputs)
    return EXIT_SETUP_ERROR


def run_action(env: Mapping[str, str], *, github_factory: GitHubFactory = default_github) -> int:
    """Run the step: 0 on PASS/neutral, 1 on FAIL or blocking REVIEW, 2 when it cannot review."""
    try:
        ctx = read_context(env)
    except action_io.ActionInputError as exc:
        _say(action_io.workflow_command("error", str(exc), {"title": CHECK_NAME}))
        return EXIT_SETUP_ERROR
    report: GitHubReport | None = None
    blocker = ctx.write_blocker
    if blocker is not None:
        _warn(f"not writing to GitHub: {blocker}; results are in the job summary and annotations")
    else:
        assert ctx.token is not None
        report = GitHubReport(GitHubGateway(github_factory(ctx.token, ctx.api_url)), ctx)
        report.start()

    try:
        result, committed_at = _review(ctx)
    except SpecError as exc:
        return _setup_failure(ctx, report, exc.render())
    except (MissingCommitError, AvailabilityError) as exc:
        return _setup_failure(ctx, report, str(exc))
    except git.GitCommandError as exc:
        return _setup_failure(ctx, report, f"git failed: {str(exc.stderr).strip() or exc}")

    conclusion = effective_conclusion(result.conclusion, ctx.review_is_neutral)
    check = render_check(result, review_conclusion=conclusion)
    for annotation in check.annotations:
        _say(action_io.annotation_command(annotation))
    if report is not None:
        report.finish(check)
        if ctx.event.pr_number is not None and _wants_comment(ctx, result):
            report.comment(
                ctx.event.pr_number,
                _visible_comment(result),
                committed_at,
                update_only=_update_only(result),
            )
    _write_runner_files(ctx, render_job_summary(result), action_outputs(result, conclusion))
    _say(f"{CHECK_NAME}: {conclusion} ({check.title.removeprefix('EmaC: ')})")
    code = exit_code_for(conclusion)
    return max(code, 1) if report is not None and report.failed else code


def main(argv: Sequence[str] | None = None) -> int:
    """`emac action`: the container's default command; reads the runner's environment once."""
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    return run_action(dict(os.environ))


if __name__ == "__main__":
    sys.exit(main())
