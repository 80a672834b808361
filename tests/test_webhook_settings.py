"""Settings are read once from an environment mapping; bad values name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.github.queue import open_queue
from bot.github.queue_sqlite import SqliteJobQueue
from bot.github.settings import DEFAULT_MAX_BODY_BYTES, Settings, SettingsError, load_settings
from bot.github.signature import sign, signature_is_valid
from bot.github.webhook import create_app


def test_defaults_match_githubs_limits_and_the_embedded_queue() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.max_body_bytes == DEFAULT_MAX_BODY_BYTES == 25 * 1024 * 1024
    assert (settings.api_url, settings.redis_url, settings.review_drafts) == (
        "https://api.github.com",
        None,
        False,
    )


def test_every_variable_is_read(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cret\n")
    settings = load_settings(
        {
            "EMAC_WEBHOOK_SECRET_FILE": str(secret_file),
            "EMAC_APP_ID": "42",
            "EMAC_PRIVATE_KEY_FILE": "/keys/app.pem",
            "EMAC_GITHUB_API_URL": "https://ghe.example.com/api/v3/",
            "EMAC_QUEUE_PATH": str(tmp_path / "q.db"),
            "EMAC_REDIS_URL": "redis://10.0.0.5:6379/2",
            "EMAC_MAX_BODY_BYTES": "1048576",
            "EMAC_REVIEW_DRAFTS": "true",
            "EMAC_MAX_ATTEMPTS": "7",
            "EMAC_RETRY_BASE_SECONDS": "2.5",
            "EMAC_LEASE_SECONDS": "60",
        }
    )
    assert settings == Settings(
        webhook_secret=b"s3cret",
        app_id=42,
        private_key_file=Path("/keys/app.pem"),
        api_url="https://ghe.example.com/api/v3",
        queue_path=tmp_path / "q.db",
        redis_url="redis://10.0.0.5:6379/2",
        max_body_bytes=1048576,
        review_drafts=True,
        max_attempts=7,
        retry_base_seconds=2.5,
        lease_seconds=60,
    )
    assert settings.require_app_identity() == (42, Path("/keys/app.pem"))


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param(
            {"EMAC_APP_ID": "my-app"},
            "EMAC_APP_ID must be an integer, found 'my-app'",
            id="a non-numeric app id",
        ),
        pytest.param(
            {"EMAC_MAX_BODY_BYTES": "0"},
            "EMAC_MAX_BODY_BYTES must be at least 1, found 0",
            id="a zero body limit",
        ),
        pytest.param(
            {"EMAC_REVIEW_DRAFTS": "sometimes"},
            "EMAC_REVIEW_DRAFTS must be true or false, found 'sometimes'",
            id="a drafts policy that is not a boolean",
        ),
        pytest.param(
            {"EMAC_RETRY_BASE_SECONDS": "-1"},
            "EMAC_RETRY_BASE_SECONDS must not be negative, found -1.0",
            id="a negative backoff",
        ),
    ],
)
def test_bad_values_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    assert str(caught.value) == message


def test_the_service_will_not_start_without_a_webhook_secret(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="EMAC_WEBHOOK_SECRET"):
        create_app(Settings(queue_path=tmp_path / "q.db"))
    with pytest.raises(SettingsError, match="EMAC_APP_ID and EMAC_PRIVATE_KEY_FILE"):
        Settings().require_app_identity()


def test_without_a_redis_url_the_queue_is_one_sqlite_file(tmp_path: Path) -> None:
    queue = open_queue(Settings(queue_path=tmp_path / "jobs.sqlite3"))
    assert isinstance(queue, SqliteJobQueue) and queue.path == tmp_path / "jobs.sqlite3"


@pytest.mark.parametrize(
    ("header", "valid"),
    [
        pytest.param(sign(b"k", b"body"), True, id="the right signature is valid"),
        pytest.param(sign(b"other", b"body"), False, id="another secret's signature is not"),
        pytest.param(sign(b"k", b"body").upper(), False, id="the prefix is case-sensitive"),
        pytest.param("sha1=" + "0" * 40, False, id="the legacy SHA-1 header is not accepted"),
        pytest.param("sha256=ü", False, id="a non-ASCII header is invalid, not an error"),
        pytest.param(None, False, id="a missing header is invalid"),
    ],
)
def test_signatures(header: str | None, valid: bool) -> None:
    assert signature_is_valid(b"k", b"body", header) is valid
