"""The Dockerfile: hadolint clean, plus the rules hadolint cannot see (stages, users, pins)."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT, require_binary

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PINNED_BASE = re.compile(r"python:\d+\.\d+\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?")


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        out.append((keyword.upper(), args.strip()))
        pending = ""
    return out


def stages(parsed: list[tuple[str, str]]) -> tuple[dict[str, str], list[Stage]]:
    args: dict[str, str] = {}
    found: list[Stage] = []
    for keyword, rest in parsed:
        if keyword == "FROM":
            base, _, alias = rest.partition(" AS ")
            found.append(Stage(alias.strip() or str(len(found)), base.strip()))
        elif not found and keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
        else:
            found[-1].instructions.append((keyword, rest))
    return args, found


@pytest.fixture(scope="module")
def parsed() -> tuple[dict[str, str], list[Stage]]:
    return stages(instructions(DOCKERFILE.read_text(encoding="utf-8")))


def test_hadolint_finds_nothing() -> None:
    hadolint = require_binary("hadolint", "HADOLINT")
    run = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")


def test_hadolint_is_a_real_linter_that_reports_add(tmp_path: Path) -> None:
    hadolint = require_binary("hadolint", "HADOLINT")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11.7-slim-bookworm\nADD . /app\n", encoding="utf-8")
    run = subprocess.run(
        [hadolint, "-f", "json", str(bad)], capture_output=True, text=True, check=False
    )
    assert [r["code"] for r in json.loads(run.stdout)] == ["DL3020"]


def test_every_stage_starts_from_the_pinned_base_or_an_earlier_stage(
    parsed: tuple[dict[str, str], list[Stage]],
) -> None:
    args, found = parsed
    assert PINNED_BASE.fullmatch(args["PYTHON_IMAGE"]), args["PYTHON_IMAGE"]
    names: set[str] = set()
    for stage in found:
        assert stage.base == "${PYTHON_IMAGE}" or stage.base in names, stage.base
        names.add(stage.name)
    assert "latest" not in DOCKERFILE.read_text(encoding="utf-8")


def test_files_are_copied_never_added(parsed: tuple[dict[str, str], list[Stage]]) -> None:
    _, found = parsed
    assert all(stage.all("ADD") == [] for stage in found)


def test_apt_installs_nothing_recommended_and_leaves_no_lists(
    parsed: tuple[dict[str, str], list[Stage]],
) -> None:
    _, found = parsed
    runs = [run for stage in found for run in stage.all("RUN") if "apt-get" in run]
    assert runs
    for run in runs:
        assert "rm -rf /var/lib/apt/lists/*" in run, run
        if "apt-get install" in run:
            assert "--no-install-recommends" in run and " -y " in run, run


def test_pip_keeps_no_cache(parsed: tuple[dict[str, str], list[Stage]]) -> None:
    _, found = parsed
    installs = [run for stage in found for run in stage.all("RUN") if "pip install" in run]
    assert installs
    assert all("--no-cache-dir" in run for run in installs)


def test_promtool_comes_unpacked_from_debian_in_a_builder_stage(
    parsed: tuple[dict[str, str], list[Stage]],
) -> None:
    _, found = parsed
    by_name = {stage.name: stage for stage in found}
    (fetch,) = by_name["promtool"].all("RUN")
    assert "apt-get download prometheus" in fetch and "dpkg -x" in fetch
    assert "--from=promtool /usr/local/bin/promtool /usr/local/bin/promtool" in (
        by_name["runtime"].all("COPY")
    )


def test_the_service_target_runs_as_a_non_root_user_before_its_entrypoint(
    parsed: tuple[dict[str, str], list[Stage]],
) -> None:
    _, found = parsed
    service = next(stage for stage in found if stage.name == "service")
    keywords = [kw for kw, _ in service.instructions]
    (user,) = service.all("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    assert json.loads(service.all("ENTRYPOINT")[0]) == ["emac"]
    assert json.loads(service.all("CMD")[0]) == ["serve"]


def test_the_action_is_the_default_target_and_runs_as_root_as_github_requires(
    parsed: tuple[dict[str, str], list[Stage]],
) -> None:
    _, found = parsed
    action = found[-1]
    assert action.name == "action"
    assert action.all("USER") == []  # GitHub: Docker actions must run as the default user
    assert "git config --system --add safe.directory /github/workspace" in action.all("RUN")
    assert json.loads(action.all("ENTRYPOINT")[0]) == ["emac"]
    assert json.loads(action.all("CMD")[0]) == ["action"]


def test_entrypoints_and_commands_use_the_json_form(
    parsed: tuple[dict[str, str], list[Stage]],
) -> None:
    _, found = parsed
    for stage in found:
        for form in (*stage.all("ENTRYPOINT"), *stage.all("CMD")):
            assert isinstance(json.loads(form), list), form


def _ignored(path: str, patterns: list[str]) -> bool:
    return any(
        fnmatch.fnmatch(path, p.removeprefix("**/")) or path.startswith(p + "/") for p in patterns
    )


def test_everything_copied_from_the_context_exists_and_is_not_ignored(
    parsed: tuple[dict[str, str], list[Stage]],
) -> None:
    _, found = parsed
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = [
        src
        for stage in found
        for copy in stage.all("COPY")
        if not copy.startswith("--from=")
        for src in copy.split()[:-1]
    ]
    assert sources
    for src in sources:
        assert (ROOT / src).exists(), src
        assert not _ignored(src.rstrip("/"), patterns), src
    assert _ignored(".git", patterns) and _ignored("tests", patterns)
