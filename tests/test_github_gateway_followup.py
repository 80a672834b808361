"""Follow-up PR of regenerated files: created, updated in place, left alone when it must be."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.github.followup import FollowupOutcome, FollowupStatus, ensure_followup_pr
from bot.github.gateway import GitHubGateway
from bot.github.retry import GitHubRetryPolicy
from tests.fakegithub import BOT_LOGIN, FakeGitHub

REPO = "Codertocat/Hello-World"
PR = 2
HEAD_BRANCH = "changes"
BRANCH = "emac/regenerate/2"
SPEC = b"apiVersion: emac.dev/v1alpha1\nkind: JourneyIntent\n"
RULES_V1 = b"groups:\n- name: checkout-v1\n"
RULES_V2 = b"groups:\n- name: checkout-v2\n"
R = f"/repos/{REPO}"
PULLS_FROM_BRANCH = (
    "GET",
    f"{R}/pulls?head=Codertocat%3Aemac%2Fregenerate%2F2&per_page=100&state=all",
)
GET_BRANCH = ("GET", f"{R}/git/ref/heads/{BRANCH}")
WRITE_TREE = [("POST", f"{R}/git/blobs"), ("POST", f"{R}/git/trees")]


@dataclass
class Scene:
    fake: FakeGitHub
    gateway: GitHubGateway
    head: str

    def regenerate(
        self, files: dict[str, bytes | None], head: str | None = None
    ) -> FollowupOutcome:
        return ensure_followup_pr(
            self.gateway,
            REPO,
            PR,
            head_branch=HEAD_BRANCH,
            head_sha=head or self.head,
            files=files,
            title="emac: regenerate artifacts",
            body=f"Regenerated for {head or self.head}",
            bot_login=BOT_LOGIN,
        )

    def followups(self) -> list[int]:
        pulls = self.fake.repos[REPO].pulls.values()
        return [p["number"] for p in pulls if p["head"]["ref"] == BRANCH]


@pytest.fixture
def scene() -> Iterator[Scene]:
    with FakeGitHub() as fake:
        fake.repo(REPO).refs["main"] = fake.seed_commit(REPO, {"spec/emac.checkout.yaml": SPEC})
        head = fake.seed_commit(
            REPO,
            {"spec/emac.checkout.yaml": SPEC, "generated/old-rules.yaml": b"stale"},
            parents=(fake.repos[REPO].refs["main"],),
        )
        fake.open_pull(REPO, PR, head_ref=HEAD_BRANCH, head_sha=head)
        policy = GitHubRetryPolicy(sleep=lambda seconds: None, rng=random.Random(7))
        yield Scene(fake, GitHubGateway(fake.client(), retry=policy), head)


def test_first_regeneration_opens_a_pr_into_the_pr_head_branch(scene: Scene) -> None:
    fake = scene.fake

    outcome = scene.regenerate({"generated/rules.yaml": RULES_V1, "generated/old-rules.yaml": None})

    assert outcome.status is FollowupStatus.CREATED
    assert fake.sequence() == [
        ("GET", f"{R}/pulls/{PR}"),
        PULLS_FROM_BRANCH,
        GET_BRANCH,
        ("GET", f"{R}/git/commits/{scene.head}"),
        *WRITE_TREE,
        ("POST", f"{R}/git/commits"),
        ("POST", f"{R}/git/refs"),
        ("POST", f"{R}/pulls"),
    ]
    assert fake.branch_files(REPO, BRANCH) == {
        "spec/emac.checkout.yaml": SPEC,
        "generated/rules.yaml": RULES_V1,
    }
    tip = fake.commit(REPO, fake.repos[REPO].refs[BRANCH])
    assert tip.parents == [scene.head] and tip.author == BOT_LOGIN
    followup = fake.repos[REPO].pulls[outcome.number or 0]
    assert (followup["head"]["ref"], followup["base"]["ref"]) == (BRANCH, HEAD_BRANCH)
    assert outcome.url == followup["html_url"] and outcome.commit_sha == tip.sha


def test_second_push_updates_the_same_pr_on_top_of_the_new_head(scene: Scene) -> None:
    fake = scene.fake
    first = scene.regenerate({"generated/rules.yaml": RULES_V1})
    new_head = fake.push(
        REPO, HEAD_BRANCH, {"spec/emac.checkout.yaml": SPEC + b"# v2\n"}, author="Codertocat"
    )
    fake.repos[REPO].pulls[PR]["head"]["sha"] = new_head
    old_tip = fake.repos[REPO].refs[BRANCH]
    fake.forget_calls()

    second = scene.regenerate({"generated/rules.yaml": RULES_V2}, head=new_head)

    assert second.status is FollowupStatus.UPDATED
    assert second.number == first.number
    assert scene.followups() == [first.number]
    assert fake.sequence() == [
        ("GET", f"{R}/pulls/{PR}"),
        PULLS_FROM_BRANCH,
        GET_BRANCH,
        ("GET", f"{R}/commits/{old_tip}"),
        ("GET", f"{R}/git/commits/{new_head}"),
        *WRITE_TREE,
        ("POST", f"{R}/git/commits"),
        ("PATCH", f"{R}/git/refs/heads/{BRANCH}"),
        ("PATCH", f"{R}/pulls/{first.number}"),
    ]
    assert fake.calls[-2].body["force"] is True
    assert fake.commit(REPO, fake.repos[REPO].refs[BRANCH]).parents == [new_head]
    assert fake.branch_files(REPO, BRANCH)["generated/rules.yaml"] == RULES_V2
    assert fake.repos[REPO].pulls[first.number or 0]["body"] == f"Regenerated for {new_head}"


def test_same_regenerated_tree_writes_no_commit(scene: Scene) -> None:
    first = scene.regenerate({"generated/rules.yaml": RULES_V1})
    tip = scene.fake.repos[REPO].refs[BRANCH]
    scene.fake.forget_calls()

    again = scene.regenerate({"generated/rules.yaml": RULES_V1})

    assert again == FollowupOutcome(FollowupStatus.UNCHANGED, BRANCH, first.number, first.url)
    assert scene.fake.sequence() == [
        ("GET", f"{R}/pulls/{PR}"),
        PULLS_FROM_BRANCH,
        GET_BRANCH,
        ("GET", f"{R}/commits/{tip}"),
        ("GET", f"{R}/git/commits/{scene.head}"),
        *WRITE_TREE,
    ]
    assert scene.fake.repos[REPO].refs[BRANCH] == tip


def test_files_already_at_head_need_no_follow_up(scene: Scene) -> None:
    outcome = scene.regenerate({"spec/emac.checkout.yaml": SPEC})

    assert outcome == FollowupOutcome(FollowupStatus.UNCHANGED, BRANCH)
    assert BRANCH not in scene.fake.repos[REPO].refs
    assert scene.followups() == []


def test_branch_a_person_pushed_to_is_left_alone(scene: Scene) -> None:
    fake = scene.fake
    first = scene.regenerate({"generated/rules.yaml": RULES_V1})
    human_tip = fake.push(
        REPO, BRANCH, {"generated/rules.yaml": b"# hand-tuned\n"}, author="Codertocat"
    )
    fake.forget_calls()

    outcome = scene.regenerate({"generated/rules.yaml": RULES_V2})

    assert outcome == FollowupOutcome(
        FollowupStatus.LEFT_ALONE_HUMAN_PUSH, BRANCH, first.number, first.url
    )
    assert fake.sequence() == [
        ("GET", f"{R}/pulls/{PR}"),
        PULLS_FROM_BRANCH,
        GET_BRANCH,
        ("GET", f"{R}/commits/{human_tip}"),
    ]
    assert fake.repos[REPO].refs[BRANCH] == human_tip


@pytest.mark.parametrize(
    "branch_deleted",
    [
        pytest.param(False, id="closed PR with its branch kept is not reopened"),
        pytest.param(True, id="closed PR whose branch was deleted is not recreated"),
    ],
)
def test_follow_up_closed_unmerged_is_never_reopened(scene: Scene, branch_deleted: bool) -> None:
    fake = scene.fake
    first = scene.regenerate({"generated/rules.yaml": RULES_V1})
    fake.close_pull(REPO, first.number or 0, merged=False)
    if branch_deleted:
        del fake.repos[REPO].refs[BRANCH]
    fake.forget_calls()

    outcome = scene.regenerate({"generated/rules.yaml": RULES_V2})

    assert outcome == FollowupOutcome(
        FollowupStatus.CLOSED_BY_HUMAN, BRANCH, first.number, first.url
    )
    assert fake.sequence() == [("GET", f"{R}/pulls/{PR}"), PULLS_FROM_BRANCH]
    assert scene.followups() == [first.number]
    assert fake.repos[REPO].pulls[first.number or 0]["state"] == "closed"


def test_after_a_merged_follow_up_the_next_regeneration_opens_a_new_pr(scene: Scene) -> None:
    fake = scene.fake
    first = scene.regenerate({"generated/rules.yaml": RULES_V1})
    fake.close_pull(REPO, first.number or 0, merged=True)

    second = scene.regenerate({"generated/rules.yaml": RULES_V2})

    assert second.status is FollowupStatus.CREATED
    assert scene.followups() == [first.number, second.number]
    assert fake.sequence()[-2:] == [
        ("PATCH", f"{R}/git/refs/heads/{BRANCH}"),
        ("POST", f"{R}/pulls"),
    ]


def test_pr_from_a_fork_cannot_get_a_follow_up(scene: Scene) -> None:
    fake = scene.fake
    fake.open_pull(
        REPO, PR, head_ref="patch-1", head_sha=scene.head, head_repo="octocat/Hello-World"
    )

    outcome = scene.regenerate({"generated/rules.yaml": RULES_V1})

    assert outcome == FollowupOutcome(FollowupStatus.NOT_POSSIBLE_FORK, BRANCH)
    assert fake.sequence() == [("GET", f"{R}/pulls/{PR}")]


def test_regeneration_for_a_superseded_head_writes_nothing(scene: Scene) -> None:
    outcome = scene.regenerate({"generated/rules.yaml": RULES_V1}, head="1" * 40)

    assert outcome == FollowupOutcome(FollowupStatus.STALE, BRANCH)
    assert scene.fake.sequence() == [("GET", f"{R}/pulls/{PR}")]


def test_path_outside_the_repository_is_refused_before_any_call(scene: Scene) -> None:
    with pytest.raises(ValueError, match="not a repository file path"):
        scene.regenerate({"../etc/passwd": b"x"})
    assert scene.fake.calls == []
