"""Event routing: the Job record, and the jobs a webhook payload asks for (pure, no I/O)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any


class JobKind(StrEnum):
    REVIEW = "review"
    MERGE_GROUP = "merge_group"
    ACCEPT_MODEL = "accept_model"
    REGENERATE_ARTIFACTS = "regenerate_artifacts"
    COMMAND = "command"
    INSTALLATION = "installation"


@dataclass(frozen=True)
class Job:
    """One unit of work decided from one delivery; small and JSON-serialisable.

    `trigger` is `event.action` of the delivery; `head_updated_at` (the payload's timestamp
    for that head) orders heads of one PR when deliveries arrive out of order.
    """

    kind: JobKind
    delivery_id: str
    trigger: str
    repo: str = ""
    installation_id: int | None = None
    pr_number: int | None = None
    head_sha: str | None = None
    base_sha: str | None = None
    head_updated_at: str | None = None
    command: str | None = None
    sender: str | None = None
    action_identifier: str | None = None
    repos: tuple[str, ...] = field(default=())

    @property
    def is_rerequest(self) -> bool:
        return self.trigger.endswith(".rerequested")

    @property
    def advances_head(self) -> bool:
        """A new head for a PR (push, open): makes older pending reviews of that PR stale."""
        return (
            self.kind is JobKind.REVIEW
            and self.pr_number is not None
            and self.head_sha is not None
            and not self.is_rerequest
        )

    @property
    def idempotency_key(self) -> str:
        if self.kind is JobKind.REVIEW and not self.is_rerequest:
            # opened, synchronize and check_suite.requested of one head are one review.
            return f"review|{self.repo}|{self.pr_number}|{self.head_sha}"
        if self.kind is JobKind.MERGE_GROUP:
            return f"merge_group|{self.repo}|{self.head_sha}"
        # A re-run asked for by a person, a command or bookkeeping: once per delivery.
        return (
            f"{self.kind}|{self.delivery_id}|{self.repo}|{self.pr_number}|{self.head_sha}"
            f"|{self.command}|{self.action_identifier}"
        )

    @property
    def job_id(self) -> str:
        return hashlib.sha256(self.idempotency_key.encode()).hexdigest()[:32]

    def to_json(self) -> str:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["kind"] = self.kind.value
        data["repos"] = list(self.repos)
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Job:
        data: dict[str, Any] = json.loads(text)
        data["kind"] = JobKind(data["kind"])
        data["repos"] = tuple(data.get("repos", ()))
        return cls(**data)


COMMANDS = ("recompute", "accept", "help")
REQUESTED_ACTIONS = {
    "accept-model": JobKind.ACCEPT_MODEL,
    "regenerate-artifacts": JobKind.REGENERATE_ARTIFACTS,
}
REVIEW_ACTIONS = ("opened", "synchronize", "reopened", "ready_for_review")
_COMMAND_LINE = re.compile(r"^\s*/emac(?:\s+(\S+))?", re.IGNORECASE | re.MULTILINE)


class PayloadError(ValueError):
    """A payload of a known event lacks a field the router needs, or has the wrong type."""


@dataclass(frozen=True)
class RoutingPolicy:
    review_drafts: bool = False


@dataclass(frozen=True)
class Routing:
    """What one delivery asks for: jobs to enqueue, and a short note saying why."""

    jobs: tuple[Job, ...]
    note: str
    pong: bool = False


def _obj(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise PayloadError(f"{where}.{key}: expected an object, found {type(value).__name__}")
    return value


def _str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{where}.{key}: expected a non-empty string, found {value!r}")
    return value


def _int(data: Mapping[str, Any], key: str, where: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadError(f"{where}.{key}: expected an integer, found {value!r}")
    return value


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class _Delivery:
    """The parts every job of one delivery shares."""

    event: str
    action: str
    delivery_id: str
    payload: Mapping[str, Any]

    @property
    def trigger(self) -> str:
        return f"{self.event}.{self.action}" if self.action else self.event

    def installation_id(self) -> int | None:
        installation = self.payload.get("installation")
        if isinstance(installation, Mapping):
            value = installation.get("id")
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None

    def repo(self) -> str:
        return _str(_obj(self.payload, "repository", "payload"), "full_name", "repository")

    def sender(self) -> str | None:
        sender = self.payload.get("sender")
        return _opt_str(sender, "login") if isinstance(sender, Mapping) else None

    def job(self, kind: JobKind, **fields: Any) -> Job:
        return Job(
            kind=kind,
            delivery_id=self.delivery_id,
            trigger=self.trigger,
            installation_id=self.installation_id(),
            sender=self.sender(),
            **fields,
        )


def _ignored(d: _Delivery, why: str) -> Routing:
    return Routing((), f"ignored: {d.trigger} {why}")


def _queued(jobs: list[Job]) -> Routing:
    return Routing(tuple(jobs), f"queued {len(jobs)} job{'s' if len(jobs) != 1 else ''}")


def _pr_numbers(container: Mapping[str, Any], where: str) -> list[tuple[int, str | None]]:
    """(number, base sha) of the PRs a check suite or check run belongs to."""
    prs = container.get("pull_requests") or []
    if not isinstance(prs, list):
        raise PayloadError(f"{where}.pull_requests: expected a list")
    found = []
    for i, pr in enumerate(prs):
        if not isinstance(pr, Mapping):
            raise PayloadError(f"{where}.pull_requests[{i}]: expected an object")
        base = pr.get("base")
        found.append(
            (
                _int(pr, "number", f"{where}.pull_requests[{i}]"),
                _opt_str(base, "sha") if isinstance(base, Mapping) else None,
            )
        )
    return found


def _review_jobs(d: _Delivery, where: str, container: Mapping[str, Any]) -> list[Job]:
    """One review of the container's head per PR it belongs to (a head with no PR: one job)."""
    head = _str(container, "head_sha", where)
    stamp = _opt_str(container, "updated_at")
    prs: list[tuple[int | None, str | None]] = [*_pr_numbers(container, where)] or [(None, None)]
    return [
        d.job(
            JobKind.REVIEW,
            repo=d.repo(),
            pr_number=number,
            head_sha=head,
            base_sha=base,
            head_updated_at=stamp,
        )
        for number, base in prs
    ]


def route_pull_request(d: _Delivery, policy: RoutingPolicy) -> Routing:
    if d.action not in REVIEW_ACTIONS:
        return _ignored(d, "does not change the code under review")
    pr = _obj(d.payload, "pull_request", "payload")
    if pr.get("draft") is True and not policy.review_drafts:
        return _ignored(d, "is a draft (drafts are reviewed when marked ready)")
    head = _obj(pr, "head", "pull_request")
    base = _obj(pr, "base", "pull_request")
    job = d.job(
        JobKind.REVIEW,
        repo=d.repo(),
        pr_number=_int(pr, "number", "pull_request"),
        head_sha=_str(head, "sha", "pull_request.head"),
        base_sha=_opt_str(base, "sha"),
        head_updated_at=_opt_str(pr, "updated_at"),
    )
    return _queued([job])


def route_check_suite(d: _Delivery, policy: RoutingPolicy) -> Routing:
    if d.action not in ("requested", "rerequested"):
        return _ignored(d, "needs no work")
    return _queued(_review_jobs(d, "check_suite", _obj(d.payload, "check_suite", "payload")))


def route_check_run(d: _Delivery, policy: RoutingPolicy) -> Routing:
    run = _obj(d.payload, "check_run", "payload")
    if d.action == "rerequested":
        return _queued(_review_jobs(d, "check_run", run))
    if d.action != "requested_action":
        return _ignored(d, "needs no work")
    identifier = _str(
        _obj(d.payload, "requested_action", "payload"), "identifier", "requested_action"
    )
    kind = REQUESTED_ACTIONS.get(identifier)
    if kind is None:
        return _ignored(d, f"asks for unknown action {identifier!r}")
    prs = _pr_numbers(run, "check_run")
    job = d.job(
        kind,
        repo=d.repo(),
        pr_number=prs[0][0] if prs else None,
        head_sha=_str(run, "head_sha", "check_run"),
        action_identifier=identifier,
    )
    return _queued([job])


def route_merge_group(d: _Delivery, policy: RoutingPolicy) -> Routing:
    if d.action != "checks_requested":
        return _ignored(d, "needs no check")
    group = _obj(d.payload, "merge_group", "payload")
    job = d.job(
        JobKind.MERGE_GROUP,
        repo=d.repo(),
        head_sha=_str(group, "head_sha", "merge_group"),
        base_sha=_opt_str(group, "base_sha"),
    )
    return _queued([job])


def parse_command(body: str | None) -> str | None:
    """The `/emac <command>` a comment asks for; an unknown or missing word asks for help."""
    match = _COMMAND_LINE.search(body or "")
    if match is None:
        return None
    word = (match.group(1) or "help").lower()
    return word if word in COMMANDS else "help"


def route_issue_comment(d: _Delivery, policy: RoutingPolicy) -> Routing:
    if d.action != "created":
        return _ignored(d, "is not a new comment")
    issue = _obj(d.payload, "issue", "payload")
    if not isinstance(issue.get("pull_request"), Mapping):
        return _ignored(d, "is on an issue, not a pull request")
    sender = d.payload.get("sender")
    if isinstance(sender, Mapping) and sender.get("type") == "Bot":
        return _ignored(d, "is from a bot")  # never answer bots: two bots could loop
    body = _obj(d.payload, "comment", "payload").get("body")
    if body is not None and not isinstance(body, str):
        raise PayloadError(f"comment.body: expected a string, found {body!r}")
    command = parse_command(body)
    if command is None:
        return _ignored(d, "has no /emac command")
    job = d.job(
        JobKind.COMMAND, repo=d.repo(), pr_number=_int(issue, "number", "issue"), command=command
    )
    return _queued([job])


def _repo_names(items: object, where: str) -> tuple[str, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise PayloadError(f"{where}: expected a list")
    names = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise PayloadError(f"{where}[{i}]: expected an object")
        names.append(_str(item, "full_name", f"{where}[{i}]"))
    return tuple(names)


def route_installation(d: _Delivery, policy: RoutingPolicy) -> Routing:
    _obj(d.payload, "installation", "payload")
    if d.event == "installation":
        repos = _repo_names(d.payload.get("repositories"), "repositories")
    else:
        repos = _repo_names(d.payload.get(f"repositories_{d.action}"), f"repositories_{d.action}")
    return _queued([d.job(JobKind.INSTALLATION, repos=repos)])


def route_ping(d: _Delivery, policy: RoutingPolicy) -> Routing:
    return Routing((), "pong", pong=True)


ROUTES: dict[str, Callable[[_Delivery, RoutingPolicy], Routing]] = {
    "pull_request": route_pull_request,
    "check_suite": route_check_suite,
    "check_run": route_check_run,
    "merge_group": route_merge_group,
    "issue_comment": route_issue_comment,
    "installation": route_installation,
    "installation_repositories": route_installation,
    "ping": route_ping,
}


def route(
    event: str, payload: Mapping[str, Any], delivery_id: str, policy: RoutingPolicy
) -> Routing:
    """The jobs one delivery asks for. Raises PayloadError for a malformed payload."""
    action = payload.get("action")
    if action is not None and not isinstance(action, str):
        raise PayloadError(f"payload.action: expected a string, found {action!r}")
    delivery = _Delivery(event, action or "", delivery_id, payload)
    handler = ROUTES.get(event)
    if handler is None:
        return Routing((), f"ignored: event {event!r} is not handled")
    return handler(delivery, policy)
