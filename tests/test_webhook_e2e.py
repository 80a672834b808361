"""The webhook service behind a real loopback HTTP server, fed signed real GitHub deliveries,
with a worker running the injected handler on the durable queue."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses

from bot.github.appauth import GitHubAppAuth, authorize_command, refusal_comment
from bot.github.events import Job, JobKind
from bot.github.queue_sqlite import SqliteJobQueue
from bot.github.settings import Settings
from bot.github.webhook import create_app
from tests.test_queue_support import Recorder, drained, wait_until, worker_thread
from tests.test_webhook_support import (
    SECRET,
    LoopbackServer,
    payload,
    pr_comment,
    recorded_exchanges,
    serving,
    signed_headers,
    throwaway_rsa_key,
)

LIMIT = 64 * 1024


@pytest.fixture
def queue(tmp_path: Path) -> SqliteJobQueue:
    return SqliteJobQueue(tmp_path / "jobs.sqlite3")


@pytest.fixture
def server(queue: SqliteJobQueue) -> Iterator[LoopbackServer]:
    app = create_app(Settings(webhook_secret=SECRET, max_body_bytes=LIMIT), queue=queue)
    with serving(app) as running:
        yield running


def test_a_signed_delivery_is_acknowledged_queued_and_handled(
    server: LoopbackServer, queue: SqliteJobQueue
) -> None:
    reply = server.deliver("pull_request", "d-opened", payload("pull_request/opened.payload.json"))
    assert reply.status == 202
    assert reply.body == {
        "status": "queued",
        "delivery": "d-opened",
        "jobs": 1,
        "note": "queued 1 job",
    }
    assert queue.counts() == {"pending": 1}
    handler = Recorder()
    with worker_thread(queue, handler):
        wait_until(lambda: drained(queue), what="job handled")
    [job] = handler.calls
    assert (job.kind, job.repo, job.pr_number, job.delivery_id) == (
        JobKind.REVIEW,
        "Codertocat/Hello-World",
        2,
        "d-opened",
    )
    assert queue.counts() == {"done": 1}


def test_a_bad_signature_is_refused_and_queues_nothing(
    server: LoopbackServer, queue: SqliteJobQueue
) -> None:
    data = payload("pull_request/opened.payload.json")
    reply = server.deliver("pull_request", "d-forged", data, secret=b"not the secret")
    assert (reply.status, reply.body) == (401, {"error": "missing or invalid X-Hub-Signature-256"})
    body = json.dumps(data).encode()
    unsigned = {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "d-unsigned"}
    assert server.request("POST", "/webhook", body, unsigned).status == 401
    assert queue.counts() == {}


def test_a_replayed_delivery_is_a_duplicate_without_a_second_job(
    server: LoopbackServer, queue: SqliteJobQueue
) -> None:
    data = payload("pull_request/synchronize.payload.json")
    assert server.deliver("pull_request", "d-sync", data).status == 202
    again = server.deliver("pull_request", "d-sync", data)
    assert (again.status, again.body) == (200, {"status": "duplicate", "delivery": "d-sync"})
    assert queue.counts() == {"pending": 1}


def test_an_oversized_body_is_refused_before_it_is_read(
    server: LoopbackServer, queue: SqliteJobQueue
) -> None:
    data = pr_comment("/emac recompute\n" + "x" * LIMIT)
    reply = server.deliver("issue_comment", "d-big", data)
    assert (reply.status, reply.body) == (413, {"error": f"body larger than {LIMIT} bytes"})
    assert queue.counts() == {}


def test_an_oversized_chunked_body_without_length_is_refused(
    server: LoopbackServer, queue: SqliteJobQueue
) -> None:
    body = json.dumps(pr_comment("/emac recompute\n" + "x" * LIMIT)).encode()
    headers = signed_headers(body, "issue_comment", "d-chunked")
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        chunks = (body[i : i + 8192] for i in range(0, len(body), 8192))
        conn.request("POST", "/webhook", body=chunks, headers=headers, encode_chunked=True)
        assert conn.getresponse().status == 413
    finally:
        conn.close()
    assert queue.counts() == {}


def test_an_unknown_event_is_accepted_and_ignored(
    server: LoopbackServer, queue: SqliteJobQueue
) -> None:
    reply = server.deliver("star", "d-star", {"action": "created", "starred_at": None})
    assert reply.status == 202
    assert reply.body["status"] == "accepted" and reply.body["jobs"] == 0
    assert reply.body["note"] == "ignored: event 'star' is not handled"
    assert queue.counts() == {}
    assert server.deliver("star", "d-star", {"action": "created"}).body["status"] == "duplicate"


def test_ping_is_answered_pong(server: LoopbackServer, queue: SqliteJobQueue) -> None:
    reply = server.deliver("ping", "d-ping", payload("ping/with-app_id.payload.json"))
    assert (reply.status, reply.body) == (200, {"status": "pong", "delivery": "d-ping"})
    assert queue.counts() == {}


@pytest.mark.parametrize(
    ("body", "headers", "error"),
    [
        pytest.param(b"{not json", {}, "body is not a JSON object", id="malformed JSON is a 400"),
        pytest.param(b"[1, 2]", {}, "body is not a JSON object", id="a JSON list is a 400"),
        pytest.param(b"\xff\xfe", {}, "body is not a JSON object", id="bytes that are not UTF-8"),
        pytest.param(
            b"{}",
            {"X-GitHub-Event": ""},
            "missing or malformed X-GitHub-Event header",
            id="a missing event header is a 400",
        ),
        pytest.param(
            b"{}",
            {"X-GitHub-Delivery": ""},
            "missing or malformed X-GitHub-Delivery header",
            id="a missing delivery header is a 400",
        ),
        pytest.param(
            b'{"action": "opened"}',
            {},
            "malformed pull_request payload: payload.pull_request: expected an object",
            id="a pull_request delivery without its PR is a 400",
        ),
    ],
)
def test_bad_input_is_a_400_never_a_500(
    server: LoopbackServer, queue: SqliteJobQueue, body: bytes, headers: dict[str, str], error: str
) -> None:
    sent = {**signed_headers(body, "pull_request", "d-bad"), **headers}
    reply = server.request("POST", "/webhook", body, sent)
    assert reply.status == 400
    assert reply.body["error"].startswith(error)
    assert queue.counts() == {}


def test_probes_report_process_and_queue(server: LoopbackServer, queue: SqliteJobQueue) -> None:
    assert server.request("GET", "/healthz").status == 200
    assert server.request("GET", "/readyz").body == {"status": "ready"}
    assert server.request("GET", "/webhook").status == 405
    assert server.request("POST", "/hooks").status == 404
    assert server.request("GET", "/healthz/extra").body["error"].startswith("The requested URL")
    queue.close()
    assert server.request("GET", "/readyz").status == 503
    assert server.request("GET", "/healthz").status == 200


@responses.activate
def test_a_command_from_a_user_without_write_access_gets_a_polite_refusal(
    server: LoopbackServer, queue: SqliteJobQueue
) -> None:
    private_key, _ = throwaway_rsa_key()
    auth = GitHubAppAuth(1234, private_key)
    token = recorded_exchanges("GithubIntegration.testGetAccessToken.txt")[0]
    responses.add(
        "POST",
        "https://api.github.com/app/installations/1/access_tokens",
        body=token.body.replace("2024-11-25T01:00:02Z", "2999-01-01T00:00:00Z"),
        status=201,
        content_type="application/json",
    )
    repo = "https://api.github.com/repos/Codertocat/Hello-World"
    for login, role in (("Codertocat", "admin"), ("drive-by", "read")):
        responses.add(
            "GET",
            f"{repo}/collaborators/{login}/permission",
            json={"permission": role, "role_name": role},
        )
    responses.add("POST", f"{repo}/issues/1/comments", json={"id": 1}, status=201)

    ran: list[tuple[str | None, str | None]] = []

    def handler(job: Job) -> None:
        if job.kind is JobKind.COMMAND and authorize_command(auth, job):
            ran.append((job.sender, job.command))

    assert server.deliver("issue_comment", "d-1", pr_comment("/emac accept")).status == 202
    stranger = pr_comment("/emac accept", login="drive-by")
    assert server.deliver("issue_comment", "d-2", stranger).status == 202
    with worker_thread(queue, handler):
        wait_until(lambda: drained(queue), what="both commands handled")

    assert ran == [("Codertocat", "accept")]
    posts = [c.request for c in responses.calls if c.request.url == f"{repo}/issues/1/comments"]
    assert [json.loads(p.body or b"{}") for p in posts] == [
        {"body": refusal_comment("drive-by", "accept")}
    ]
    assert queue.counts() == {"done": 2}
