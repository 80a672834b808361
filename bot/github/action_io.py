"""The Actions runner's interface: event, variables, inputs in; commands, outputs, summary out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUTPUT_DELIMITER = "EMAC_OUTPUT_EOF"
ANNOTATION_COMMANDS = {"failure": "error", "warning": "warning", "notice": "notice"}
TRUE_WORDS = frozenset({"true", "True", "TRUE"})
FALSE_WORDS = frozenset({"false", "False", "FALSE"})
ZERO_SHA = "0" * 40
PR_EVENTS = ("pull_request", "pull_request_target")


class ActionInputError(ValueError):
    """An input or runner variable the Action cannot use; the message says which and why."""


def input_value(env: Mapping[str, str], name: str, default: str = "") -> str:
    """An action input: the runner passes input `my-input` as `INPUT_MY-INPUT` (hyphens kept).

    `INPUT_MY_INPUT` is accepted too, for shells that cannot export a hyphenated name.
    """
    key = "INPUT_" + name.replace(" ", "_").upper()
    for candidate in (key, key.replace("-", "_")):
        value = env.get(candidate)
        if value is not None and value.strip():
            return value.strip()
    return default


def bool_input(env: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean input, read as the Actions toolkit does (YAML 1.2 core true/false spellings)."""
    value = input_value(env, name)
    if not value:
        return default
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ActionInputError(
        f"input '{name}' must be true or false (YAML 1.2 core schema), found {value!r}"
    )


@dataclass(frozen=True)
class ActionEvent:
    """What the triggering event asks to review: two revisions and, for a PR, where it lives."""

    name: str
    base: str  # a commit SHA, or "<sha>^" for a push that opened a branch
    head: str
    pr_number: int | None = None
    base_repo: str | None = None
    head_repo: str | None = None  # None for a PR whose fork was deleted

    @property
    def from_fork(self) -> bool:
        if self.pr_number is None:
            return False
        return (self.head_repo or "").lower() != (self.base_repo or "").lower()


@dataclass(frozen=True)
class ActionContext:
    """Everything the step reads from the runner, read once at start."""

    repository: str
    event: ActionEvent
    workspace: Path
    api_url: str
    token: str | None
    summary_path: Path | None
    output_path: Path | None
    details_url: str | None
    comment: bool
    review_is_neutral: bool

    @property
    def write_blocker(self) -> str | None:
        """Why this run must not write to GitHub, or None when it may."""
        if not self.token:
            return "no token was given (input 'token' or GITHUB_TOKEN)"
        if self.event.name == "pull_request" and self.event.from_fork:
            # GitHub gives `pull_request` runs from forks a read-only token.
            return (
                f"the pull request comes from the fork {self.event.head_repo or '(deleted)'}, "
                "whose workflow token is read-only"
            )
        return None


def _field(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise ActionInputError(f"event payload has no '{path}'")
        value = value[key]
    return value


def _sha(data: Mapping[str, Any], path: str) -> str:
    value = _field(data, path)
    if not isinstance(value, str) or len(value) not in (40, 64):
        raise ActionInputError(f"event payload '{path}' is not a commit SHA: {value!r}")
    return value


def event_revisions(name: str, payload: Mapping[str, Any]) -> ActionEvent:
    """Base and head of a pull_request(_target), merge_group or push event payload."""
    if name in PR_EVENTS:
        pull = _field(payload, "pull_request")
        head_repo = (pull.get("head") or {}).get("repo")
        return ActionEvent(
            name,
            _sha(pull, "base.sha"),
            _sha(pull, "head.sha"),
            pr_number=int(_field(pull, "number")),
            base_repo=str(_field(pull, "base.repo.full_name")),
            head_repo=str(head_repo["full_name"]) if isinstance(head_repo, Mapping) else None,
        )
    if name == "merge_group":
        return ActionEvent(
            name, _sha(payload, "merge_group.base_sha"), _sha(payload, "merge_group.head_sha")
        )
    if name == "push":
        after = _sha(payload, "after")
        if after == ZERO_SHA:
            raise ActionInputError("push deleted the branch: there is nothing to review")
        before = str(payload.get("before") or ZERO_SHA)
        # A push that creates a branch has no `before`: compare with the pushed commit's parent.
        return ActionEvent(name, f"{after}^" if before == ZERO_SHA else before, after)
    raise ActionInputError(
        f"event '{name}' is not supported: run on pull_request, pull_request_target, "
        "merge_group or push"
    )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ActionInputError(f"{name} is not set: run this as a GitHub Actions step")
    return value


def _optional_path(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name, "").strip()
    return Path(value) if value else None


def read_context(env: Mapping[str, str]) -> ActionContext:
    """The runner's variables and inputs; ActionInputError names the first one that is unusable."""
    event_path = Path(_required(env, "GITHUB_EVENT_PATH"))
    try:
        payload = json.loads(event_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ActionInputError(f"cannot read the event payload {event_path}: {exc}") from exc
    repository = _required(env, "GITHUB_REPOSITORY")
    server, run_id = env.get("GITHUB_SERVER_URL", "").rstrip("/"), env.get("GITHUB_RUN_ID", "")
    return ActionContext(
        repository=repository,
        event=event_revisions(_required(env, "GITHUB_EVENT_NAME"), payload),
        workspace=Path(_required(env, "GITHUB_WORKSPACE")),
        api_url=env.get("GITHUB_API_URL", "").strip() or "https://api.github.com",
        token=input_value(env, "token") or env.get("GITHUB_TOKEN", "").strip() or None,
        summary_path=_optional_path(env, "GITHUB_STEP_SUMMARY"),
        output_path=_optional_path(env, "GITHUB_OUTPUT"),
        details_url=f"{server}/{repository}/actions/runs/{run_id}" if server and run_id else None,
        comment=bool_input(env, "comment", True),
        review_is_neutral=bool_input(env, "review-is-neutral", False),
    )


def escape_data(text: str) -> str:
    """A workflow command's message: '%', CR and LF would end or corrupt the command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: ':' and ',' also delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(
    command: str, message: str, properties: Mapping[str, str | int | None] | None = None
) -> str:
    """`::command key=value,key=value::message`, properties in the given order, None dropped."""
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in (properties or {}).items()
        if value is not None and value != ""
    )
    return f"::{command}{' ' + props if props else ''}::{escape_data(message)}"


def annotation_command(annotation: Mapping[str, Any]) -> str:
    """A check-run annotation (`path`, `start_line`, `annotation_level`, ...) as a log command."""
    command = ANNOTATION_COMMANDS[str(annotation["annotation_level"])]
    start, end = int(annotation["start_line"]), int(annotation["end_line"])
    properties: dict[str, str | int | None] = {
        "file": str(annotation["path"]),
        "line": start,
        "endLine": end if end != start else None,
        "col": annotation.get("start_column"),
        "endColumn": annotation.get("end_column"),
        "title": annotation.get("title"),
    }
    return workflow_command(command, str(annotation["message"]), properties)


def output_delimiter(name: str, value: str) -> str:
    """A fixed delimiter for `name<<DELIM`, lengthened until neither name nor value contains it.

    The runner ends the value at the first line equal to the delimiter; a delimiter that is not
    a substring at all cannot be such a line. Deterministic, so the same outputs give the same
    file (no random text, unlike the toolkit's UUID).
    """
    delimiter, suffix = OUTPUT_DELIMITER, 0
    while delimiter in value or delimiter in name:
        suffix += 1
        delimiter = f"{OUTPUT_DELIMITER}_{suffix}"
    return delimiter


def format_output(name: str, value: str) -> str:
    """One output in the `GITHUB_OUTPUT` file's multiline-safe `name<<DELIM` form."""
    if not name or "\n" in name or "\r" in name or "<<" in name or "=" in name:
        raise ValueError(f"output name {name!r} cannot be written to GITHUB_OUTPUT")
    delimiter = output_delimiter(name, value)
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def append_outputs(path: Path, outputs: Mapping[str, str]) -> None:
    """Add outputs to the step's `GITHUB_OUTPUT` file (other steps' lines are kept)."""
    text = "".join(format_output(name, value) for name, value in outputs.items())
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def append_summary(path: Path, markdown: str) -> None:
    """Add Markdown to the job summary (`GITHUB_STEP_SUMMARY`), ending it with a newline."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
