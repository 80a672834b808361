"""Shared helpers for the webhook tests: real payloads, signing, a real loopback HTTP server."""

from __future__ import annotations

import copy
import http.client
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from werkzeug.serving import make_server

from bot.github.signature import sign

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
WEBHOOKS = REFERENCE / "github" / "webhooks"
REPLAY = REFERENCE / "github" / "pygithub-replay"
SECRET = b"It's a Secret to Everybody"


def _reference(path: Path) -> Path:
    if not path.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"reference data missing: {path}")
        pytest.skip("reference data not present")
    return path


def payload(name: str) -> dict[str, Any]:
    """A real delivery body from the reference set, e.g. `pull_request/opened.payload.json`."""
    data: dict[str, Any] = json.loads(_reference(WEBHOOKS / name).read_text())
    return data


@dataclass(frozen=True)
class RecordedExchange:
    """One real request/response pair from PyGithub's replay data."""

    method: str
    host: str
    path: str
    status: int
    body: str


def recorded_exchanges(name: str) -> list[RecordedExchange]:
    """Parse a replay file: per request ten lines (protocol, verb, host, port, path, request
    headers, request body, status, response headers, response body), then a blank line."""
    lines = _reference(REPLAY / name).read_text().split("\n")
    exchanges = []
    for start in range(0, len(lines) - 9, 11):
        block = lines[start : start + 10]
        exchanges.append(RecordedExchange(block[1], block[2], block[4], int(block[7]), block[9]))
    return exchanges


def throwaway_rsa_key() -> tuple[bytes, bytes]:
    """A fresh RSA key pair (private PEM, public PEM) standing in for an App's key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def variant(name: str, **changes: Any) -> dict[str, Any]:
    """A real payload with top-level keys replaced (deep-copied, the original is untouched)."""
    data = copy.deepcopy(payload(name))
    data.update(changes)
    return data


def pr_comment(
    body: str, *, sender_type: str = "User", login: str = "Codertocat"
) -> dict[str, Any]:
    """The real issue_comment delivery, moved onto a pull request with the given body."""
    data = copy.deepcopy(payload("issue_comment/created.with-installation.payload.json"))
    data["issue"]["pull_request"] = {"url": data["issue"]["url"].replace("/issues/", "/pulls/")}
    data["comment"]["body"] = body
    data["sender"]["type"] = sender_type
    data["sender"]["login"] = login
    return data


def merge_group_payload() -> dict[str, Any]:
    """A merge_group delivery built around the real check_suite delivery's repo/installation."""
    base = payload("check_suite/rerequested.payload.json")
    return {
        "action": "checks_requested",
        "merge_group": {
            "head_sha": "0f3c1d5a9b7e2f4c6a8d0b1e3f5a7c9e2b4d6f80",
            "head_ref": "refs/heads/gh-readonly-queue/master/pr-2-ec26c3e5",
            "base_sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
            "base_ref": "refs/heads/master",
        },
        "repository": base["repository"],
        "installation": base["installation"],
        "sender": base["sender"],
    }


def signed_headers(
    body: bytes, event: str, delivery: str, *, secret: bytes = SECRET
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(secret, body),
        "User-Agent": "GitHub-Hookshot/test",
    }


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: dict[str, Any]


@dataclass
class LoopbackServer:
    host: str
    port: int

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> HttpReply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        return HttpReply(response.status, json.loads(raw) if raw else {})

    def deliver(
        self, event: str, delivery: str, data: dict[str, Any], *, secret: bytes = SECRET
    ) -> HttpReply:
        body = json.dumps(data).encode()
        return self.request(
            "POST", "/webhook", body, signed_headers(body, event, delivery, secret=secret)
        )


@contextmanager
def serving(app: WSGIApplication) -> Iterator[LoopbackServer]:
    """The app behind a real threaded HTTP server on a free loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield LoopbackServer("127.0.0.1", server.server_port)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
