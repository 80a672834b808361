"""The webhook service: verify → dedupe → enqueue → 202, plus liveness and readiness probes."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

import orjson
from flask import Flask, Response, jsonify
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import get_content_length, get_input_stream

from bot.github.events import PayloadError, RoutingPolicy, route
from bot.github.queue import JobQueue, open_queue
from bot.github.settings import Settings, load_settings
from bot.github.signature import signature_is_valid

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class HeaderLookup(Protocol):
    """Case-insensitive header access (werkzeug's Headers, or a dict in tests)."""

    def get(self, key: str, /) -> str | None: ...


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


def decode_payload(body: bytes, content_type: str) -> dict[str, Any]:
    """The payload object; a GitHub webhook may send JSON or a form with a `payload` field."""
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8"), strict_parsing=False)
        payload = _parse_json(fields.get("payload", [""])[0].encode("utf-8"))
    else:
        payload = _parse_json(body)
    if not isinstance(payload, dict):
        raise ValueError(f"expected a JSON object, found {type(payload).__name__}")
    return payload


def _parse_json(data: bytes) -> Any:
    # orjson parses a pull_request payload in a fraction of what `json` takes (it was the
    # largest single cost of an acknowledgement). Where it refuses, `json` decides: it accepts
    # what orjson does not (NaN, integers beyond 64 bits) and words the error for the 400.
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data.decode("utf-8"))


def receive_delivery(
    headers: HeaderLookup,
    body: bytes,
    *,
    secret: bytes,
    queue: JobQueue,
    policy: RoutingPolicy,
) -> Reply:
    """Everything after the body is read: signature, headers, payload, dedupe, enqueue."""
    if not signature_is_valid(secret, body, headers.get("X-Hub-Signature-256")):
        return Reply(401, {"error": "missing or invalid X-Hub-Signature-256"})
    event = headers.get("X-GitHub-Event") or ""
    delivery_id = headers.get("X-GitHub-Delivery") or ""
    if not _EVENT_NAME.match(event):
        return Reply(400, {"error": "missing or malformed X-GitHub-Event header"})
    if not _DELIVERY_ID.match(delivery_id):
        return Reply(400, {"error": "missing or malformed X-GitHub-Delivery header"})
    try:
        payload = decode_payload(body, headers.get("Content-Type") or "application/json")
        routing = route(event, payload, delivery_id, policy)
    except PayloadError as exc:
        return Reply(400, {"error": f"malformed {event} payload: {exc}"})
    except (ValueError, RecursionError) as exc:
        return Reply(400, {"error": f"body is not a JSON object: {exc}"})
    action = payload.get("action") if isinstance(payload.get("action"), str) else None
    try:
        outcome = queue.accept_delivery(delivery_id, event, action, routing.jobs)
    except Exception:
        # The queue is down, not the request bad: 503 tells GitHub (and people) to retry.
        log.exception("delivery %s: queue unavailable", delivery_id)
        return Reply(503, {"error": "job queue unavailable; redeliver later"})
    if outcome.duplicate:
        log.info("delivery %s: duplicate", delivery_id)
        return Reply(200, {"status": "duplicate", "delivery": delivery_id})
    log.info("delivery %s %s: %s", delivery_id, event, routing.note)
    if routing.pong:
        return Reply(200, {"status": "pong", "delivery": delivery_id})
    status = "queued" if outcome.enqueued else "accepted"
    return Reply(
        202,
        {"status": status, "delivery": delivery_id, "jobs": outcome.enqueued, "note": routing.note},
    )


def _json(reply: Reply) -> Response:
    response = jsonify(reply.body)
    response.status_code = reply.status
    return response


def _status_line(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


class WebhookService:
    """The WSGI application: `POST /webhook` on a bare WSGI path, everything else through Flask.

    Deliveries are the only traffic with volume, and Flask's per-request machinery (request
    and app contexts, URL matching, the Request and Response objects) cost about as much CPU
    as verifying, parsing and recording a delivery; the bare path reads the environ directly.
    The probes and error pages stay ordinary Flask views.
    """

    def __init__(
        self, probes: Flask, *, secret: bytes, queue: JobQueue, policy: RoutingPolicy, limit: int
    ) -> None:
        self.probes = probes
        self._secret = secret
        self._queue = queue
        self._policy = policy
        self._limit = limit

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/webhook":
            return self.probes(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST":
            reply = Reply(405, {"error": "deliveries are POSTed to /webhook"})
            return _send(reply, start_response, [("Allow", "POST")])
        return _send(self.receive(environ), start_response)

    def receive(self, environ: WSGIEnvironment) -> Reply:
        """One delivery from the environ: size limit first, then `receive_delivery`."""
        limit = self._limit
        too_large = Reply(413, {"error": f"body larger than {limit} bytes"})
        length = get_content_length(environ)
        if length is not None and length > limit:
            return too_large
        # Read at most one byte past the limit: a lying or absent Content-Length cannot make
        # the service buffer an unbounded body.
        body = get_input_stream(environ).read(limit + 1)
        if len(body) > limit:
            return too_large
        return receive_delivery(
            EnvironHeaders(environ),
            body,
            secret=self._secret,
            queue=self._queue,
            policy=self._policy,
        )


def _send(
    reply: Reply, start_response: StartResponse, extra: list[tuple[str, str]] | None = None
) -> Iterable[bytes]:
    body = json.dumps(reply.body, separators=(",", ":")).encode() + b"\n"
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response(_status_line(reply.status), headers + (extra or []))
    return [body]


def create_app(settings: Settings, queue: JobQueue | None = None) -> WebhookService:
    """The service; `queue` defaults to the one the settings name."""
    secret = settings.require_webhook_secret()
    jobs = queue if queue is not None else open_queue(settings)
    policy = RoutingPolicy(review_drafts=settings.review_drafts)
    probes = Flask("emac_webhook")

    @probes.get("/healthz")
    def healthz() -> Response:
        return _json(Reply(200, {"status": "ok"}))

    @probes.get("/readyz")
    def readyz() -> Response:
        if jobs.ping():
            return _json(Reply(200, {"status": "ready"}))
        return _json(Reply(503, {"status": "queue unreachable"}))

    @probes.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return _json(Reply(exc.code or 400, {"error": exc.description or exc.name}))

    return WebhookService(
        probes, secret=secret, queue=jobs, policy=policy, limit=settings.max_body_bytes
    )


def app_from_env() -> WebhookService:
    """Entry point for WSGI servers: `gunicorn 'bot.github.webhook:app_from_env()'`."""
    return create_app(load_settings(os.environ))
