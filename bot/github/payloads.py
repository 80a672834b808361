"""Pure builders of GitHub REST request payloads, with GitHub's documented limits checked."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict, cast

JsonObject = dict[str, Any]

STICKY_MARKER = "<!-- emac-bot:sticky -->"
COMMENT_MAX_CHARS = 65_536
CHECK_OUTPUT_MAX_CHARS = 65_535
ANNOTATIONS_PER_REQUEST = 50
CHECK_ACTIONS_MAX = 3
STATUS_DESCRIPTION_MAX_CHARS = 140
FOLLOWUP_BRANCH_PREFIX = "emac/regenerate/"
FILE_MODE = "100644"

CHECK_CONCLUSIONS = frozenset(
    {"action_required", "cancelled", "failure", "neutral", "success", "skipped", "timed_out"}
)
ANNOTATION_LEVELS = frozenset({"notice", "warning", "failure"})
STATUS_STATES = frozenset({"error", "failure", "pending", "success"})

_HEAD_LINE = re.compile(r"<!-- emac-bot:head=([0-9a-fA-F]{7,64}) -->")
_COMMITTED_LINE = re.compile(r"<!-- emac-bot:committed-at=([0-9T:Z-]+) -->")
_SHA = re.compile(r"[0-9a-fA-F]{40}([0-9a-fA-F]{24})?")


class Annotation(TypedDict):
    """One check-run annotation, as GitHub's `output.annotations[]` item."""

    path: str
    start_line: int
    end_line: int
    annotation_level: str
    message: str
    title: NotRequired[str]
    raw_details: NotRequired[str]
    start_column: NotRequired[int]
    end_column: NotRequired[int]


# Spelled out: with postponed annotations TypedDict cannot tell NotRequired keys apart.
_ANNOTATION_REQUIRED = ("path", "start_line", "end_line", "annotation_level", "message")
_ANNOTATION_OPTIONAL = frozenset({"title", "raw_details", "start_column", "end_column"})


class CheckAction(TypedDict):
    """A button on the check run; GitHub sends `check_run.requested_action` when it is pressed."""

    label: str
    description: str
    identifier: str


# --- sticky comment --------------------------------------------------------------------------


def head_line(head_sha: str) -> str:
    """Hidden line naming the head commit a sticky comment was written for."""
    return f"<!-- emac-bot:head={head_sha} -->"


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("head_committed_at must be timezone-aware (a commit time is an instant)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sticky_comment_body(
    body: str, *, marker: str, head_sha: str, head_committed_at: datetime | None = None
) -> str:
    """The text GitHub stores: marker, hidden head line(s), then the visible body."""
    if not (marker.startswith("<!--") and marker.endswith("-->")):
        raise ValueError(f"sticky marker must be an HTML comment '<!-- ... -->', got {marker!r}")
    if not _SHA.fullmatch(head_sha):
        raise ValueError(f"head_sha must be a full commit SHA, got {head_sha!r}")
    lines = [marker, head_line(head_sha)]
    if head_committed_at is not None:
        lines.append(f"<!-- emac-bot:committed-at={_timestamp(head_committed_at)} -->")
    visible = body[len(marker) :].lstrip("\n") if body.startswith(marker) else body
    return "\n".join([*lines, visible])


def max_sticky_body_chars(marker: str = STICKY_MARKER) -> int:
    """Room left for the visible body once the hidden lines (64-hex SHA, a timestamp) are added."""
    overhead = sticky_comment_body(
        "", marker=marker, head_sha="0" * 64, head_committed_at=datetime(2000, 1, 1, tzinfo=UTC)
    )
    return COMMENT_MAX_CHARS - len(overhead)


def sticky_head(comment_body: str) -> str | None:
    """Head SHA recorded in a sticky comment, if any."""
    found = _HEAD_LINE.search(comment_body)
    return found.group(1) if found else None


def sticky_committed_at(comment_body: str) -> datetime | None:
    """Commit time of the head a sticky comment was written for, if recorded."""
    found = _COMMITTED_LINE.search(comment_body)
    if not found:
        return None
    return datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def sticky_comment_payload(
    body: str, *, marker: str, head_sha: str, head_committed_at: datetime | None = None
) -> JsonObject:
    """Create/edit body of the sticky comment; refuses text GitHub would reject as too long."""
    text = sticky_comment_body(
        body, marker=marker, head_sha=head_sha, head_committed_at=head_committed_at
    )
    if len(text) > COMMENT_MAX_CHARS:
        raise ValueError(
            f"sticky comment is {len(text)} characters with its hidden lines; GitHub accepts at "
            f"most {COMMENT_MAX_CHARS}. Truncate the visible body to "
            f"max_sticky_body_chars() = {max_sticky_body_chars(marker)} characters before posting"
        )
    return {"body": text}


# --- check runs and statuses -----------------------------------------------------------------


def check_run_start_payload(
    head_sha: str, name: str, *, external_id: str, details_url: str | None = None
) -> JsonObject:
    payload: JsonObject = {
        "name": name,
        "head_sha": head_sha,
        "status": "in_progress",
        "external_id": external_id,
    }
    if details_url is not None:
        payload["details_url"] = details_url
    return payload


def _check_annotation(index: int, annotation: Mapping[str, Any]) -> Annotation:
    missing = [key for key in _ANNOTATION_REQUIRED if key not in annotation]
    unknown = sorted(set(annotation) - set(_ANNOTATION_REQUIRED) - _ANNOTATION_OPTIONAL)
    if missing or unknown:
        raise ValueError(
            f"annotation {index}: missing {sorted(missing)}, unknown {unknown}; expected keys "
            "path, start_line, end_line, annotation_level, message (title, raw_details optional)"
        )
    level = annotation["annotation_level"]
    if level not in ANNOTATION_LEVELS:
        raise ValueError(
            f"annotation {index}: annotation_level {level!r} is not one of "
            f"{sorted(ANNOTATION_LEVELS)}"
        )
    lines = (annotation["start_line"], annotation["end_line"])
    if not all(isinstance(line, int) for line in lines) or not 1 <= lines[0] <= lines[1]:
        raise ValueError(
            f"annotation {index}: need 1 <= start_line <= end_line, got "
            f"{annotation['start_line']}..{annotation['end_line']}"
        )
    columns = {"start_column", "end_column"} & set(annotation)
    if columns and annotation["start_line"] != annotation["end_line"]:
        raise ValueError(f"annotation {index}: columns are only allowed on a single-line range")
    return cast(Annotation, dict(annotation))


def _check_action(action: Mapping[str, str]) -> CheckAction:
    limits = {"label": 20, "description": 40, "identifier": 20}
    for key, limit in limits.items():
        value = action.get(key)
        if not value or len(value) > limit:
            raise ValueError(f"check run action {key} must be 1..{limit} characters: {value!r}")
    return CheckAction(
        label=action["label"], description=action["description"], identifier=action["identifier"]
    )


def check_run_completion_payloads(
    *,
    conclusion: str,
    title: str,
    summary: str,
    text: str,
    annotations: Sequence[Mapping[str, Any]],
    actions: Sequence[Mapping[str, str]] = (),
) -> list[JsonObject]:
    """PATCH bodies completing a check run: the first carries the conclusion, each ≤ 50 annotations.

    GitHub appends the annotations of every update to the run, so later batches resend the same
    title, summary and text with the next annotations only.
    """
    if conclusion not in CHECK_CONCLUSIONS:
        raise ValueError(
            f"conclusion {conclusion!r} is not one of {sorted(CHECK_CONCLUSIONS)} "
            "(only GitHub may set 'stale')"
        )
    for field_name, value in (("summary", summary), ("text", text)):
        if len(value) > CHECK_OUTPUT_MAX_CHARS:
            raise ValueError(
                f"check run {field_name} is {len(value)} characters; "
                f"GitHub accepts at most {CHECK_OUTPUT_MAX_CHARS}"
            )
    if len(actions) > CHECK_ACTIONS_MAX:
        raise ValueError(f"GitHub allows at most {CHECK_ACTIONS_MAX} check run actions")
    checked = [_check_annotation(i, a) for i, a in enumerate(annotations)]
    batches = [
        checked[start : start + ANNOTATIONS_PER_REQUEST]
        for start in range(0, len(checked), ANNOTATIONS_PER_REQUEST)
    ] or [[]]
    payloads: list[JsonObject] = []
    for number, batch in enumerate(batches):
        output: JsonObject = {"title": title, "summary": summary, "text": text}
        if batch:
            output["annotations"] = batch
        payload: JsonObject = {"output": output}
        if number == 0:
            payload = {"status": "completed", "conclusion": conclusion, **payload}
            if actions:
                payload["actions"] = [_check_action(action) for action in actions]
        payloads.append(payload)
    return payloads


def truncate_status_description(description: str) -> str:
    """Fit a commit status description into GitHub's 140 characters, marking the cut."""
    if len(description) <= STATUS_DESCRIPTION_MAX_CHARS:
        return description
    return description[: STATUS_DESCRIPTION_MAX_CHARS - 1] + "…"


def commit_status_payload(
    state: str, description: str, context: str, target_url: str | None = None
) -> JsonObject:
    if state not in STATUS_STATES:
        raise ValueError(f"commit status state {state!r} is not one of {sorted(STATUS_STATES)}")
    payload: JsonObject = {
        "state": state,
        "description": truncate_status_description(description),
        "context": context,
    }
    if target_url is not None:
        payload["target_url"] = target_url
    return payload


# --- git data and pull requests --------------------------------------------------------------


def followup_branch(pr_number: int) -> str:
    return f"{FOLLOWUP_BRANCH_PREFIX}{pr_number}"


def check_repo_path(path: str) -> str:
    """A file path inside the repository: relative, '/'-separated, no '.' or '..' parts."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"not a repository file path: {path!r}")
    return path


def blob_payload(content: bytes) -> JsonObject:
    return {"content": base64.b64encode(content).decode("ascii"), "encoding": "base64"}


def tree_payload(base_tree: str, entries: Mapping[str, str | None]) -> JsonObject:
    """A tree over `base_tree`: path → blob SHA, or None to delete the path (it must exist)."""
    return {
        "base_tree": base_tree,
        "tree": [
            {"path": check_repo_path(path), "mode": FILE_MODE, "type": "blob", "sha": sha}
            for path, sha in sorted(entries.items())
        ],
    }


def commit_payload(message: str, tree: str, parents: Sequence[str]) -> JsonObject:
    # No author or committer: GitHub records the authenticated App's bot, which is how a later
    # run tells its own commits from a person's.
    return {"message": message, "tree": tree, "parents": list(parents)}


def create_ref_payload(branch: str, sha: str) -> JsonObject:
    return {"ref": f"refs/heads/{branch}", "sha": sha}


def update_ref_payload(sha: str, *, force: bool) -> JsonObject:
    return {"sha": sha, "force": force}


def _check_pull_request_body(body: str) -> str:
    if len(body) > COMMENT_MAX_CHARS:
        raise ValueError(
            f"pull request body is {len(body)} characters; GitHub accepts at most "
            f"{COMMENT_MAX_CHARS}: shorten it before calling"
        )
    return body


def pull_request_payload(*, title: str, body: str, head: str, base: str) -> JsonObject:
    return {"title": title, "body": _check_pull_request_body(body), "head": head, "base": base}


def pull_request_edit_payload(*, title: str, body: str) -> JsonObject:
    return {"title": title, "body": _check_pull_request_body(body)}
