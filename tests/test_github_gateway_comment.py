"""Sticky PR comment: create, edit in place, skip when unchanged, never write for an old head."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.github.gateway import CommentOutcome, GitHubGateway
from bot.github.payloads import (
    STICKY_MARKER,
    max_sticky_body_chars,
    sticky_comment_body,
    sticky_committed_at,
    sticky_head,
)
from bot.github.retry import GitHubRetryPolicy
from tests.fakegithub import BOT_LOGIN, FakeGitHub

REPO = "Codertocat/Hello-World"  # the repository of the recorded pull_request webhooks
PR = 2
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"  # head of the recorded PR #2
OLD_HEAD = "34c5c7793cb3b279e22454cb6750c80560547b3a"
PULL = ("GET", f"/repos/{REPO}/pulls/{PR}")
COMMENTS = ("GET", f"/repos/{REPO}/issues/{PR}/comments?per_page=100")
POST_COMMENT = ("POST", f"/repos/{REPO}/issues/{PR}/comments")


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.open_pull(REPO, PR, head_ref="changes", head_sha=HEAD)
        yield fake


@pytest.fixture
def gateway(fake: FakeGitHub) -> GitHubGateway:
    policy = GitHubRetryPolicy(sleep=lambda seconds: None, rng=random.Random(7))
    return GitHubGateway(fake.client(), retry=policy)


def sticky(head: str, text: str) -> str:
    return f"{STICKY_MARKER}\n<!-- emac-bot:head={head} -->\n{text}"


def test_first_comment_is_created_with_marker_and_head(
    fake: FakeGitHub, gateway: GitHubGateway
) -> None:
    outcome = gateway.upsert_sticky_comment(REPO, PR, "bounds: PASS", head_sha=HEAD)

    assert outcome is CommentOutcome.CREATED
    assert fake.sequence() == [PULL, COMMENTS, POST_COMMENT]
    assert fake.calls[-1].body == {"body": sticky(HEAD, "bounds: PASS")}
    [stored] = fake.repos[REPO].comments[PR]
    assert stored["user"]["login"] == BOT_LOGIN


def test_comment_for_an_older_head_is_edited_in_place(
    fake: FakeGitHub, gateway: GitHubGateway
) -> None:
    fake.add_comment(REPO, PR, "looks good", login="Codertocat")
    old = fake.add_comment(REPO, PR, sticky(OLD_HEAD, "bounds: FAIL"), login=BOT_LOGIN)

    outcome = gateway.upsert_sticky_comment(REPO, PR, "bounds: PASS", head_sha=HEAD)

    assert outcome is CommentOutcome.UPDATED
    assert fake.sequence() == [
        PULL,
        COMMENTS,
        ("PATCH", f"/repos/{REPO}/issues/comments/{old['id']}"),
    ]
    assert [c["body"] for c in fake.repos[REPO].comments[PR]] == [
        "looks good",
        sticky(HEAD, "bounds: PASS"),
    ]


def test_identical_comment_is_not_posted_again(fake: FakeGitHub, gateway: GitHubGateway) -> None:
    gateway.upsert_sticky_comment(REPO, PR, "bounds: PASS", head_sha=HEAD)
    fake.forget_calls()

    outcome = gateway.upsert_sticky_comment(REPO, PR, "bounds: PASS", head_sha=HEAD)

    assert outcome is CommentOutcome.UNCHANGED
    assert fake.sequence() == [PULL, COMMENTS]


def test_comment_for_a_head_that_is_no_longer_the_pr_head_is_not_posted(
    fake: FakeGitHub, gateway: GitHubGateway
) -> None:
    current = fake.add_comment(REPO, PR, sticky(HEAD, "bounds: PASS"), login=BOT_LOGIN)

    outcome = gateway.upsert_sticky_comment(REPO, PR, "bounds: FAIL", head_sha=OLD_HEAD)

    assert outcome is CommentOutcome.STALE
    assert fake.sequence() == [PULL]
    assert fake.repos[REPO].comments[PR] == [current]


def test_sticky_comment_on_the_second_page_is_found_and_edited(
    fake: FakeGitHub, gateway: GitHubGateway
) -> None:
    for n in range(100):
        fake.add_comment(REPO, PR, f"comment {n}", login="Codertocat")
    old = fake.add_comment(REPO, PR, sticky(OLD_HEAD, "bounds: FAIL"), login=BOT_LOGIN)
    repo_id = fake.repos[REPO].id

    outcome = gateway.upsert_sticky_comment(REPO, PR, "bounds: PASS", head_sha=HEAD)

    assert outcome is CommentOutcome.UPDATED
    assert fake.sequence() == [
        PULL,
        COMMENTS,
        ("GET", f"/repositories/{repo_id}/issues/{PR}/comments?page=2&per_page=100"),
        ("PATCH", f"/repos/{REPO}/issues/comments/{old['id']}"),
    ]
    assert len(fake.repos[REPO].comments[PR]) == 101


def test_comment_recorded_for_a_later_commit_is_not_overwritten(
    fake: FakeGitHub, gateway: GitHubGateway
) -> None:
    # A worker for a newer push wrote its comment between our PR read and our edit.
    later = f"{STICKY_MARKER}\n<!-- emac-bot:head={OLD_HEAD} -->\n"
    later += "<!-- emac-bot:committed-at=2024-05-02T10:00:00Z -->\nbounds: FAIL"
    newer = fake.add_comment(REPO, PR, later, login=BOT_LOGIN)

    outcome = gateway.upsert_sticky_comment(
        REPO,
        PR,
        "bounds: PASS",
        head_sha=HEAD,
        head_committed_at=datetime(2024, 5, 2, 9, 0, tzinfo=UTC),
    )

    assert outcome is CommentOutcome.STALE
    assert fake.sequence() == [PULL, COMMENTS]
    assert fake.repos[REPO].comments[PR] == [newer]


def test_marker_quoted_by_a_person_is_not_taken_for_the_bot_comment(
    fake: FakeGitHub, gateway: GitHubGateway
) -> None:
    fake.add_comment(REPO, PR, f"> {STICKY_MARKER}\nwhy FAIL?", login="Codertocat")

    outcome = gateway.upsert_sticky_comment(
        REPO, PR, "bounds: PASS", head_sha=HEAD, author_login=BOT_LOGIN
    )

    assert outcome is CommentOutcome.CREATED
    assert fake.sequence() == [PULL, COMMENTS, POST_COMMENT]


def test_body_over_the_comment_limit_is_refused_before_any_call(
    fake: FakeGitHub, gateway: GitHubGateway
) -> None:
    with pytest.raises(ValueError, match=r"65536.*[Tt]runcate"):
        gateway.upsert_sticky_comment(REPO, PR, "x" * 65_536, head_sha=HEAD)
    assert fake.calls == []


@pytest.mark.parametrize(
    ("extra", "accepted"),
    [
        pytest.param(0, True, id="a body of exactly the advertised budget is posted"),
        pytest.param(1, False, id="one character over the advertised budget is refused"),
    ],
)
def test_visible_body_budget_leaves_room_for_the_hidden_lines(
    fake: FakeGitHub, gateway: GitHubGateway, extra: int, accepted: bool
) -> None:
    sha256_head = "ab" * 32  # SHA-256 repositories have the longest head line
    fake.open_pull(REPO, 3, head_ref="sha256", head_sha=sha256_head)
    body = "x" * (max_sticky_body_chars() + extra)
    committed = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)

    def post() -> CommentOutcome:
        return gateway.upsert_sticky_comment(
            REPO, 3, body, head_sha=sha256_head, head_committed_at=committed
        )

    if accepted:
        assert post() is CommentOutcome.CREATED
        assert len(fake.repos[REPO].comments[3][0]["body"]) == 65_536
    else:
        with pytest.raises(ValueError, match="65536"):
            post()


def test_marker_that_would_show_in_the_comment_is_refused(gateway: GitHubGateway) -> None:
    with pytest.raises(ValueError, match="HTML comment"):
        gateway.upsert_sticky_comment(REPO, PR, "text", marker="emac-bot", head_sha=HEAD)


def test_hidden_lines_read_back_what_was_written() -> None:
    committed = datetime(2024, 5, 2, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    text = sticky_comment_body(
        "bounds", marker=STICKY_MARKER, head_sha=HEAD, head_committed_at=committed
    )

    assert sticky_head(text) == HEAD
    assert sticky_committed_at(text) == datetime(2024, 5, 2, 9, 30, tzinfo=UTC)
    assert text.endswith("\nbounds")


def test_commit_time_without_a_timezone_is_refused(gateway: GitHubGateway) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        gateway.upsert_sticky_comment(
            REPO, PR, "bounds", head_sha=HEAD, head_committed_at=datetime(2024, 5, 2, 9, 0)
        )
