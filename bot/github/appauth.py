"""GitHub App auth: the App's JWT, cached installation tokens, and who may run /emac commands."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import jwt
import requests

from bot.github.events import Job
from bot.github.settings import GITHUB_API_URL, Settings, SettingsError

# GitHub rejects a JWT whose iat is in the future or whose exp is over 10 minutes ahead;
# backdating iat absorbs clock drift between this host and GitHub.
JWT_BACKDATE = timedelta(seconds=60)
JWT_LIFETIME = timedelta(minutes=9)
# Refresh a token this long before it expires, so a long job never holds a dead token.
TOKEN_REFRESH_MARGIN = timedelta(minutes=5)
WRITE_ROLES = frozenset({"admin", "maintain", "write"})
HTTP_TIMEOUT_SECONDS = 10.0
REFUSAL_MARKER = "<!-- emac:command-refused -->"


class AppAuthError(RuntimeError):
    """GitHub refused an App authentication step; the message says which and why."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class InstallationToken:
    token: str
    expires_at: datetime


def _github_error(response: requests.Response) -> str:
    try:
        message = response.json().get("message", "")
    except ValueError:
        message = response.text[:200]
    return f"HTTP {response.status_code}: {message}"


class GitHubAppAuth:
    """Mints the App's JWT and caches one installation token per installation (thread-safe)."""

    def __init__(
        self,
        app_id: int,
        private_key_pem: bytes,
        *,
        api_url: str = GITHUB_API_URL,
        session: requests.Session | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.app_id = app_id
        self.api_url = api_url.rstrip("/")
        self.session = session or requests.Session()
        self._key = private_key_pem
        self._clock = clock
        self._tokens: dict[int, InstallationToken] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> GitHubAppAuth:
        """The App's auth from the settings; a key file that cannot sign is refused here, at
        start, rather than at the first job."""
        app_id, key_file = settings.require_app_identity()
        try:
            pem = key_file.read_bytes()
        except OSError as exc:
            raise SettingsError(
                f"EMAC_PRIVATE_KEY_FILE: cannot read {key_file}: {exc.strerror}"
            ) from None
        try:
            jwt.encode({"iss": str(app_id)}, pem, algorithm="RS256")
        except Exception as exc:  # any reason a key cannot sign (PyJWT's are many and varied)
            raise SettingsError(
                f"EMAC_PRIVATE_KEY_FILE: {key_file} is not an unencrypted RSA private key in "
                f"PEM form (the .pem file GitHub generates for the App): {exc}"
            ) from None
        return cls(app_id, pem, api_url=settings.api_url, **options)

    def app_jwt(self) -> str:
        """A JWT (RS256) that authenticates as the App itself for the next nine minutes."""
        now = self._clock()
        claims = {
            "iat": int((now - JWT_BACKDATE).timestamp()),
            "exp": int((now + JWT_LIFETIME).timestamp()),
            "iss": str(self.app_id),
        }
        return jwt.encode(claims, self._key, algorithm="RS256")

    def installation_token(self, installation_id: int) -> str:
        """A token for one installation, reused until five minutes before it expires."""
        with self._lock:
            cached = self._tokens.get(installation_id)
            if cached is not None and self._clock() < cached.expires_at - TOKEN_REFRESH_MARGIN:
                return cached.token
            fresh = self._request_token(installation_id)
            self._tokens[installation_id] = fresh
            return fresh.token

    def _request_token(self, installation_id: int) -> InstallationToken:
        response = self.session.post(
            f"{self.api_url}/app/installations/{installation_id}/access_tokens",
            headers={
                "Authorization": f"Bearer {self.app_jwt()}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        if response.status_code != 201:
            raise AppAuthError(
                f"installation {installation_id}: access token refused ({_github_error(response)})"
            )
        data = response.json()
        expires_at = datetime.fromisoformat(str(data["expires_at"]).replace("Z", "+00:00"))
        return InstallationToken(str(data["token"]), expires_at)

    def api_headers(self, installation_id: int) -> dict[str, str]:
        return {
            "Authorization": f"token {self.installation_token(installation_id)}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }


def collaborator_role(auth: GitHubAppAuth, installation_id: int, repo: str, user: str) -> str:
    """The user's role on the repo (admin, maintain, write, triage, read, or none)."""
    response = auth.session.get(
        f"{auth.api_url}/repos/{repo}/collaborators/{quote(user, safe='')}/permission",
        headers=auth.api_headers(installation_id),
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    if response.status_code == 404:
        return "none"
    if response.status_code != 200:
        raise AppAuthError(f"{repo}: permission of {user} unavailable ({_github_error(response)})")
    data = response.json()
    # role_name tells maintain from write; the older `permission` field folds them together.
    return str(data.get("role_name") or data.get("permission") or "none")


def refusal_comment(user: str, command: str) -> str:
    """The reply to a command from someone who may not run it (fixed text: no churn)."""
    return (
        f"{REFUSAL_MARKER}\n"
        f"Thanks @{user}! `/emac {command}` changes what this pull request is checked against, "
        "so it can only be run by people with write access to this repository. "
        "A maintainer can run it for you."
    )


def authorize_command(auth: GitHubAppAuth, job: Job) -> bool:
    """True when the job's sender may run its command; otherwise reply politely and say False."""
    if job.installation_id is None or job.pr_number is None or not job.sender:
        return False
    role = collaborator_role(auth, job.installation_id, job.repo, job.sender)
    if role in WRITE_ROLES:
        return True
    response = auth.session.post(
        f"{auth.api_url}/repos/{job.repo}/issues/{job.pr_number}/comments",
        headers=auth.api_headers(job.installation_id),
        json={"body": refusal_comment(job.sender, job.command or "help")},
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    if response.status_code != 201:
        raise AppAuthError(
            f"{job.repo}#{job.pr_number}: refusal not posted ({_github_error(response)})"
        )
    return False
