"""GitHub App auth against GitHub's recorded replies: the JWT, the installation token cache,
GHES base URLs, and the write-access check behind /emac commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
import responses

from bot.github.appauth import (
    REFUSAL_MARKER,
    AppAuthError,
    GitHubAppAuth,
    authorize_command,
    refusal_comment,
)
from bot.github.settings import Settings
from tests.test_queue_support import command
from tests.test_webhook_support import RecordedExchange, recorded_exchanges, throwaway_rsa_key

APP_ID = 242426
REPLAY = "GithubIntegration.testGetAccessToken.txt"
# The recorded token expires at 2024-11-25T01:00:02Z; the clock starts an hour before.
EXPIRES = datetime(2024, 11, 25, 1, 0, 2, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def key_pair() -> tuple[bytes, bytes]:
    return throwaway_rsa_key()


@pytest.fixture
def clock() -> Clock:
    return Clock(EXPIRES - timedelta(hours=1))


@pytest.fixture
def auth(key_pair: tuple[bytes, bytes], clock: Clock) -> GitHubAppAuth:
    return GitHubAppAuth(APP_ID, key_pair[0], clock=clock)


def _serve(rsps: responses.RequestsMock, exchange: RecordedExchange, base: str) -> None:
    rsps.add(
        exchange.method,
        base + exchange.path,
        body=exchange.body,
        status=exchange.status,
        content_type="application/json",
    )


def test_the_app_jwt_is_rs256_backdated_and_short_lived(
    auth: GitHubAppAuth, key_pair: tuple[bytes, bytes], clock: Clock
) -> None:
    token = auth.app_jwt()
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(token, key_pair[1], algorithms=["RS256"], options={"verify_exp": False})
    now = int(clock.now.timestamp())
    assert claims == {"iss": str(APP_ID), "iat": now - 60, "exp": now + 540}
    assert claims["exp"] - now <= 600, "GitHub refuses a JWT that lives over ten minutes"


def test_a_jwt_signed_by_another_key_does_not_verify(auth: GitHubAppAuth) -> None:
    _, other_public = throwaway_rsa_key()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            auth.app_jwt(), other_public, algorithms=["RS256"], options={"verify_exp": False}
        )


@responses.activate
def test_installation_tokens_are_cached_until_five_minutes_before_expiry(
    auth: GitHubAppAuth, key_pair: tuple[bytes, bytes], clock: Clock
) -> None:
    first, second, _ = recorded_exchanges(REPLAY)
    _serve(responses.mock, first, "https://api.github.com")
    _serve(responses.mock, second, "https://api.github.com")

    assert auth.installation_token(30614431) == "ghs_1llwuELtXN5HDOB99XhpcTXdJxbOuF0ZlSmj"
    assert auth.installation_token(30614487) == "ghs_V0xygF8yACXSDz5FM65QWV1BT2vtxw0cbgPw"
    clock.now = EXPIRES - timedelta(minutes=5, seconds=1)
    assert auth.installation_token(30614431) == "ghs_1llwuELtXN5HDOB99XhpcTXdJxbOuF0ZlSmj"
    assert len(responses.calls) == 2, "cached tokens are not fetched again"

    clock.now = EXPIRES - timedelta(minutes=5)
    auth.installation_token(30614431)
    assert len(responses.calls) == 3, "a token within five minutes of expiry is replaced"

    sent = responses.calls[0].request
    assert sent.method == "POST"
    assert sent.headers["Accept"] == "application/vnd.github+json"
    bearer = sent.headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(bearer, key_pair[1], algorithms=["RS256"], options={"verify_exp": False})
    assert claims["iss"] == str(APP_ID)


@responses.activate
def test_github_enterprise_server_uses_its_own_api_url(
    key_pair: tuple[bytes, bytes], clock: Clock
) -> None:
    first = recorded_exchanges(REPLAY)[0]
    ghes = "https://github.example.com/api/v3"
    _serve(responses.mock, first, ghes)
    auth = GitHubAppAuth(APP_ID, key_pair[0], api_url=ghes + "/", clock=clock)
    assert auth.installation_token(30614431).startswith("ghs_")
    assert responses.calls[0].request.url == f"{ghes}/app/installations/30614431/access_tokens"


@responses.activate
def test_a_refused_token_says_which_installation_and_why(auth: GitHubAppAuth) -> None:
    responses.add(
        "POST",
        "https://api.github.com/app/installations/5/access_tokens",
        json={"message": "A JSON web token could not be decoded"},
        status=401,
    )
    with pytest.raises(AppAuthError) as caught:
        auth.installation_token(5)
    assert str(caught.value) == (
        "installation 5: access token refused (HTTP 401: A JSON web token could not be decoded)"
    )


def test_settings_name_the_key_file(tmp_path: Path, key_pair: tuple[bytes, bytes]) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_bytes(key_pair[0])
    auth = GitHubAppAuth.from_settings(
        Settings(app_id=APP_ID, private_key_file=key_file, api_url="https://ghe.test/api/v3")
    )
    assert (auth.app_id, auth.api_url) == (APP_ID, "https://ghe.test/api/v3")
    jwt.decode(auth.app_jwt(), key_pair[1], algorithms=["RS256"])


def fake_github_for_commands(role: str | None) -> None:
    """Token exchange from the recording; the permission call answers `role` (None: 404)."""
    exchange = recorded_exchanges(REPLAY)[0]
    responses.add(
        "POST",
        "https://api.github.com/app/installations/7/access_tokens",
        body=exchange.body,
        status=201,
        content_type="application/json",
    )
    url = "https://api.github.com/repos/octo-org/shop/collaborators/octocat/permission"
    if role is None:
        responses.add("GET", url, json={"message": "Not Found"}, status=404)
    else:
        legacy = {"maintain": "write", "triage": "read"}.get(role, role)
        responses.add("GET", url, json={"permission": legacy, "role_name": role}, status=200)
    responses.add(
        "POST", "https://api.github.com/repos/octo-org/shop/issues/3/comments", json={}, status=201
    )


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        pytest.param("admin", True, id="an admin may run commands"),
        pytest.param("maintain", True, id="a maintainer may run commands"),
        pytest.param("write", True, id="a writer may run commands"),
        pytest.param("triage", False, id="triage is not write access"),
        pytest.param("read", False, id="a reader is refused politely"),
        pytest.param(None, False, id="a non-collaborator is refused politely"),
    ],
)
@responses.activate
def test_only_users_with_write_access_may_run_commands(
    auth: GitHubAppAuth, role: str | None, allowed: bool
) -> None:
    fake_github_for_commands(role)
    assert authorize_command(auth, command(3, "d-1", "accept")) is allowed
    calls = [(c.request.method, c.request.url) for c in responses.calls]
    expected = [
        ("POST", "https://api.github.com/app/installations/7/access_tokens"),
        ("GET", "https://api.github.com/repos/octo-org/shop/collaborators/octocat/permission"),
    ]
    if not allowed:
        expected.append(("POST", "https://api.github.com/repos/octo-org/shop/issues/3/comments"))
    assert calls == expected
    if not allowed:
        posted = json.loads(responses.calls[2].request.body or b"{}")
        assert posted == {"body": refusal_comment("octocat", "accept")}
        assert posted["body"].startswith(REFUSAL_MARKER)
        assert "@octocat" in posted["body"] and "write access" in posted["body"]
