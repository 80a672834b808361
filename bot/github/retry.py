"""Retry policy for GitHub calls: what is retried, how long to wait, and the one error raised."""

from __future__ import annotations

import email.utils
import enum
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from github import GithubException

T = TypeVar("T")

logger = logging.getLogger(__name__)

RATE_LIMIT_DOCS = (
    "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
    "#exceeding-the-rate-limit"
)


class FailureKind(enum.Enum):
    """How a failed call is treated: waited out and retried, or raised at once."""

    TRANSIENT = "transient"  # 5xx or no response: retry with exponential backoff
    RATE_LIMITED = "rate_limited"  # 403/429 carrying a rate-limit signal: wait as GitHub asks
    FATAL = "fatal"  # any other 4xx: retrying cannot help


class GitHubCallError(Exception):
    """A GitHub call failed for good: which call, the HTTP status, GitHub's words, what to do."""

    def __init__(
        self,
        operation: str,
        status: int | None,
        message: str,
        documentation_url: str | None,
        *,
        attempts: int = 1,
        retry_after: float | None = None,
        rate_limited: bool = False,
    ) -> None:
        self.operation = operation
        self.status = status
        self.message = message
        self.documentation_url = documentation_url
        self.attempts = attempts
        self.retry_after = retry_after
        self.rate_limited = rate_limited
        super().__init__(self._describe())

    def _describe(self) -> str:
        got = f"HTTP {self.status}" if self.status is not None else "no response"
        text = f"GitHub call '{self.operation}' failed ({got}): {self.message.rstrip('.')}. "
        text += f"{self.advice()}."
        if self.documentation_url:
            text += f" See {self.documentation_url}"
        return text

    def advice(self) -> str:
        """What the operator should do about this failure."""
        tries = f"after {self.attempts} attempt{'s' if self.attempts != 1 else ''}"
        if self.rate_limited:
            when = f" in {self.retry_after:.0f} s" if self.retry_after is not None else " later"
            return (
                f"Still rate limited {tries}: retry{when}, and lower the number of concurrent "
                "calls to this installation"
            )
        if self.status is None:
            return f"GitHub could not be reached {tries}: check network access to the API URL"
        if self.status >= 500:
            return f"GitHub kept failing {tries}; the fault is on GitHub's side: retry later"
        return _ADVICE_BY_STATUS.get(
            self.status, "GitHub refused the request: check the call's inputs against the docs"
        )


_ADVICE_BY_STATUS = {
    401: "The credentials were rejected: check the token, or the App id, key and installation",
    403: (
        "The token lacks a permission this call needs: grant it to the GitHub App "
        "(checks, contents, issues, pull requests, statuses: write) or use commit statuses"
    ),
    404: (
        "The repository, pull request, ref or object does not exist or the token cannot see it: "
        "check the name and that the App is installed on the repository"
    ),
    409: "The request conflicts with the repository's state (empty repository, moved ref): retry",
    422: "GitHub rejected the request fields listed above: fix the request payload",
}


def _github_message(data: Any) -> tuple[str, str | None]:
    """GitHub's error text (with field-level errors) and documentation link from a reply body."""
    if not isinstance(data, Mapping):
        return (str(data) if data else "no message"), None
    message = str(data.get("message") or data.get("data") or "no message")
    details = [_describe_error_item(item) for item in data.get("errors") or ()]
    if details:
        message += " (" + "; ".join(details) + ")"
    doc = data.get("documentation_url")
    return message, (str(doc) if doc else None)


def _describe_error_item(item: Any) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    if item.get("message"):
        return str(item["message"])
    where = ".".join(str(item[key]) for key in ("resource", "field") if item.get(key))
    return f"{where}: {item.get('code', 'invalid')}" if where else str(item.get("code", item))


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def classify_failure(
    status: int | None, headers: Mapping[str, str] | None, message: str
) -> FailureKind:
    """Sort a failure by GitHub's documented signals: 5xx, rate limits, or a real refusal."""
    if status is None or status >= 500:
        return FailureKind.TRANSIENT
    if status == 429:
        return FailureKind.RATE_LIMITED
    if status == 403:
        # A 403 without any rate-limit signal is a missing permission: retrying cannot help.
        if _header(headers, "retry-after") is not None:
            return FailureKind.RATE_LIMITED
        if _header(headers, "x-ratelimit-remaining") == "0":
            return FailureKind.RATE_LIMITED
        lowered = message.lower()
        if "rate limit" in lowered or "abuse" in lowered:
            return FailureKind.RATE_LIMITED
    return FailureKind.FATAL


@dataclass(frozen=True)
class GitHubRetryPolicy:
    """Budget and timing of retries; sleep, clock and jitter source are injectable for tests."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_backoff: float = 60.0
    # GitHub: a secondary limit without headers means waiting at least one minute.
    secondary_min_delay: float = 60.0
    # Longest single wait honoured; a longer Retry-After/reset raises instead of blocking a worker.
    max_wait: float = 900.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")

    def backoff(self, attempt: int) -> float:
        """Exponential delay before retry number `attempt` (1-based), with equal jitter."""
        ceiling = min(self.max_backoff, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling / 2.0 + self.rng.uniform(0.0, ceiling / 2.0)

    def rate_limit_wait(self, headers: Mapping[str, str] | None, attempt: int) -> float:
        """Seconds GitHub asks us to wait: Retry-After, else the reset time, else ≥ 1 minute."""
        retry_after = _header(headers, "retry-after")
        if retry_after is not None:
            return _parse_retry_after(retry_after, self.clock())
        reset = _header(headers, "x-ratelimit-reset")
        if _header(headers, "x-ratelimit-remaining") == "0" and reset is not None:
            return max(0.0, float(reset) - self.clock())
        return max(self.secondary_min_delay * 2.0 ** (attempt - 1), self.backoff(attempt))


def _parse_retry_after(value: str, now: float) -> float:
    try:
        return max(0.0, float(value))
    except ValueError:
        # RFC 9110 also allows an HTTP date.
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - now)


def call_with_retry(operation: str, request: Callable[[], T], policy: GitHubRetryPolicy) -> T:
    """Run `request`; retry transient failures and rate limits; raise GitHubCallError when done."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return request()
        except GithubException as exc:
            status: int | None = exc.status
            headers: Mapping[str, str] | None = exc.headers
            message, doc = _github_message(exc.data)
        except OSError as exc:  # requests' ConnectionError and Timeout derive from OSError
            status, headers, message, doc = None, None, f"{type(exc).__name__}: {exc}", None
        kind = classify_failure(status, headers, message)
        if kind is FailureKind.FATAL:
            raise GitHubCallError(operation, status, message, doc, attempts=attempt)
        rate_limited = kind is FailureKind.RATE_LIMITED
        wait = policy.rate_limit_wait(headers, attempt) if rate_limited else policy.backoff(attempt)
        if attempt >= policy.max_attempts or wait > policy.max_wait:
            raise GitHubCallError(
                operation,
                status,
                message,
                doc or (RATE_LIMIT_DOCS if rate_limited else None),
                attempts=attempt,
                retry_after=wait if rate_limited else None,
                rate_limited=rate_limited,
            )
        logger.warning(
            "GitHub call %r failed (%s, %s); retry %d of %d in %.1f s",
            operation,
            status if status is not None else "no response",
            message,
            attempt,
            policy.max_attempts - 1,
            wait,
        )
        policy.sleep(wait)
