"""The App's review of a pull request end to end: a real git remote, the fake GitHub API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import git
import pytest

from bot.github.followup import FollowupStatus
from bot.github.gateway import CommentOutcome, GitHubGateway
from bot.github.gitsource import GitMirror
from bot.github.retry import GitHubRetryPolicy
from bot.github.runner import CHECK_NAME, review_pull_request
from bot.review.demo import SPEC, build_demo_repo
from tests.fakegithub import BOT_LOGIN, FakeGitHub

REPO = "Codertocat/Hello-World"
PR = 7
BRANCH = "move-west-provider"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


class Scene:
    def __init__(self, fake: FakeGitHub, tmp: Path) -> None:
        self.fake = fake
        self.demo = build_demo_repo(tmp / "origin")
        self.origin = git.Repo(self.demo.path)
        self.origin.git.update_ref(f"refs/pull/{PR}/head", self.demo.head)
        self.gateway = GitHubGateway(fake.client(), retry=GitHubRetryPolicy(sleep=lambda s: None))
        self.mirror = GitMirror(tmp / "mirrors", lambda repo: str(self.demo.path))
        for sha in (self.demo.base, self.demo.head):
            fake.adopt_git_commit(REPO, self.demo.path, sha)
        fake.repo(REPO).refs["main"] = self.demo.base
        fake.open_pull(REPO, PR, head_ref=BRANCH, head_sha=self.demo.head, base_sha=self.demo.base)

    def push(self, path: str, text: str, message: str) -> str:
        """A person pushes a new head to the PR branch (real git, mirrored into the fake)."""
        self.origin.git.checkout(BRANCH)
        (Path(self.demo.path) / path).write_text(text)
        self.origin.git.add(A=True)
        sha = self.origin.index.commit(message).hexsha
        self.origin.git.update_ref(f"refs/pull/{PR}/head", sha)
        self.fake.adopt_git_commit(REPO, self.demo.path, sha)
        self.fake.repo(REPO).pulls[PR]["head"]["sha"] = sha
        self.fake.repo(REPO).refs[BRANCH] = sha
        return sha

    def review(self, head: str) -> object:
        return review_pull_request(self.gateway, self.mirror, REPO, PR, head, bot_login=BOT_LOGIN)


def test_a_pr_that_shares_the_payment_domain_fails_with_comment_check_and_followup(
    fake: FakeGitHub, tmp_path: Path
) -> None:
    scene = Scene(fake, tmp_path)
    outcome = scene.review(scene.demo.head)
    assert outcome.conclusion == "failure"  # type: ignore[attr-defined]
    assert outcome.comment is CommentOutcome.CREATED  # type: ignore[attr-defined]
    assert outcome.followup.status is FollowupStatus.CREATED  # type: ignore[attr-defined]
    state = fake.repo(REPO)
    (run,) = state.check_runs.values()
    assert run["name"] == CHECK_NAME and run["conclusion"] == "failure"
    assert run["head_sha"] == scene.demo.head
    annotations = [
        a
        for call in fake.calls
        if call.method == "PATCH" and "/check-runs/" in call.path
        for a in (call.body or {}).get("output", {}).get("annotations", [])
    ]
    assert any(
        a["path"] == SPEC and "card-network-west → card-network" in a["message"]
        for a in annotations
    )
    completion = next(c for c in fake.calls if c.method == "PATCH" and "/check-runs/" in c.path)
    assert [b["identifier"] for b in completion.body["actions"]] == ["regenerate-artifacts"]
    (comment,) = state.comments[PR]
    assert "0.99747706 → **0.99251449** (-0.00496257)" in comment["body"]
    assert f"`{SPEC}:" in comment["body"]
    followup_files = fake.branch_files(REPO, f"emac/regenerate/{PR}")
    assert "checkout/compiled/checkout/report/derivation.checkout.yaml" in followup_files
    methods = [m for m, _ in fake.sequence()]
    first_write = methods.index("POST")
    assert fake.sequence()[first_write][1].endswith("/check-runs")  # in_progress first


def test_a_second_push_updates_the_followup_and_the_comment_in_place(
    fake: FakeGitHub, tmp_path: Path
) -> None:
    scene = Scene(fake, tmp_path)
    first = scene.review(scene.demo.head)
    spec = Path(scene.demo.path) / SPEC
    head2 = scene.push(
        SPEC,
        spec.read_text().replace("target: 0.995", "target: 0.992", 1),
        "Relax the checkout objective",
    )
    second = scene.review(head2)
    assert second.followup.status is FollowupStatus.UPDATED  # type: ignore[attr-defined]
    assert second.followup.number == first.followup.number  # type: ignore[attr-defined]
    assert second.comment is CommentOutcome.UPDATED  # type: ignore[attr-defined]
    state = fake.repo(REPO)
    assert len(state.comments[PR]) == 1
    open_followups = [
        p for p in state.pulls.values() if p["head"]["ref"] == f"emac/regenerate/{PR}"
    ]
    assert len(open_followups) == 1


def test_a_stale_head_posts_no_comment(fake: FakeGitHub, tmp_path: Path) -> None:
    scene = Scene(fake, tmp_path)
    old_head = scene.demo.head
    spec = Path(scene.demo.path) / SPEC
    scene.push(SPEC, spec.read_text() + "\n", "whitespace")
    outcome = scene.review(old_head)
    assert outcome.skipped == "stale-head"  # type: ignore[attr-defined]
    assert fake.repo(REPO).comments.get(PR, []) == []


def test_a_docs_only_pr_gets_a_success_check_and_no_comment(
    fake: FakeGitHub, tmp_path: Path
) -> None:
    scene = Scene(fake, tmp_path)
    # A PR whose only change is to the README, on top of the demo's head.
    fake.repo(REPO).pulls[PR]["base"]["sha"] = scene.demo.head
    head = scene.push("README.md", "Shop journeys.\n\nNow with more words.\n", "docs")
    outcome = scene.review(head)
    assert outcome.conclusion == "success"  # type: ignore[attr-defined]
    assert outcome.comment is CommentOutcome.ABSENT  # type: ignore[attr-defined]
    assert fake.repo(REPO).comments.get(PR, []) == []
    runs = list(fake.repo(REPO).check_runs.values())
    assert runs[-1]["conclusion"] == "success"
    assert runs[-1]["output"]["title"] == "No journey affected"


def test_emac_accept_puts_the_accepted_model_in_the_followup(
    fake: FakeGitHub, tmp_path: Path
) -> None:
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "discovery" / "checkout"
    origin = tmp_path / "origin"
    repo = git.Repo.init(origin, initial_branch="main")

    def commit(files: dict[str, Path]) -> str:
        for rel, src in files.items():
            (origin / rel).parent.mkdir(parents=True, exist_ok=True)
            (origin / rel).write_text(src.read_text())
        repo.git.add(A=True)
        return repo.index.commit("change").hexsha

    base = commit(
        {
            "spec/checkout.yaml": fixtures / "spec/checkout.yaml",
            "slos/checkout-slos.yaml": fixtures / "slos/checkout-slos.yaml",
            "model/accepted.checkout.yaml": fixtures / "model/accepted.checkout.yaml",
            "k8s/payments.yaml": fixtures / "k8s/networks-distinct.yaml",
        }
    )
    head = commit({"k8s/payments.yaml": fixtures / "k8s/networks-shared.yaml"})
    repo.git.update_ref(f"refs/pull/{PR}/head", head)
    for sha in (base, head):
        fake.adopt_git_commit(REPO, origin, sha)
    fake.open_pull(REPO, PR, head_ref=BRANCH, head_sha=head, base_sha=base)
    gateway = GitHubGateway(fake.client(), retry=GitHubRetryPolicy(sleep=lambda s: None))
    mirror = GitMirror(tmp_path / "mirrors", lambda r: str(origin))
    outcome = review_pull_request(
        gateway, mirror, REPO, PR, head, bot_login=BOT_LOGIN, accept_pending=True
    )
    assert outcome.conclusion == "action_required"
    files = fake.branch_files(REPO, f"emac/regenerate/{PR}")
    accepted = files["model/accepted.checkout.yaml"].decode()
    assert "payment.network=net-a" in accepted
    completion = next(c for c in fake.calls if c.method == "PATCH" and "/check-runs/" in c.path)
    buttons = [b["identifier"] for b in completion.body["actions"]]
    assert buttons == ["accept-model", "regenerate-artifacts"]


def test_a_later_head_that_touches_no_journey_updates_the_old_comment(
    fake: FakeGitHub, tmp_path: Path
) -> None:
    scene = Scene(fake, tmp_path)
    scene.review(scene.demo.head)
    # The author reverts the spec change: the PR no longer touches any journey.
    origin = git.Repo(scene.demo.path)
    base_spec = origin.git.show(f"{scene.demo.base}:{SPEC}")
    head = scene.push(SPEC, base_spec + "\n", "revert the network move")
    outcome = scene.review(head)
    assert outcome.conclusion == "success"  # type: ignore[attr-defined]
    assert outcome.comment is CommentOutcome.UPDATED  # type: ignore[attr-defined]
    (comment,) = fake.repo(REPO).comments[PR]
    assert "No journey is affected by this pull request" in comment["body"]
