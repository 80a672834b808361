"""The GitHub App's settings: one immutable object built once from the environment at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

GITHUB_API_URL = "https://api.github.com"
# GitHub caps webhook payloads at 25 MB; anything larger is not a real delivery.
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024
DEFAULT_QUEUE_PATH = Path("emac-queue.sqlite3")

# Sized by `benchmarks/webhook_load.py` on 2 cores: one process per core keeps every core busy
# (a process runs Python on one core at a time), and a few threads per process cover the fsync
# of the queue's commit; more threads only contend for the interpreter lock and widen the tail.
DEFAULT_THREADS = 4


def default_workers() -> int:
    """One gunicorn worker process per core, at least two (one may be restarting)."""
    return max(2, os.cpu_count() or 1)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and what it expects."""


@dataclass(frozen=True)
class Settings:
    """Everything the webhook service, the workers and the App client need to know.

    `webhook_secret` and the App identity are optional here because not every process needs
    them (a worker does not verify deliveries); the component that needs one checks it.
    """

    webhook_secret: bytes | None = None
    app_id: int | None = None
    private_key_file: Path | None = None
    api_url: str = GITHUB_API_URL
    queue_path: Path = DEFAULT_QUEUE_PATH
    redis_url: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    review_drafts: bool = False
    max_attempts: int = 5
    retry_base_seconds: float = 5.0
    lease_seconds: int = 300

    def require_webhook_secret(self) -> bytes:
        if not self.webhook_secret:
            raise SettingsError(
                "EMAC_WEBHOOK_SECRET (or EMAC_WEBHOOK_SECRET_FILE) must be set to the secret "
                "configured for the GitHub App's webhook"
            )
        return self.webhook_secret

    def require_app_identity(self) -> tuple[int, Path]:
        if self.app_id is None or self.private_key_file is None:
            raise SettingsError(
                "EMAC_APP_ID and EMAC_PRIVATE_KEY_FILE must be set to the GitHub App's id and "
                "the path of its PEM private key"
            )
        return self.app_id, self.private_key_file


def _int(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, found {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, found {value}")
    return value


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, found {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative, found {value}")
    return value


def _bool(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be true or false, found {raw!r}")


def _secret(environ: Mapping[str, str]) -> bytes | None:
    path = environ.get("EMAC_WEBHOOK_SECRET_FILE", "").strip()
    if path:
        try:
            return Path(path).read_bytes().strip()
        except OSError as exc:
            raise SettingsError(f"EMAC_WEBHOOK_SECRET_FILE: cannot read {path}: {exc}") from None
    value = environ.get("EMAC_WEBHOOK_SECRET", "")
    return value.encode() if value else None


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build the settings from an environment mapping (pass `os.environ` once, at start)."""
    key_file = environ.get("EMAC_PRIVATE_KEY_FILE", "").strip()
    app_id_raw = environ.get("EMAC_APP_ID", "").strip()
    return Settings(
        webhook_secret=_secret(environ),
        app_id=_int(environ, "EMAC_APP_ID", 0, 1) if app_id_raw else None,
        private_key_file=Path(key_file) if key_file else None,
        api_url=(environ.get("EMAC_GITHUB_API_URL", "").strip() or GITHUB_API_URL).rstrip("/"),
        queue_path=Path(environ.get("EMAC_QUEUE_PATH", "").strip() or DEFAULT_QUEUE_PATH),
        redis_url=environ.get("EMAC_REDIS_URL", "").strip() or None,
        max_body_bytes=_int(environ, "EMAC_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1),
        review_drafts=_bool(environ, "EMAC_REVIEW_DRAFTS"),
        max_attempts=_int(environ, "EMAC_MAX_ATTEMPTS", 5, 1),
        retry_base_seconds=_float(environ, "EMAC_RETRY_BASE_SECONDS", 5.0),
        lease_seconds=_int(environ, "EMAC_LEASE_SECONDS", 300, 1),
    )
