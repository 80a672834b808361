"""The Action's runner protocols and event reading, one rule per case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.github import action_io
from bot.github.action import effective_conclusion, exit_code_for
from bot.github.action_io import ActionEvent, event_revisions, read_context
from bot.review.model import Conclusion
from tests.fakegithub import webhook_payload
from tests.test_action import parse_output_file

BASE, HEAD = "a" * 40, "b" * 40


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        pytest.param("100% done", "100%25 done", id="a percent sign is escaped first"),
        pytest.param("one\r\ntwo", "one%0D%0Atwo", id="CR and LF are escaped"),
        pytest.param("a:b,c", "a:b,c", id="colons and commas are left alone in a message"),
        pytest.param("%0A", "%250A", id="an already escaped text is escaped again, not decoded"),
    ],
)
def test_message_escaping(text: str, escaped: str) -> None:
    assert action_io.escape_data(text) == escaped


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        pytest.param("a:b,c", "a%3Ab%2Cc", id="colons and commas in a property are escaped"),
        pytest.param("50%\n", "50%25%0A", id="percent and newline in a property are escaped"),
    ],
)
def test_property_escaping(text: str, escaped: str) -> None:
    assert action_io.escape_property(text) == escaped


@pytest.mark.parametrize(
    ("annotation", "line"),
    [
        pytest.param(
            {
                "path": "spec/a,b.yaml",
                "start_line": 3,
                "end_line": 3,
                "annotation_level": "failure",
                "title": "checkout: FAIL",
                "message": "pessimistic 0.99 < 0.995\nsee budget",
            },
            "::error file=spec/a%2Cb.yaml,line=3,title=checkout%3A FAIL::"
            "pessimistic 0.99 < 0.995%0Asee budget",
            id="a failure becomes an error command with escaped properties and message",
        ),
        pytest.param(
            {
                "path": "spec/x.yaml",
                "start_line": 4,
                "end_line": 9,
                "annotation_level": "warning",
                "message": "pending model",
            },
            "::warning file=spec/x.yaml,line=4,endLine=9::pending model",
            id="a multi-line warning keeps its end line and has no title",
        ),
        pytest.param(
            {
                "path": "spec/y.yaml",
                "start_line": 2,
                "end_line": 2,
                "annotation_level": "notice",
                "title": "ok",
                "message": "PASS",
            },
            "::notice file=spec/y.yaml,line=2,title=ok::PASS",
            id="a notice stays a notice",
        ),
    ],
)
def test_annotations_become_workflow_commands(annotation: dict[str, Any], line: str) -> None:
    assert action_io.annotation_command(annotation) == line


def test_a_command_without_properties_has_no_space_before_its_message() -> None:
    assert action_io.workflow_command("warning", "careful", {}) == "::warning::careful"


@pytest.mark.parametrize(
    ("value", "delimiter"),
    [
        pytest.param("FAIL", "EMAC_OUTPUT_EOF", id="a plain value uses the base delimiter"),
        pytest.param(
            "x\nEMAC_OUTPUT_EOF\ny", "EMAC_OUTPUT_EOF_1", id="a value holding it gets the next one"
        ),
        pytest.param(
            "EMAC_OUTPUT_EOF EMAC_OUTPUT_EOF_1",
            "EMAC_OUTPUT_EOF_2",
            id="a value holding the first two gets the third",
        ),
    ],
)
def test_output_delimiters_never_occur_in_the_value(value: str, delimiter: str) -> None:
    assert action_io.output_delimiter("deltas", value) == delimiter
    written = action_io.format_output("deltas", value)
    assert parse_output_file(written) == {"deltas": value}
    assert written == action_io.format_output("deltas", value)  # deterministic


def test_outputs_are_appended_after_earlier_steps_lines(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text("earlier=1\n", encoding="utf-8")
    action_io.append_outputs(path, {"decision": "FAIL", "note": "two\nlines"})
    assert parse_output_file(path.read_text(encoding="utf-8")) == {
        "earlier": "1",
        "decision": "FAIL",
        "note": "two\nlines",
    }


def test_an_output_name_that_would_break_the_file_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be written"):
        action_io.format_output("a<<b", "x")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param({}, False, id="an absent input takes its default"),
        pytest.param({"INPUT_REVIEW-IS-NEUTRAL": "true"}, True, id="the runner's hyphenated name"),
        pytest.param({"INPUT_REVIEW_IS_NEUTRAL": "TRUE"}, True, id="an underscored name too"),
        pytest.param({"INPUT_REVIEW-IS-NEUTRAL": "False"}, False, id="False is false"),
        pytest.param({"INPUT_REVIEW-IS-NEUTRAL": "  "}, False, id="blank means the default"),
    ],
)
def test_boolean_inputs(env: dict[str, str], expected: bool) -> None:
    assert action_io.bool_input(env, "review-is-neutral", False) is expected


def test_a_boolean_input_that_is_not_true_or_false_is_refused_by_name() -> None:
    with pytest.raises(action_io.ActionInputError, match="input 'comment' must be true or false"):
        action_io.bool_input({"INPUT_COMMENT": "yes"}, "comment", True)


@pytest.mark.parametrize(
    ("conclusion", "neutral", "effective", "code"),
    [
        pytest.param("success", False, "success", 0, id="PASS passes"),
        pytest.param("neutral", False, "neutral", 0, id="a neutral review passes"),
        pytest.param("failure", True, "failure", 1, id="FAIL fails even with review-is-neutral"),
        pytest.param("action_required", False, "action_required", 1, id="REVIEW blocks"),
        pytest.param(
            "action_required", True, "neutral", 0, id="REVIEW passes when review-is-neutral"
        ),
    ],
)
def test_exit_codes(conclusion: Conclusion, neutral: bool, effective: str, code: int) -> None:
    assert effective_conclusion(conclusion, neutral) == effective
    assert exit_code_for(effective_conclusion(conclusion, neutral)) == code


def test_a_recorded_pull_request_event_names_base_head_and_repositories() -> None:
    payload = webhook_payload("pull_request/synchronize.payload.json")
    event = event_revisions("pull_request", payload)
    assert event == ActionEvent(
        "pull_request",
        "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
        "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        pr_number=2,
        base_repo="Codertocat/Hello-World",
        head_repo="Codertocat/Hello-World",
    )
    assert not event.from_fork


def test_a_pull_request_whose_fork_was_deleted_counts_as_a_fork() -> None:
    payload = webhook_payload("pull_request/opened.payload.json")
    payload["pull_request"]["head"]["repo"] = None
    assert event_revisions("pull_request_target", payload).from_fork


def test_a_merge_group_event_reviews_the_queue_entry() -> None:
    payload = {"action": "checks_requested", "merge_group": {"base_sha": BASE, "head_sha": HEAD}}
    assert event_revisions("merge_group", payload) == ActionEvent("merge_group", BASE, HEAD)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param({"before": BASE}, "event payload has no 'after'", id="a push without after"),
        pytest.param(
            {"before": BASE, "after": "0" * 40},
            "push deleted the branch",
            id="a branch deletion has nothing to review",
        ),
        pytest.param(
            {"before": BASE, "after": "main"}, "is not a commit SHA", id="after must be a SHA"
        ),
    ],
)
def test_unusable_push_payloads_say_what_is_wrong(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(action_io.ActionInputError, match=message):
        event_revisions("push", payload)


def test_a_missing_runner_variable_is_named(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text("{}", encoding="utf-8")
    with pytest.raises(action_io.ActionInputError, match="GITHUB_REPOSITORY is not set"):
        read_context({"GITHUB_EVENT_PATH": str(event), "GITHUB_EVENT_NAME": "push"})


def test_the_token_input_wins_over_github_token_and_the_api_url_defaults(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(f'{{"before": "{BASE}", "after": "{HEAD}"}}', encoding="utf-8")
    env = {
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_WORKSPACE": str(tmp_path),
        "GITHUB_TOKEN": "from-env",
        "INPUT_TOKEN": "from-input",
    }
    ctx = read_context(env)
    assert (ctx.token, ctx.api_url, ctx.details_url) == (
        "from-input",
        "https://api.github.com",
        None,
    )
    assert ctx.write_blocker is None
    assert read_context({**env, "INPUT_TOKEN": ""}).token == "from-env"
