"""The GitHub Actions runner's text protocols: inputs, workflow commands, outputs, job summary."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

OUTPUT_DELIMITER = "EMAC_OUTPUT_EOF"
ANNOTATION_COMMANDS = {"failure": "error", "warning": "warning", "notice": "notice"}
TRUE_WORDS = frozenset({"true", "True", "TRUE"})
FALSE_WORDS = frozenset({"false", "False", "FALSE"})


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
