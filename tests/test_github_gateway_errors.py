"""One retry wrapper for all calls: rate limits and 5xx waited out, other 4xx raised with advice."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import github
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github.GithubRetry import GithubRetry

from bot.github.gateway import GitHubGateway, next_page_url
from bot.github.retry import FailureKind, GitHubCallError, GitHubRetryPolicy, classify_failure
from tests.fakegithub import REPLAY, FakeGitHub, fixture_exchange, parse_replay

REPO = "Codertocat/Hello-World"
PR = 2
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
R = f"/repos/{REPO}"
NOW = 1_700_000_000.0
SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
SECONDARY_DOCS = (
    "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
    "#about-secondary-rate-limits"
)


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def policy(self, **kwargs: Any) -> GitHubRetryPolicy:
        return GitHubRetryPolicy(
            sleep=self.sleeps.append, clock=lambda: NOW, rng=random.Random(7), **kwargs
        )


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.open_pull(REPO, PR, head_ref="changes", head_sha=HEAD)
        yield fake


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def gateway(fake: FakeGitHub, recorder: Recorder) -> GitHubGateway:
    return GitHubGateway(fake.client(), retry=recorder.policy())


def post_status(gateway: GitHubGateway) -> None:
    gateway.report_commit_status(REPO, HEAD, "success", "bounds hold", "emac/bounds")


STATUS_CALL = ("POST", f"{R}/statuses/{HEAD}")


@pytest.mark.parametrize(
    ("status", "headers", "message", "waited"),
    [
        pytest.param(
            403, {"Retry-After": "7"}, SECONDARY, 7.0, id="403 secondary limit waits Retry-After"
        ),
        pytest.param(
            429, {"Retry-After": "30"}, SECONDARY, 30.0, id="429 secondary limit waits Retry-After"
        ),
        pytest.param(
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 42)},
            "API rate limit exceeded for installation ID 30614431.",
            42.0,
            id="exhausted primary limit waits until x-ratelimit-reset",
        ),
        pytest.param(
            403, {}, SECONDARY, 60.0, id="secondary limit without headers waits one minute"
        ),
    ],
)
def test_rate_limited_call_is_retried_after_the_wait_github_asks_for(
    fake: FakeGitHub,
    gateway: GitHubGateway,
    recorder: Recorder,
    status: int,
    headers: dict[str, str],
    message: str,
    waited: float,
) -> None:
    body = {"message": message, "documentation_url": SECONDARY_DOCS}
    fake.fail("POST", STATUS_CALL[1], status, body=body, headers=headers)

    post_status(gateway)

    assert fake.sequence() == [STATUS_CALL, STATUS_CALL]
    assert recorder.sleeps == [waited]
    assert len(fake.repos[REPO].statuses) == 1


def test_server_errors_are_retried_with_jittered_exponential_backoff(
    fake: FakeGitHub, gateway: GitHubGateway, recorder: Recorder
) -> None:
    fake.fail("POST", STATUS_CALL[1], 502, times=2)

    post_status(gateway)

    assert fake.sequence() == [STATUS_CALL] * 3
    replica = random.Random(7)
    assert recorder.sleeps == [0.5 + replica.uniform(0, 0.5), 1.0 + replica.uniform(0, 1.0)]
    assert 0.5 <= recorder.sleeps[0] <= 1.0 and 1.0 <= recorder.sleeps[1] <= 2.0


def test_server_error_that_persists_is_raised_after_the_budget(
    fake: FakeGitHub, gateway: GitHubGateway, recorder: Recorder
) -> None:
    fake.fail("POST", STATUS_CALL[1], 503, body={"message": "Service Unavailable"}, times=99)

    with pytest.raises(GitHubCallError) as raised:
        post_status(gateway)

    assert fake.sequence() == [STATUS_CALL] * 5
    assert len(recorder.sleeps) == 4
    error = raised.value
    assert (error.status, error.attempts) == (503, 5)
    assert "create commit status 'emac/bounds'" in str(error)
    assert "after 5 attempts" in str(error) and "retry later" in str(error)


def test_rate_limit_longer_than_the_wait_budget_is_raised_at_once(
    fake: FakeGitHub, gateway: GitHubGateway, recorder: Recorder
) -> None:
    fake.fail(
        "POST", STATUS_CALL[1], 403, body={"message": SECONDARY}, headers={"Retry-After": "3600"}
    )

    with pytest.raises(GitHubCallError) as raised:
        post_status(gateway)

    assert fake.sequence() == [STATUS_CALL]
    assert recorder.sleeps == []
    assert raised.value.rate_limited and raised.value.retry_after == 3600.0
    assert "retry in 3600 s" in str(raised.value)


def test_missing_pull_request_is_raised_at_once_naming_the_operation(
    fake: FakeGitHub, gateway: GitHubGateway, recorder: Recorder
) -> None:
    with pytest.raises(GitHubCallError) as raised:
        gateway.upsert_sticky_comment(REPO, 99, "bounds: PASS", head_sha=HEAD)

    assert fake.sequence() == [("GET", f"{R}/pulls/99")]
    assert recorder.sleeps == []
    error = raised.value
    assert (error.operation, error.status) == (f"get pull request {REPO}#99", 404)
    assert str(error) == (
        f"GitHub call 'get pull request {REPO}#99' failed (HTTP 404): Not Found. "
        "The repository, pull request, ref or object does not exist or the token cannot see it: "
        "check the name and that the App is installed on the repository. "
        "See https://docs.github.com/rest/pulls/pulls#get-a-pull-request"
    )


def test_recorded_validation_failure_is_raised_with_its_field_errors(
    fake: FakeGitHub, gateway: GitHubGateway, recorder: Recorder
) -> None:
    recorded = fixture_exchange("errors")  # GitHub's real 422 for an invalid label colour
    comments = f"{R}/issues/{PR}/comments"
    fake.fail("POST", comments, recorded["status"], body=recorded["response"])

    with pytest.raises(GitHubCallError) as raised:
        gateway.upsert_sticky_comment(REPO, PR, "bounds: PASS", head_sha=HEAD)

    assert fake.sequence() == [
        ("GET", f"{R}/pulls/{PR}"),
        ("GET", f"{comments}?per_page=100"),
        ("POST", comments),
    ]
    assert recorder.sleeps == []
    error = raised.value
    assert error.operation == f"create sticky comment on {REPO}#{PR}"
    assert error.status == 422
    assert error.message == "Validation Failed (Label.color: invalid)"
    assert error.documentation_url == "https://docs.github.com/rest/reference/issues#create-a-label"
    assert "fix the request payload" in str(error)


def test_forbidden_without_a_rate_limit_signal_is_a_permission_error(
    fake: FakeGitHub, gateway: GitHubGateway, recorder: Recorder
) -> None:
    body = {
        "message": "Resource not accessible by integration",
        "documentation_url": "https://docs.github.com/rest/checks/runs#create-a-check-run",
    }
    fake.fail("POST", f"{R}/check-runs", 403, body=body)

    with pytest.raises(GitHubCallError) as raised:
        gateway.start_check_run(REPO, HEAD, "EmaC journey bounds", external_id="d1")

    assert fake.sequence() == [("POST", f"{R}/check-runs")]
    assert recorder.sleeps == []
    assert raised.value.status == 403 and not raised.value.rate_limited
    assert "lacks a permission" in str(raised.value)


def test_pygithub_own_retry_is_switched_off_inside_the_gateway(
    fake: FakeGitHub, recorder: Recorder
) -> None:
    # A client built with PyGithub's default retry would retry 5xx itself, out of our budget.
    gateway = GitHubGateway(fake.client(retry=GithubRetry()), retry=recorder.policy())
    fake.fail("POST", STATUS_CALL[1], 502)

    post_status(gateway)

    assert fake.sequence() == [STATUS_CALL, STATUS_CALL]
    assert len(recorder.sleeps) == 1


def test_app_installation_token_from_the_recording_authenticates_the_calls(
    fake: FakeGitHub, recorder: Recorder
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    auth = github.Auth.AppAuth(12345, pem).get_installation_auth(30614431)
    recorded = parse_replay(REPLAY / "GithubIntegration.testGetAccessToken.txt")[0].reply()
    gateway = GitHubGateway(fake.client(auth=auth), retry=recorder.policy())

    post_status(gateway)

    assert fake.sequence() == [("POST", "/app/installations/30614431/access_tokens"), STATUS_CALL]
    assert fake.calls[0].headers["authorization"].startswith("Bearer ")
    assert fake.calls[1].headers["authorization"] == f"token {recorded['token']}"


def test_enterprise_server_base_url_prefixes_every_call(recorder: Recorder) -> None:
    with FakeGitHub("https://github.example.com/api/v3") as fake:
        fake.open_pull(REPO, PR, head_ref="changes", head_sha=HEAD)
        gateway = GitHubGateway(fake.client(), retry=recorder.policy())

        gateway.upsert_sticky_comment(REPO, PR, "bounds: PASS", head_sha=HEAD)

        assert fake.sequence() == [
            ("GET", f"/api/v3{R}/pulls/{PR}"),
            ("GET", f"/api/v3{R}/issues/{PR}/comments?per_page=100"),
            ("POST", f"/api/v3{R}/issues/{PR}/comments"),
        ]


@pytest.mark.parametrize(
    ("status", "headers", "message", "kind"),
    [
        pytest.param(None, None, "ConnectionError", FailureKind.TRANSIENT, id="no response"),
        pytest.param(500, {}, "", FailureKind.TRANSIENT, id="500"),
        pytest.param(429, {}, "", FailureKind.RATE_LIMITED, id="429 without headers"),
        pytest.param(403, {"Retry-After": "1"}, "", FailureKind.RATE_LIMITED, id="403 Retry-After"),
        pytest.param(
            403, {"X-RateLimit-Remaining": "0"}, "", FailureKind.RATE_LIMITED, id="403 quota spent"
        ),
        pytest.param(
            403,
            {"X-RateLimit-Remaining": "4"},
            "Forbidden",
            FailureKind.FATAL,
            id="403 with quota left and no limit message",
        ),
        pytest.param(404, {}, "Not Found", FailureKind.FATAL, id="404"),
        pytest.param(422, {}, "Validation Failed", FailureKind.FATAL, id="422"),
        pytest.param(409, {}, "Conflict", FailureKind.FATAL, id="409"),
    ],
)
def test_failures_are_sorted_by_githubs_documented_signals(
    status: int | None, headers: dict[str, str] | None, message: str, kind: FailureKind
) -> None:
    assert classify_failure(status, headers, message) is kind


def test_next_page_is_read_from_a_link_header() -> None:
    link = (
        '<https://api.github.com/repositories/1296269/issues/2/comments?page=2>; rel="next", '
        '<https://api.github.com/repositories/1296269/issues/2/comments?page=5>; rel="last"'
    )
    assert next_page_url(link) == (
        "https://api.github.com/repositories/1296269/issues/2/comments?page=2"
    )
    assert next_page_url('<https://api.github.com/x?page=1>; rel="prev"') is None
    assert next_page_url(None) is None
