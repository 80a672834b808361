"""Check runs (start, complete, annotations 50 per request) and the commit-status fallback."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from bot.github.gateway import GitHubGateway
from bot.github.retry import GitHubRetryPolicy
from tests.fakegithub import FakeGitHub

REPO = "Codertocat/Hello-World"
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
NAME = "EmaC journey bounds"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.repo(REPO)
        yield fake


@pytest.fixture
def gateway(fake: FakeGitHub) -> GitHubGateway:
    policy = GitHubRetryPolicy(sleep=lambda seconds: None, rng=random.Random(7))
    return GitHubGateway(fake.client(), retry=policy)


def annotation(line: int) -> dict[str, Any]:
    return {
        "path": "spec/emac.checkout.yaml",
        "start_line": line,
        "end_line": line,
        "annotation_level": "warning",
        "message": f"pessimistic bound moved at line {line}",
        "title": "journey bound changed",
    }


def test_check_run_starts_in_progress_and_returns_its_id(
    fake: FakeGitHub, gateway: GitHubGateway
) -> None:
    run_id = gateway.start_check_run(
        REPO, HEAD, NAME, external_id="delivery-72d3162e", details_url="https://emac.example/r/1"
    )

    assert fake.sequence() == [("POST", f"/repos/{REPO}/check-runs")]
    assert fake.calls[0].body == {
        "name": NAME,
        "head_sha": HEAD,
        "status": "in_progress",
        "external_id": "delivery-72d3162e",
        "details_url": "https://emac.example/r/1",
    }
    assert fake.repos[REPO].check_runs[run_id]["status"] == "in_progress"


def test_120_annotations_complete_the_run_in_3_requests_of_at_most_50(
    fake: FakeGitHub, gateway: GitHubGateway
) -> None:
    run_id = gateway.start_check_run(REPO, HEAD, NAME, external_id="d1")
    fake.forget_calls()

    gateway.complete_check_run(
        REPO,
        run_id,
        conclusion="failure",
        title="checkout: FAIL",
        summary="pessimistic 0.99251449 < target 0.995",
        text="details",
        annotations=[annotation(line) for line in range(1, 121)],
    )

    run_path = f"/repos/{REPO}/check-runs/{run_id}"
    assert fake.sequence() == [("PATCH", run_path)] * 3
    bodies = [call.body for call in fake.calls]
    assert [len(body["output"]["annotations"]) for body in bodies] == [50, 50, 20]
    assert bodies[0]["conclusion"] == "failure" and bodies[0]["status"] == "completed"
    assert all("conclusion" not in body for body in bodies[1:])
    assert all(body["output"]["title"] == "checkout: FAIL" for body in bodies)
    run = fake.repos[REPO].check_runs[run_id]
    assert (run["status"], run["conclusion"]) == ("completed", "failure")
    assert [a["start_line"] for a in run["annotations"]] == list(range(1, 121))


def test_run_without_annotations_completes_in_one_request(
    fake: FakeGitHub, gateway: GitHubGateway
) -> None:
    run_id = gateway.start_check_run(REPO, HEAD, NAME, external_id="d1")
    fake.forget_calls()
    actions = [{"label": "Accept model", "description": "Accept the model", "identifier": "accept"}]

    gateway.complete_check_run(
        REPO,
        run_id,
        conclusion="success",
        title="no journey touched",
        summary="nothing to compile",
        text="",
        annotations=[],
        actions=actions,
    )

    assert fake.sequence() == [("PATCH", f"/repos/{REPO}/check-runs/{run_id}")]
    assert fake.calls[0].body == {
        "status": "completed",
        "conclusion": "success",
        "output": {"title": "no journey touched", "summary": "nothing to compile", "text": ""},
        "actions": actions,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"conclusion": "stale"}, "only GitHub", id="stale conclusion is GitHub's"),
        pytest.param({"conclusion": "passed"}, "not one of", id="unknown conclusion"),
        pytest.param(
            {"annotations": [{**annotation(3), "annotation_level": "error"}]},
            "annotation 0: annotation_level 'error'",
            id="annotation level outside notice warning failure",
        ),
        pytest.param(
            {"annotations": [annotation(1), {"path": "a.yaml", "message": "m"}]},
            "annotation 1: missing",
            id="annotation without lines",
        ),
        pytest.param(
            {"annotations": [{**annotation(1), "line": 1}]},
            "unknown ['line']",
            id="annotation with an unknown key",
        ),
        pytest.param(
            {"actions": [{"label": "x" * 21, "description": "d", "identifier": "i"}]},
            "label must be 1..20",
            id="action label longer than 20",
        ),
        pytest.param({"summary": "s" * 65_536}, "summary is 65536", id="summary over 65535"),
    ],
)
def test_invalid_completion_is_refused_before_any_call(
    fake: FakeGitHub, gateway: GitHubGateway, change: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {
        "conclusion": "failure",
        "title": "t",
        "summary": "s",
        "text": "",
        "annotations": [],
        **change,
    }
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        gateway.complete_check_run(REPO, 1, **arguments)
    assert fake.calls == []


def test_commit_status_description_is_cut_to_140_characters(
    fake: FakeGitHub, gateway: GitHubGateway
) -> None:
    description = "checkout pessimistic 0.99251449 < target 0.995; " * 5

    gateway.report_commit_status(
        REPO, HEAD, "failure", description, "emac/bounds", target_url="https://emac.example/r/1"
    )

    assert fake.sequence() == [("POST", f"/repos/{REPO}/statuses/{HEAD}")]
    sent = fake.calls[0].body
    assert len(sent["description"]) == 140
    assert sent["description"] == description[:139] + "…"
    assert sent["state"] == "failure" and sent["context"] == "emac/bounds"
    assert sent["target_url"] == "https://emac.example/r/1"


def test_commit_status_state_outside_github_values_is_refused(
    fake: FakeGitHub, gateway: GitHubGateway
) -> None:
    with pytest.raises(ValueError, match="not one of"):
        gateway.report_commit_status(REPO, HEAD, "neutral", "d", "emac/bounds")
    assert fake.calls == []
