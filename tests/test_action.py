"""The Action end to end: real webhook payloads, a real git checkout, the one fake GitHub."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
import github
import pytest

from bot.github.action import CHECK_NAME, default_github, run_action
from bot.github.payloads import STICKY_MARKER
from bot.review.demo import DEMO_AUTHOR, DemoRepo, build_demo_repo
from tests.builders import accepted_model_yaml
from tests.fakegithub import FakeGitHub, webhook_payload

REPO = "Codertocat/Hello-World"  # the repository named in the recorded webhook payloads
PR = 2
TOKEN = "ghs_test_token"


@dataclass(frozen=True)
class Runner:
    """What the Actions runner hands the step, and the files it reads back afterwards."""

    env: dict[str, str]
    output: Path
    summary: Path

    def outputs(self) -> dict[str, str]:
        return parse_output_file(self.output.read_text(encoding="utf-8"))


def parse_output_file(text: str) -> dict[str, str]:
    """The runner's reading of GITHUB_OUTPUT: `name=value` lines and `name<<DELIM` blocks."""
    values: dict[str, str] = {}
    lines = iter(text.split("\n"))
    for line in lines:
        if "<<" in line:
            name, delimiter = line.split("<<", 1)
            block: list[str] = []
            for inner in lines:
                if inner == delimiter:
                    break
                block.append(inner)
            else:
                raise AssertionError(f"output {name}: delimiter {delimiter} never closed")
            values[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def pr_payload(action: str, base: str, head: str, head_repo: str | None = None) -> dict[str, Any]:
    """A recorded pull_request delivery, pointed at our commits (and optionally at a fork)."""
    payload = webhook_payload(f"pull_request/{action}.payload.json")
    pull = payload["pull_request"]
    assert pull["number"] == PR and pull["base"]["repo"]["full_name"] == REPO
    pull["base"]["sha"], pull["head"]["sha"] = base, head
    if head_repo is not None:
        pull["head"]["repo"]["full_name"] = head_repo
        pull["head"]["repo"]["fork"] = True
    return payload


def runner(
    tmp_path: Path,
    workspace: Path,
    payload: dict[str, Any],
    event: str = "pull_request",
    **inputs: str,
) -> Runner:
    event_file, output, summary = (
        tmp_path / "event.json",
        tmp_path / "github_output",
        tmp_path / "step_summary",
    )
    event_file.write_text(json.dumps(payload), encoding="utf-8")
    output.write_text("earlier-step=kept\n", encoding="utf-8")
    summary.write_text("", encoding="utf-8")
    env = {
        "GITHUB_EVENT_PATH": str(event_file),
        "GITHUB_EVENT_NAME": event,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
        "INPUT_TOKEN": TOKEN,
        "INPUT_COMMENT": "true",
        "INPUT_REVIEW-IS-NEUTRAL": "false",
    }
    env.update({f"INPUT_{name.upper().replace('_', '-')}": value for name, value in inputs.items()})
    return Runner(env, output, summary)


@pytest.fixture
def demo(tmp_path: Path) -> DemoRepo:
    return build_demo_repo(tmp_path / "workspace")


@pytest.fixture
def fake(demo: DemoRepo) -> Any:
    with FakeGitHub() as gh:
        gh.repo(REPO)
        gh.open_pull(REPO, PR, head_ref="move-west-provider", head_sha=demo.head)
        yield gh


def factory_for(fake: FakeGitHub, seen: list[tuple[str, str]] | None = None) -> Any:
    def build(token: str, api_url: str) -> github.Github:
        if seen is not None:
            seen.append((token, api_url))
        return fake.client()

    return build


def error_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("::error")]


# The demo PR moves the west card provider onto the shared card network: FAIL.
DEMO_ERRORS = [
    "::error file=checkout/spec/checkout.yaml,line=58,title=checkout%3A FAIL::"
    "spec.components.card-provider-west.failureDomains[0]: card-network-west → card-network%0A"
    "pessimistic 0.99747706 → 0.99251449 (-0.00496257) ↓",
    "::error file=checkout/spec/checkout.yaml,line=61,title=checkout%3A FAIL::"
    "spec.failureDomains.rules[3]: removed (was {name: card-network-west, kind: declared, "
    "description: the west provider's own acquiring network})%0A"
    "pessimistic 0.99747706 → 0.99251449 (-0.00496257) ↓",
]


def test_a_failing_pull_request_gets_a_failed_check_a_comment_outputs_and_exit_1(
    tmp_path: Path, demo: DemoRepo, fake: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    run = runner(tmp_path, demo.path, pr_payload("synchronize", demo.base, demo.head))
    seen: list[tuple[str, str]] = []

    code = run_action(run.env, github_factory=factory_for(fake, seen))

    assert code == 1
    assert seen == [(TOKEN, "https://api.github.com")]
    (run_id,) = fake.repos[REPO].check_runs
    assert fake.sequence() == [
        ("POST", f"/repos/{REPO}/check-runs"),
        ("PATCH", f"/repos/{REPO}/check-runs/{run_id}"),
        ("GET", f"/repos/{REPO}/pulls/{PR}"),
        ("GET", f"/repos/{REPO}/issues/{PR}/comments?per_page=100"),
        ("POST", f"/repos/{REPO}/issues/{PR}/comments"),
    ]
    start, complete = fake.calls[0].body, fake.calls[1].body
    assert start["status"] == "in_progress" and start["head_sha"] == demo.head
    assert start["name"] == CHECK_NAME
    assert start["details_url"] == f"https://github.com/{REPO}/actions/runs/4242"
    assert complete["conclusion"] == "failure"
    assert complete["output"]["title"] == "EmaC: 1 FAIL"
    assert [a["start_line"] for a in complete["output"]["annotations"]] == [58, 61]

    comment = fake.calls[4].body["body"]
    assert comment.startswith(f"{STICKY_MARKER}\n<!-- emac-bot:head={demo.head} -->\n")
    assert comment.count("emac-bot:head=") == 1  # render's own hidden lines were stripped
    assert comment.count(STICKY_MARKER) == 1
    assert "## ❌ EmaC journey bounds: 1 FAIL" in comment

    out = capsys.readouterr().out
    assert error_lines(out) == DEMO_ERRORS

    outputs = run.outputs()
    assert outputs["earlier-step"] == "kept"
    assert {k: outputs[k] for k in ("decision", "conclusion", "gating-bound", "journeys")} == {
        "decision": "FAIL",
        "conclusion": "failure",
        "gating-bound": "pessimistic",
        "journeys": "1",
    }
    deltas = json.loads(outputs["deltas"])
    assert set(deltas) == {"checkout"} and deltas["checkout"]["bound"] == "pessimistic"
    assert deltas["checkout"]["base"] == pytest.approx(0.99747706, abs=5e-9)
    assert deltas["checkout"]["head"] == pytest.approx(0.99251449, abs=5e-9)
    assert deltas["checkout"]["delta"] == pytest.approx(-0.00496257, abs=1e-8)
    assert "\n" not in outputs["deltas"] and " " not in outputs["deltas"]

    summary = run.summary.read_text(encoding="utf-8")
    assert summary.startswith("## EmaC journey bounds: 1 FAIL\n")
    assert "| checkout | ❌ FAIL |" in summary
    assert f"Base {demo.base} · head {demo.head}" in summary


def test_running_twice_on_the_same_head_leaves_the_comment_unchanged(
    tmp_path: Path, demo: DemoRepo, fake: FakeGitHub
) -> None:
    run = runner(tmp_path, demo.path, pr_payload("synchronize", demo.base, demo.head))
    assert run_action(run.env, github_factory=factory_for(fake)) == 1
    fake.forget_calls()

    assert run_action(run.env, github_factory=factory_for(fake)) == 1

    assert [c for c in fake.sequence() if "comments" in c[1]] == [
        ("GET", f"/repos/{REPO}/issues/{PR}/comments?per_page=100")
    ]
    assert len(fake.repos[REPO].comments[PR]) == 1


def docs_only_commit(demo: DemoRepo) -> str:
    repo = git.Repo(demo.path)
    (demo.path / "README.md").write_text("Shop journeys, reviewed by emac-bot. Now with docs.\n")
    repo.index.add(["README.md"])
    commit = repo.index.commit(
        "Reword the README",
        author=DEMO_AUTHOR,
        committer=DEMO_AUTHOR,
        author_date="2026-01-07T09:00:00",
        commit_date="2026-01-07T09:00:00",
    )
    return commit.hexsha


FEED_ACCEPTED_AT_LOW_CONFIDENCE = accepted_model_yaml("feed", confidence=0.6)


def low_confidence_commit(demo: DemoRepo) -> str:
    """Accept the feed journey's model at confidence 0.6: below 0.80, so the feed needs REVIEW."""
    repo = git.Repo(demo.path)
    (demo.path / "journeys" / "feed" / "accepted.yaml").write_text(FEED_ACCEPTED_AT_LOW_CONFIDENCE)
    repo.git.add(A=True)
    commit = repo.index.commit(
        "Accept the feed model",
        author=DEMO_AUTHOR,
        committer=DEMO_AUTHOR,
        author_date="2026-01-07T09:00:00",
        commit_date="2026-01-07T09:00:00",
    )
    return commit.hexsha


@pytest.mark.parametrize(
    ("neutral", "conclusion", "code"),
    [
        pytest.param("false", "action_required", 1, id="a REVIEW blocks the step by default"),
        pytest.param("true", "neutral", 0, id="review-is-neutral makes a REVIEW pass as neutral"),
    ],
)
def test_a_journey_needing_review(
    tmp_path: Path, demo: DemoRepo, neutral: str, conclusion: str, code: int
) -> None:
    head = low_confidence_commit(demo)
    run = runner(
        tmp_path, demo.path, pr_payload("synchronize", demo.head, head), review_is_neutral=neutral
    )
    with FakeGitHub() as fake:
        fake.repo(REPO)
        fake.open_pull(REPO, PR, head_ref="move-west-provider", head_sha=head)

        assert run_action(run.env, github_factory=factory_for(fake)) == code

    (check,) = fake.repos[REPO].check_runs.values()
    assert check["conclusion"] == conclusion
    assert check["details_url"] == f"https://github.com/{REPO}/actions/runs/4242"
    outputs = run.outputs()
    assert (outputs["decision"], outputs["conclusion"]) == ("REVIEW", conclusion)
    assert set(json.loads(outputs["deltas"])) == {"feed"}


def test_a_docs_only_pull_request_gets_a_success_check_and_no_comment(
    tmp_path: Path, demo: DemoRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    head = docs_only_commit(demo)
    run = runner(tmp_path, demo.path, pr_payload("opened", demo.head, head))
    with FakeGitHub() as fake:
        fake.repo(REPO)
        fake.open_pull(REPO, PR, head_ref="move-west-provider", head_sha=head)

        code = run_action(run.env, github_factory=factory_for(fake))

    assert code == 0
    (run_id,) = fake.repos[REPO].check_runs
    # The bot only looks for a comment an earlier head left (to bring it up to date); there is
    # none, so nothing is written.
    assert fake.sequence() == [
        ("POST", f"/repos/{REPO}/check-runs"),
        ("PATCH", f"/repos/{REPO}/check-runs/{run_id}"),
        ("GET", f"/repos/{REPO}/pulls/{PR}"),
        ("GET", f"/repos/{REPO}/issues/{PR}/comments?per_page=100"),
    ]
    assert fake.calls[1].body["conclusion"] == "success"
    assert fake.calls[1].body["output"]["title"] == "No journey affected"
    assert fake.repos[REPO].comments.get(PR, []) == []
    assert error_lines(capsys.readouterr().out) == []
    outputs = run.outputs()
    assert (outputs["decision"], outputs["conclusion"], outputs["journeys"]) == (
        "NONE",
        "success",
        "0",
    )
    assert outputs["deltas"] == "{}" and outputs["gating-bound"] == ""
    assert "No journey affected." in run.summary.read_text(encoding="utf-8")


def test_a_fork_pull_request_writes_nothing_to_github_but_still_fails_the_step(
    tmp_path: Path, demo: DemoRepo, fake: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = pr_payload("opened", demo.base, demo.head, head_repo="forker/Hello-World")
    run = runner(tmp_path, demo.path, payload)

    code = run_action(run.env, github_factory=factory_for(fake))

    assert code == 1
    assert fake.calls == []
    out = capsys.readouterr().out
    assert (
        "::warning title=EmaC journey bounds::not writing to GitHub: the pull request comes from "
        "the fork forker/Hello-World, whose workflow token is read-only" in out
    )
    assert error_lines(out) == DEMO_ERRORS
    assert run.outputs()["decision"] == "FAIL"
    assert "| checkout | ❌ FAIL |" in run.summary.read_text(encoding="utf-8")


def test_a_fork_pull_request_under_pull_request_target_is_reported_with_its_write_token(
    tmp_path: Path, demo: DemoRepo, fake: FakeGitHub
) -> None:
    payload = pr_payload("opened", demo.base, demo.head, head_repo="forker/Hello-World")
    run = runner(tmp_path, demo.path, payload, event="pull_request_target")

    assert run_action(run.env, github_factory=factory_for(fake)) == 1

    assert fake.sequence()[0] == ("POST", f"/repos/{REPO}/check-runs")
    assert len(fake.repos[REPO].comments[PR]) == 1


def test_a_403_on_check_creation_falls_back_to_commit_statuses(
    tmp_path: Path, demo: DemoRepo, fake: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.fail(
        "POST",
        f"/repos/{REPO}/check-runs",
        403,
        body={
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/checks/runs#create-a-check-run",
        },
    )
    run = runner(tmp_path, demo.path, pr_payload("synchronize", demo.base, demo.head))

    code = run_action(run.env, github_factory=factory_for(fake))

    assert code == 1
    assert fake.sequence() == [
        ("POST", f"/repos/{REPO}/check-runs"),
        ("POST", f"/repos/{REPO}/statuses/{demo.head}"),
        ("POST", f"/repos/{REPO}/statuses/{demo.head}"),
        ("GET", f"/repos/{REPO}/pulls/{PR}"),
        ("GET", f"/repos/{REPO}/issues/{PR}/comments?per_page=100"),
        ("POST", f"/repos/{REPO}/issues/{PR}/comments"),
    ]
    target = f"https://github.com/{REPO}/actions/runs/4242"
    assert fake.repos[REPO].statuses == [
        {
            "sha": demo.head,
            "state": "pending",
            "description": "reviewing journey bounds",
            "context": CHECK_NAME,
            "target_url": target,
        },
        {
            "sha": demo.head,
            "state": "failure",
            "description": "EmaC: 1 FAIL",
            "context": CHECK_NAME,
            "target_url": target,
        },
    ]
    assert "may not create check runs (HTTP 403): reporting a commit status" in (
        capsys.readouterr().out
    )


def test_a_403_on_the_comment_is_a_warning_and_the_outputs_are_still_written(
    tmp_path: Path, demo: DemoRepo, fake: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.fail(
        "POST",
        f"/repos/{REPO}/issues/{PR}/comments",
        403,
        body={"message": "Resource not accessible by integration"},
    )
    run = runner(tmp_path, demo.path, pr_payload("synchronize", demo.base, demo.head))

    code = run_action(run.env, github_factory=factory_for(fake))

    assert code == 1
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if line.startswith("::warning")]
    assert len(warnings) == 1 and "HTTP 403" in warnings[0]
    assert error_lines(out) == DEMO_ERRORS
    assert run.outputs()["conclusion"] == "failure"


def test_the_comment_input_false_skips_the_comment(
    tmp_path: Path, demo: DemoRepo, fake: FakeGitHub
) -> None:
    run = runner(
        tmp_path, demo.path, pr_payload("synchronize", demo.base, demo.head), comment="false"
    )

    assert run_action(run.env, github_factory=factory_for(fake)) == 1

    assert not any("comments" in path for _, path in fake.sequence())


def test_a_shallow_checkout_fetches_the_missing_base_once_and_reviews(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    origin = build_demo_repo(tmp_path / "origin")
    workspace = tmp_path / "checkout"
    git.Repo.clone_from(f"file://{origin.path}", workspace, depth=1, branch="move-west-provider")
    run = runner(tmp_path, workspace, pr_payload("synchronize", origin.base, origin.head))
    del run.env["INPUT_TOKEN"]  # no token: review only

    code = run_action(run.env)

    assert code == 1
    out = capsys.readouterr().out
    assert f"Fetching {origin.base[:12]} (not in the checkout) from origin" in out
    assert error_lines(out) == DEMO_ERRORS
    assert git.Repo(workspace).commit(origin.base).hexsha == origin.base


def test_a_base_commit_that_cannot_be_fetched_fails_the_check_with_the_fetch_advice(
    tmp_path: Path, demo: DemoRepo, fake: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = "1" * 40
    run = runner(tmp_path, demo.path, pr_payload("synchronize", missing, demo.head))

    code = run_action(run.env, github_factory=factory_for(fake))

    assert code == 2
    out = capsys.readouterr().out
    assert f"::warning title=EmaC journey bounds::git fetch of {missing} failed" in out
    (error,) = error_lines(out)
    assert f"commit '{missing}' is not in the repository" in error
    assert "fetch it (in a shallow clone" in error
    (run_id,) = fake.repos[REPO].check_runs
    check = fake.repos[REPO].check_runs[run_id]
    assert (check["status"], check["conclusion"]) == ("completed", "failure")
    assert check["output"]["title"] == "EmaC could not run the review"
    assert run.outputs()["decision"] == "ERROR"
    assert "could not run" in run.summary.read_text(encoding="utf-8")


def test_a_ghes_api_url_is_where_the_client_is_pointed(tmp_path: Path, demo: DemoRepo) -> None:
    api = "https://ghes.example.com/api/v3"
    run = runner(tmp_path, demo.path, pr_payload("synchronize", demo.base, demo.head))
    run.env["GITHUB_API_URL"] = api
    seen: list[tuple[str, str]] = []
    with FakeGitHub(api) as fake:
        fake.repo(REPO)
        fake.open_pull(REPO, PR, head_ref="move-west-provider", head_sha=demo.head)

        assert run_action(run.env, github_factory=factory_for(fake, seen)) == 1

    assert seen == [(TOKEN, api)]
    assert fake.sequence()[0] == ("POST", f"/api/v3/repos/{REPO}/check-runs")
    assert default_github(TOKEN, api).requester.base_url == api


def test_a_push_event_reviews_the_pushed_range_without_a_comment(
    tmp_path: Path, demo: DemoRepo, fake: FakeGitHub
) -> None:
    payload = {"ref": "refs/heads/move-west-provider", "before": demo.base, "after": demo.head}
    run = runner(tmp_path, demo.path, payload, event="push")

    assert run_action(run.env, github_factory=factory_for(fake)) == 1

    assert [method for method, _ in fake.sequence()] == ["POST", "PATCH"]
    assert fake.calls[0].body["head_sha"] == demo.head


def test_a_push_that_creates_a_branch_is_compared_with_its_parent(
    tmp_path: Path, demo: DemoRepo
) -> None:
    payload = {"ref": "refs/heads/move-west-provider", "before": "0" * 40, "after": demo.head}
    run = runner(tmp_path, demo.path, payload, event="push")
    del run.env["INPUT_TOKEN"]

    assert run_action(run.env) == 1

    assert run.outputs()["decision"] == "FAIL"


def test_an_unsupported_event_is_a_setup_error_and_touches_nothing(
    tmp_path: Path, demo: DemoRepo, fake: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    run = runner(tmp_path, demo.path, {"inputs": {}}, event="workflow_dispatch")

    assert run_action(run.env, github_factory=factory_for(fake)) == 2

    assert fake.calls == []
    assert error_lines(capsys.readouterr().out) == [
        "::error title=EmaC journey bounds::event 'workflow_dispatch' is not supported: run on "
        "pull_request, pull_request_target, merge_group or push"
    ]
