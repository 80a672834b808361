"""The house rules, checked by the same test command locally and in CI: `mypy --strict` on
`bot/`, ruff lint and ruff format on everything we write."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CHECKED = ["bot", "tests", "benchmarks"]


def _run_tool(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{module} is required in CI: pip install '.[test]'")
        pytest.skip(f"{module} not installed")
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_mypy_strict_finds_nothing_in_bot() -> None:
    run = _run_tool("mypy", "--strict", "bot")
    assert run.returncode == 0, run.stdout + run.stderr


def test_ruff_lint_finds_nothing() -> None:
    run = _run_tool("ruff", "check", "--no-cache", *CHECKED)
    assert run.returncode == 0, run.stdout + run.stderr


def test_ruff_format_leaves_every_file_as_it_is() -> None:
    run = _run_tool("ruff", "format", "--check", "--no-cache", *CHECKED)
    assert run.returncode == 0, run.stdout + run.stderr
