"""action.yml agrees with the code: declared inputs are read, declared outputs are written."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bot.github import action_io
from bot.github.action import action_outputs
from bot.review.model import ReviewResult
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def metadata() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    return loaded


def test_the_action_is_built_from_the_dockerfile(metadata: dict[str, Any]) -> None:
    assert metadata["runs"] == {"using": "docker", "image": "Dockerfile"}
    assert set(metadata["branding"]) == {"icon", "color"}


def test_the_declared_outputs_are_exactly_the_ones_written(metadata: dict[str, Any]) -> None:
    written = action_outputs(ReviewResult("a" * 40, "b" * 40, [], [], "success", None), "success")
    assert set(metadata["outputs"]) == set(written)
    assert all(spec["description"] for spec in metadata["outputs"].values())


def test_boolean_input_defaults_are_spellings_the_action_accepts(metadata: dict[str, Any]) -> None:
    inputs = metadata["inputs"]
    assert set(inputs) == {"token", "comment", "review-is-neutral"}
    assert inputs["token"]["default"] == "${{ github.token }}"
    # The fallback passed is the opposite of the expected value, so only the YAML default counts.
    expected = {"comment": True, "review-is-neutral": False}
    for name, value in expected.items():
        env = {f"INPUT_{name.upper()}": inputs[name]["default"]}
        assert action_io.bool_input(env, name, not value) is value
