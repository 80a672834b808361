"""The GitHub App end to end: signed real deliveries on a loopback server, the SQLite queue,
the real job handler reviewing a real git repository, and the fake GitHub API."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import git
import pytest

from bot.github.appauth import GitHubAppAuth
from bot.github.events import Job
from bot.github.gateway import GitHubGateway
from bot.github.gitsource import GitMirror
from bot.github.handlers import JobHandlers
from bot.github.queue_sqlite import SqliteJobQueue
from bot.github.retry import GitHubRetryPolicy
from bot.github.settings import Settings
from bot.github.webhook import create_app
from bot.github.worker import run_one
from bot.review.demo import build_demo_repo
from tests.fakegithub import BOT_LOGIN, FakeGitHub
from tests.test_webhook_support import SECRET, payload, serving, throwaway_rsa_key
from tests.test_webhook_support import pr_comment as recorded_pr_comment

REPO = "Codertocat/Hello-World"
PR = 2


class App:
    def __init__(self, fake: FakeGitHub, tmp: Path) -> None:
        self.fake = fake
        self.demo = build_demo_repo(tmp / "origin")
        fake.installations.add(1)  # the installation id in the recorded deliveries
        git.Repo(self.demo.path).git.update_ref(f"refs/pull/{PR}/head", self.demo.head)
        for sha in (self.demo.base, self.demo.head):
            fake.adopt_git_commit(REPO, self.demo.path, sha)
        fake.repo(REPO).refs["master"] = self.demo.base
        fake.open_pull(
            REPO,
            PR,
            head_ref="changes",
            head_sha=self.demo.head,
            base_ref="master",
            base_sha=self.demo.base,
        )
        self.settings = Settings(webhook_secret=SECRET, queue_path=tmp / "queue.db")
        self.queue = SqliteJobQueue(self.settings.queue_path)
        pem, _ = throwaway_rsa_key()
        auth = GitHubAppAuth(1, pem)
        quiet = GitHubRetryPolicy(sleep=lambda s: None)
        self.handlers = JobHandlers(
            self.settings,
            auth,
            self.queue,
            GitMirror(tmp / "mirrors", lambda repo: str(self.demo.path)),
            BOT_LOGIN,
            lambda installation: GitHubGateway(fake.client(), retry=quiet),
        )

    def pull_request_delivery(self) -> dict[str, Any]:
        data = copy.deepcopy(payload("pull_request/synchronize.payload.json"))
        data["pull_request"]["head"]["sha"] = self.demo.head
        data["pull_request"]["base"]["sha"] = self.demo.base
        return data

    def work(self) -> list[Job]:
        """Run every queued job once, as a worker would."""
        done = []
        while (job := self.queue.claim("test-worker", 60)) is not None:
            assert run_one(self.queue, self.handlers, job, "test-worker", 60)
            done.append(job)
        return done


def pr_comment(body: str) -> dict[str, Any]:
    """The recorded issue_comment delivery, on our pull request."""
    data = recorded_pr_comment(body)
    data["issue"]["number"] = PR
    return data


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    with FakeGitHub() as fake:
        yield App(fake, tmp_path)


def test_a_signed_synchronize_delivery_is_reviewed_and_reported(app: App) -> None:
    with serving(create_app(app.settings, app.queue)) as server:
        reply = server.deliver("pull_request", "delivery-1", app.pull_request_delivery())
        again = server.deliver("pull_request", "delivery-1", app.pull_request_delivery())
    assert reply.status == 202
    assert again.status == 200  # a replayed delivery is acknowledged, not queued twice
    (job,) = app.work()
    assert job.head_sha == app.demo.head
    state = app.fake.repo(REPO)
    (run,) = state.check_runs.values()
    assert run["conclusion"] == "failure" and run["head_sha"] == app.demo.head
    (comment,) = state.comments[PR]
    assert "(-0.00496257)" in comment["body"]
    assert f"<!-- emac-bot:head={app.demo.head} -->" in comment["body"]


def test_a_bad_signature_is_refused_and_nothing_runs(app: App) -> None:
    with serving(create_app(app.settings, app.queue)) as server:
        reply = server.deliver(
            "pull_request", "d-2", app.pull_request_delivery(), secret=b"not the secret"
        )
    assert reply.status == 401
    assert app.work() == []
    assert app.fake.calls == []


def test_help_from_a_writer_is_answered(app: App) -> None:
    app.fake.set_permission(REPO, "Codertocat", "write")
    with serving(create_app(app.settings, app.queue)) as server:
        assert server.deliver("issue_comment", "d-3", pr_comment("/emac help")).status == 202
    app.work()
    (comment,) = app.fake.repo(REPO).comments[PR]
    assert comment["body"].startswith("<!-- emac-bot:help -->")


def test_a_command_from_a_reader_gets_a_polite_refusal_and_no_review(app: App) -> None:
    app.fake.set_permission(REPO, "Codertocat", "read")
    with serving(create_app(app.settings, app.queue)) as server:
        assert server.deliver("issue_comment", "d-4", pr_comment("/emac recompute")).status == 202
    app.work()
    (comment,) = app.fake.repo(REPO).comments[PR]
    assert "can only be run by people with write access" in comment["body"]
    assert app.fake.repo(REPO).check_runs == {}


def test_recompute_from_a_maintainer_reviews_the_current_head(app: App) -> None:
    app.fake.set_permission(REPO, "Codertocat", "maintain")
    with serving(create_app(app.settings, app.queue)) as server:
        assert server.deliver("issue_comment", "d-5", pr_comment("/emac recompute")).status == 202
    app.work()
    (run,) = app.fake.repo(REPO).check_runs.values()
    assert run["head_sha"] == app.demo.head and run["conclusion"] == "failure"


def test_the_regenerate_button_refreshes_the_followup_pr(app: App) -> None:
    """The recorded requested_action delivery, pointed at our PR with our button's id."""
    data = copy.deepcopy(payload("check_run/requested_action.payload.json"))
    data["requested_action"]["identifier"] = "regenerate-artifacts"
    data["check_run"]["head_sha"] = app.demo.head
    data["check_run"]["pull_requests"][0]["number"] = PR
    data["repository"] = payload("pull_request/synchronize.payload.json")["repository"]
    data["installation"] = {"id": 1}
    app.fake.set_permission(REPO, data["sender"]["login"], "write")
    with serving(create_app(app.settings, app.queue)) as server:
        assert server.deliver("check_run", "d-6", data).status == 202
    (job,) = app.work()
    assert job.action_identifier == "regenerate-artifacts"
    files = app.fake.branch_files(REPO, f"emac/regenerate/{PR}")
    assert "checkout/compiled/checkout/report/derivation.checkout.yaml" in files
