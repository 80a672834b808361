"""Event routing over real GitHub deliveries (and variants derived from them here)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.github.events import Job, JobKind, PayloadError, RoutingPolicy, parse_command, route
from tests.test_webhook_support import merge_group_payload, payload, pr_comment, variant

HELLO = "Codertocat/Hello-World"
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
BASE = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
DEFAULT = RoutingPolicy()


def jobs_of(event: str, data: dict[str, Any], policy: RoutingPolicy = DEFAULT) -> list[Job]:
    return list(route(event, data, "delivery-1", policy).jobs)


@pytest.mark.parametrize(
    ("name", "trigger"),
    [
        pytest.param("opened.payload.json", "pull_request.opened", id="an opened PR is reviewed"),
        pytest.param(
            "opened.with-null-body.json",
            "pull_request.opened",
            id="a PR with no description is reviewed",
        ),
        pytest.param(
            "synchronize.payload.json", "pull_request.synchronize", id="a push to a PR is reviewed"
        ),
        pytest.param(
            "reopened.payload.json", "pull_request.reopened", id="a reopened PR is reviewed"
        ),
        pytest.param(
            "ready_for_review.with-installation.payload.json",
            "pull_request.ready_for_review",
            id="a draft marked ready is reviewed",
        ),
    ],
)
def test_pull_request_actions_that_change_the_code_queue_one_review(
    name: str, trigger: str
) -> None:
    [job] = jobs_of("pull_request", payload(f"pull_request/{name}"))
    assert job.kind is JobKind.REVIEW
    assert (job.repo, job.pr_number, job.head_sha, job.base_sha) == (HELLO, 2, HEAD, BASE)
    assert (job.installation_id, job.trigger, job.delivery_id) == (1, trigger, "delivery-1")
    assert job.advances_head


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("closed.payload.json", id="a closed PR needs no review"),
        pytest.param(
            "converted_to_draft.with-installation.payload.json",
            id="a PR turned back into a draft needs no review",
        ),
    ],
)
def test_pull_request_actions_that_need_no_review_are_ignored(name: str) -> None:
    routing = route("pull_request", payload(f"pull_request/{name}"), "d", DEFAULT)
    assert routing.jobs == () and routing.note.startswith("ignored")


def test_drafts_are_skipped_unless_the_policy_reviews_them() -> None:
    data = variant("pull_request/opened.payload.json")
    data["pull_request"]["draft"] = True
    assert jobs_of("pull_request", data) == []
    [job] = jobs_of("pull_request", data, RoutingPolicy(review_drafts=True))
    assert job.head_sha == HEAD


def test_a_check_suite_rerequest_reviews_its_head_for_each_pr() -> None:
    [job] = jobs_of("check_suite", payload("check_suite/rerequested.payload.json"))
    assert (job.kind, job.pr_number, job.head_sha, job.base_sha) == (JobKind.REVIEW, 2, HEAD, BASE)
    assert job.is_rerequest and not job.advances_head


def test_a_requested_check_suite_is_the_same_review_as_the_push() -> None:
    [suite] = jobs_of(
        "check_suite", variant("check_suite/rerequested.payload.json", action="requested")
    )
    [push] = jobs_of("pull_request", payload("pull_request/synchronize.payload.json"))
    assert suite.idempotency_key == push.idempotency_key


def test_a_check_run_rerequest_without_a_pr_still_reviews_its_head() -> None:
    [job] = jobs_of("check_run", payload("check_run/rerequested.payload.json"))
    assert (job.repo, job.pr_number, job.head_sha) == (
        "github/hello-world",
        None,
        "d6fde92930d4715a2b49857d24b940956b26d2d3",
    )


@pytest.mark.parametrize(
    ("identifier", "kind"),
    [
        pytest.param(
            "accept-model", JobKind.ACCEPT_MODEL, id="the accept button accepts the model"
        ),
        pytest.param(
            "regenerate-artifacts",
            JobKind.REGENERATE_ARTIFACTS,
            id="the regenerate button regenerates artifacts",
        ),
    ],
)
def test_check_run_buttons_queue_their_job(identifier: str, kind: JobKind) -> None:
    data = variant(
        "check_run/requested_action.payload.json", requested_action={"identifier": identifier}
    )
    [job] = jobs_of("check_run", data)
    assert (job.kind, job.repo, job.pr_number, job.action_identifier) == (
        kind,
        "electron/electron",
        26764,
        identifier,
    )
    assert job.head_sha == "5bd5f196a46b8222fb7484f05faba41a73cf34bd"


def test_another_apps_button_is_ignored() -> None:
    assert jobs_of("check_run", payload("check_run/requested_action.payload.json")) == []


def test_a_merge_group_gets_a_check_job() -> None:
    [job] = jobs_of("merge_group", merge_group_payload())
    assert (job.kind, job.repo, job.installation_id) == (JobKind.MERGE_GROUP, HELLO, 957387)
    assert job.head_sha == "0f3c1d5a9b7e2f4c6a8d0b1e3f5a7c9e2b4d6f80" and job.base_sha == BASE
    destroyed = {**merge_group_payload(), "action": "destroyed"}
    assert jobs_of("merge_group", destroyed) == []


@pytest.mark.parametrize(
    ("body", "command"),
    [
        pytest.param("/emac recompute", "recompute", id="recompute is parsed"),
        pytest.param(
            "/emac accept\nthe new routes are intended", "accept", id="accept with a reason"
        ),
        pytest.param("Looks odd.\n/EMAC Help", "help", id="a command on a later line, any case"),
        pytest.param("/emac", "help", id="a bare /emac asks for help"),
        pytest.param("/emac frobnicate", "help", id="an unknown command gets help"),
    ],
)
def test_pr_comment_commands_queue_a_command_job(body: str, command: str) -> None:
    [job] = jobs_of("issue_comment", pr_comment(body))
    assert (job.kind, job.command, job.pr_number, job.sender) == (
        JobKind.COMMAND,
        command,
        1,
        "Codertocat",
    )
    assert job.installation_id == 1


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            lambda: pr_comment("I think /emac is neat"), id="a mention mid-line is no command"
        ),
        pytest.param(
            lambda: pr_comment("/emac recompute", sender_type="Bot"), id="bots are never answered"
        ),
        pytest.param(
            lambda: variant("issue_comment/created.with-installation.payload.json"),
            id="a comment on an issue is not for us",
        ),
        pytest.param(
            lambda: {**pr_comment("/emac recompute"), "action": "edited"}, id="edits do not re-run"
        ),
    ],
)
def test_comments_that_are_not_commands_are_ignored(make: Callable[[], dict[str, Any]]) -> None:
    assert jobs_of("issue_comment", make()) == []


def test_parse_command_needs_the_prefix_at_a_line_start() -> None:
    assert parse_command(None) is None
    assert parse_command("  /emac accept") == "accept"


@pytest.mark.parametrize(
    ("event", "name", "repos"),
    [
        pytest.param(
            "installation",
            "installation/created.payload.json",
            ("Codertocat/Hello-World",),
            id="a new installation is recorded",
        ),
        pytest.param(
            "installation",
            "installation/deleted.payload.json",
            ("octocat/Hello-World",),
            id="a removed installation is recorded",
        ),
        pytest.param(
            "installation_repositories",
            "installation_repositories/added.payload.json",
            ("Codertocat/Space",),
            id="repositories added to an installation are recorded",
        ),
    ],
)
def test_installation_events_queue_bookkeeping(
    event: str, name: str, repos: tuple[str, ...]
) -> None:
    data = payload(name)
    [job] = jobs_of(event, data)
    assert (job.kind, job.repos, job.installation_id) == (
        JobKind.INSTALLATION,
        repos,
        data["installation"]["id"],
    )
    assert job.trigger == f"{event}.{data['action']}"


def test_ping_is_answered_without_a_job() -> None:
    routing = route("ping", payload("ping/with-app_id.payload.json"), "d", DEFAULT)
    assert routing.pong and routing.jobs == ()


def test_unknown_events_are_accepted_and_ignored() -> None:
    routing = route("star", {"action": "created"}, "d", DEFAULT)
    assert routing.jobs == () and routing.note == "ignored: event 'star' is not handled"


def _without_head(data: dict[str, Any]) -> dict[str, Any]:
    broken = copy.deepcopy(data)
    del broken["pull_request"]["head"]
    return broken


def _head_sha_number(data: dict[str, Any]) -> dict[str, Any]:
    broken = copy.deepcopy(data)
    broken["pull_request"]["head"]["sha"] = 42
    return broken


@pytest.mark.parametrize(
    ("event", "make", "message"),
    [
        pytest.param(
            "pull_request",
            lambda d: {k: v for k, v in d.items() if k != "pull_request"},
            "payload.pull_request: expected an object, found NoneType",
            id="a pull_request delivery without the PR",
        ),
        pytest.param(
            "pull_request",
            _without_head,
            "pull_request.head: expected an object, found NoneType",
            id="a PR without head",
        ),
        pytest.param(
            "pull_request",
            _head_sha_number,
            "pull_request.head.sha: expected a non-empty string, found 42",
            id="a head sha that is a number",
        ),
        pytest.param(
            "pull_request",
            lambda d: {**d, "action": ["opened"]},
            "payload.action: expected a string, found ['opened']",
            id="a list as action",
        ),
    ],
)
def test_malformed_payloads_raise_one_clear_error(event: str, make: Any, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        route(event, make(payload("pull_request/opened.payload.json")), "d", DEFAULT)
    assert str(caught.value) == message


PAYLOADS = [
    ("pull_request", "pull_request/synchronize.payload.json"),
    ("check_suite", "check_suite/rerequested.payload.json"),
    ("check_run", "check_run/requested_action.payload.json"),
    ("check_run", "check_run/rerequested.payload.json"),
    ("issue_comment", "issue_comment/created.with-installation.payload.json"),
    ("installation", "installation/created.payload.json"),
    ("installation_repositories", "installation_repositories/added.payload.json"),
]
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_a_damaged_payload_is_routed_or_rejected_but_never_crashes(data: st.DataObject) -> None:
    event, name = data.draw(st.sampled_from(PAYLOADS))
    damaged = copy.deepcopy(payload(name))
    if event == "issue_comment":
        damaged["issue"]["pull_request"] = {"url": "u"}
        damaged["comment"]["body"] = "/emac recompute"
    node: Any = damaged
    # Walk down a random path of keys, then replace what is there with junk.
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        if not isinstance(node, dict) or not node:
            break
        key = data.draw(st.sampled_from(sorted(node)))
        if isinstance(node[key], dict) and node[key] and data.draw(st.booleans()):
            node = node[key]
            continue
        node[key] = data.draw(JUNK)
        break
    try:
        routing = route(event, damaged, "d", DEFAULT)
    except PayloadError:
        return
    for job in routing.jobs:
        assert Job.from_json(job.to_json()) == job
