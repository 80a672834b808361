"""The worker's job handler: one plain function per job kind, composed in one place."""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import github
import requests

from bot.github.appauth import GitHubAppAuth, authorize_command
from bot.github.events import Job, JobKind
from bot.github.gateway import GitHubGateway
from bot.github.gitsource import GitMirror
from bot.github.queue import JobQueue
from bot.github.runner import CHECK_NAME, complete_check, review_pull_request
from bot.github.settings import Settings
from bot.review.pipeline import review_revisions
from bot.review.render import ENV

log = logging.getLogger(__name__)


def web_url(api_url: str) -> str:
    """https://api.github.com → https://github.com; GHES https://h/api/v3 → https://h."""
    parts = urllib.parse.urlsplit(api_url)
    if parts.netloc == "api.github.com":
        return "https://github.com"
    path = parts.path.removesuffix("/").removesuffix("/api/v3")
    return f"{parts.scheme}://{parts.netloc}{path}"


@dataclass
class JobHandlers:
    """Everything a job needs, built once per worker; `__call__` is the worker's handler."""

    settings: Settings
    auth: GitHubAppAuth
    queue: JobQueue
    mirror: GitMirror
    # None: asked of GitHub by the first job that needs it, so a worker comes up while GitHub
    # is unreachable and that job retries like any other GitHub failure.
    bot_login: str | None
    gateway_for: Callable[[int], GitHubGateway]
    # Installation of each repository seen in a job: the git mirror fetches with its token.
    installations: dict[str, int] = field(default_factory=dict)

    def login(self) -> str:
        """The login the App's comments and commits carry."""
        if self.bot_login is None:
            self.bot_login = bot_login_of(self.auth)
        return self.bot_login

    def __call__(self, job: Job) -> None:
        handler = {
            JobKind.REVIEW: self.review,
            JobKind.REGENERATE_ARTIFACTS: self.review,
            JobKind.MERGE_GROUP: self.merge_group,
            JobKind.COMMAND: self.command,
            JobKind.ACCEPT_MODEL: self.command,
            JobKind.INSTALLATION: self.installation,
        }[job.kind]
        handler(job)

    def _gateway(self, job: Job) -> GitHubGateway:
        if job.installation_id is None:
            raise ValueError(f"job {job.job_id} has no installation id")
        self.installations[job.repo] = job.installation_id
        return self.gateway_for(job.installation_id)

    def review(self, job: Job) -> None:
        assert job.pr_number is not None and job.head_sha is not None
        review_pull_request(
            self._gateway(job),
            self.mirror,
            job.repo,
            job.pr_number,
            job.head_sha,
            bot_login=self.login(),
            is_current=self.queue.is_current(job),
        )

    def merge_group(self, job: Job) -> None:
        """Merge queues wait for this check: review the group's head against its base."""
        assert job.head_sha is not None and job.base_sha is not None
        gateway = self._gateway(job)
        check_id = gateway.start_check_run(
            job.repo, job.head_sha, CHECK_NAME, external_id=f"{job.repo}@{job.head_sha}"
        )
        path = self.mirror.ensure(job.repo, [job.base_sha, job.head_sha])
        complete_check(
            gateway, job.repo, check_id, review_revisions(path, job.base_sha, job.head_sha)
        )

    def command(self, job: Job) -> None:
        assert job.pr_number is not None
        if not authorize_command(self.auth, job):
            return  # the sender was told politely why not
        gateway = self._gateway(job)
        word = "accept" if job.kind is JobKind.ACCEPT_MODEL else job.command
        if word == "help":
            gateway.post_comment(job.repo, job.pr_number, ENV.get_template("help.md.j2").render())
            return
        pr = gateway.pull_request(job.repo, job.pr_number)
        review_pull_request(
            gateway,
            self.mirror,
            job.repo,
            job.pr_number,
            pr.head_sha,
            bot_login=self.login(),
            accept_pending=word == "accept",
        )

    def installation(self, job: Job) -> None:
        log.info(
            "installation %s %s: %s",
            job.installation_id,
            job.trigger,
            ", ".join(job.repos) or "all repositories",
        )


def bot_login_of(auth: GitHubAppAuth) -> str:
    """`<app-slug>[bot]`, the login the App's comments and commits carry."""
    response = requests.get(
        f"{auth.api_url}/app",
        timeout=30,
        headers={
            "Authorization": f"Bearer {auth.app_jwt()}",
            "Accept": "application/vnd.github+json",
        },
    )
    response.raise_for_status()
    return f"{response.json()['slug']}[bot]"


def make_handlers(
    settings: Settings, queue: JobQueue, cache_dir: Path, bot_login: str | None = None
) -> JobHandlers:
    auth = GitHubAppAuth.from_settings(settings)
    base = web_url(settings.api_url)

    def gateway_for(installation_id: int) -> GitHubGateway:
        token = auth.installation_token(installation_id)
        return GitHubGateway(
            github.Github(auth=github.Auth.Token(token), base_url=settings.api_url)
        )

    installations: dict[str, int] = {}

    def token_for(repo: str) -> str | None:
        installation = installations.get(repo)
        return auth.installation_token(installation) if installation else None

    mirror = GitMirror(cache_dir, lambda repo: f"{base}/{repo}.git", token_for)
    return JobHandlers(settings, auth, queue, mirror, bot_login, gateway_for, installations)
