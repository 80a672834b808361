"""Starting the App's processes: `emac worker` and `emac serve` refuse bad credentials at once
with what to fix, come up while GitHub is unreachable, and `emac serve` does not outlive its
job worker."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import responses

from bot.github.appauth import GitHubAppAuth
from bot.github.handlers import make_handlers
from bot.github.queue_sqlite import SqliteJobQueue
from bot.github.settings import Settings, SettingsError
from tests.conftest import free_port
from tests.test_webhook_support import throwaway_rsa_key


@pytest.fixture(scope="module")
def app_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("key") / "app.pem"
    path.write_bytes(throwaway_rsa_key()[0])
    return path


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EMAC_")}
    return {
        **base,
        "EMAC_WEBHOOK_SECRET": "start-test-secret",
        "EMAC_QUEUE_PATH": str(tmp_path / "queue.db"),
        # Nothing in these tests may reach a real GitHub.
        "EMAC_GITHUB_API_URL": "http://127.0.0.1:9/api/v3",
        **extra,
    }


def _emac(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env, timeout=60
    )


# --- credentials are checked before anything starts -----------------------------------------


@pytest.mark.parametrize("command", [["worker"], ["serve", "--bind", "127.0.0.1:0"]])
def test_missing_app_identity_is_named(tmp_path: Path, command: list[str]) -> None:
    run = _emac(command, _env(tmp_path))
    assert run.returncode == 2
    assert run.stderr == (
        "emac: EMAC_APP_ID and EMAC_PRIVATE_KEY_FILE must be set to the GitHub App's id and the "
        "path of its PEM private key\n"
    )


@pytest.mark.parametrize("command", [["worker"], ["serve", "--bind", "127.0.0.1:0"]])
def test_an_unreadable_key_file_is_named(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "nowhere.pem"
    run = _emac(command, _env(tmp_path, EMAC_APP_ID="7", EMAC_PRIVATE_KEY_FILE=str(missing)))
    assert run.returncode == 2
    assert run.stderr == (
        f"emac: EMAC_PRIVATE_KEY_FILE: cannot read {missing}: No such file or directory\n"
    )


def _encrypted_key() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )


@pytest.mark.parametrize(
    "content",
    [b"not a key\n", throwaway_rsa_key()[1], _encrypted_key()],
    ids=["garbage", "the public half", "encrypted"],
)
def test_a_key_file_that_cannot_sign_is_refused_at_start(tmp_path: Path, content: bytes) -> None:
    key = tmp_path / "app.pem"
    key.write_bytes(content)
    settings = Settings(app_id=7, private_key_file=key)
    with pytest.raises(SettingsError, match=r"is not an unencrypted RSA private key in PEM form"):
        GitHubAppAuth.from_settings(settings)
    run = _emac(["worker"], _env(tmp_path, EMAC_APP_ID="7", EMAC_PRIVATE_KEY_FILE=str(key)))
    assert run.returncode == 2
    assert run.stderr.startswith(f"emac: EMAC_PRIVATE_KEY_FILE: {key} is not an unencrypted")
    assert "Traceback" not in run.stderr


# --- GitHub is asked only when a job needs it ---------------------------------------------------


@responses.activate
def test_handlers_come_up_without_github_and_learn_the_login_once(
    tmp_path: Path, app_key: Path
) -> None:
    settings = Settings(app_id=7, private_key_file=app_key, queue_path=tmp_path / "q.db")
    handlers = make_handlers(settings, SqliteJobQueue(settings.queue_path), tmp_path / "cache")
    assert len(responses.calls) == 0  # nothing registered: any call would have failed
    responses.get("https://api.github.com/app", json={"slug": "emac-bot"})
    assert handlers.login() == "emac-bot[bot]"
    assert handlers.login() == "emac-bot[bot]"
    assert len(responses.calls) == 1


def test_a_login_given_is_used_without_asking(tmp_path: Path, app_key: Path) -> None:
    settings = Settings(app_id=7, private_key_file=app_key, queue_path=tmp_path / "q.db")
    handlers = make_handlers(
        settings, SqliteJobQueue(settings.queue_path), tmp_path / "cache", "named[bot]"
    )
    with responses.RequestsMock():  # fails on any request
        assert handlers.login() == "named[bot]"


# --- `emac serve` stops when its worker is gone -------------------------------------------------


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _worker_of(server: subprocess.Popen[bytes]) -> int:
    """The pid of the `emac worker` that `emac serve` started (a child running `bot worker`)."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    for pid in children:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"worker" in cmdline and b"bot" in cmdline:
            return int(pid)
    raise AssertionError(f"no worker among the children of emac serve: {children}")


def _start_serve(tmp_path: Path, app_key: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    env = _env(tmp_path, EMAC_APP_ID="7", EMAC_PRIVATE_KEY_FILE=str(app_key))
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "bot", "serve", "--bind", f"127.0.0.1:{port}"),
                *("--workers", "2", "--threads", "2", "--cache-dir", str(tmp_path / "cache")),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while not _healthy(port):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            server.wait()
            raise AssertionError(f"emac serve did not come up:\n{log.read_text()}")
        time.sleep(0.2)
    return server, port, log


needs_proc = pytest.mark.skipif(
    not Path("/proc/self/task").is_dir(), reason="reads /proc to find the worker"
)


@needs_proc
def test_serve_stopped_stops_its_worker_and_exits_0(tmp_path: Path, app_key: Path) -> None:
    # gunicorn forks its workers inside `emac serve`, and they leave through its frames: they
    # must neither signal the job worker nor wait for it (that hung each for the 30 s grace).
    server, _, log = _start_serve(tmp_path, app_key)
    try:
        worker = _worker_of(server)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0, log.read_text()
        assert not Path(f"/proc/{worker}").exists() or _is_zombie(worker)
        assert "exited: stopping the service" not in log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _is_zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")


@needs_proc
def test_serve_stops_with_status_1_when_its_worker_dies(tmp_path: Path, app_key: Path) -> None:
    server, port, log = _start_serve(tmp_path, app_key)
    try:
        worker = _worker_of(server)
        time.sleep(1.0)  # the worker is up and waiting for jobs, not failing on its own
        assert server.poll() is None, log.read_text()
        os.kill(worker, signal.SIGKILL)
        assert server.wait(timeout=20) == 1, log.read_text()
        assert f"the job worker (pid {worker}) exited: stopping the service with it" in (
            log.read_text()
        )
        assert not _healthy(port)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
