"""`emac serve`: the webhook service under gunicorn on loopback, started as a user would."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bot.github.signature import sign
from tests.conftest import emac, free_port

SECRET = b"serve-test-secret"


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_serve_without_a_webhook_secret_says_what_to_set() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAC_")}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--no-worker"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "EMAC_WEBHOOK_SECRET" in proc.stderr and "Traceback" not in proc.stderr


def test_serve_answers_health_and_a_signed_ping(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "EMAC_WEBHOOK_SECRET": SECRET.decode(),
        "EMAC_QUEUE_PATH": str(tmp_path / "queue.db"),
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot",
                "serve",
                "--no-worker",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--threads",
                "2",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(port, "/healthz") == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "emac serve did not come up"
            assert server.poll() is None, log.read_text()
            time.sleep(0.2)
        assert _get(port, "/readyz") == 200
        body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request(
            "POST",
            "/webhook",
            body=body,
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "ping",
                "X-GitHub-Delivery": "serve-1",
                "X-Hub-Signature-256": sign(SECRET, body),
            },
        )
        reply = conn.getresponse()
        assert reply.status == 200
        assert json.loads(reply.read())["status"] == "pong"
        conn.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_emac_help_lists_the_service_commands() -> None:
    proc = emac("--help")
    for command in ("serve", "worker", "action", "review", "demo", "discover", "accept"):
        assert command in proc.stdout
