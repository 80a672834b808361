"""Every class of bad input gets one message with file:line:column and field path, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.compile.pipeline import load_models
from bot.spec.errors import SpecError
from tests.conftest import emac

GOOD = """\
apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata:
  name: shop
spec:
  objectives:
    availability:
      target: 0.99
  operator:
    type: series
    steps:
      - ref: web
      - type: race
        branches:
          - ref: pay-a
          - ref: pay-b
  components:
    web: {availability: 0.999}
    pay-a: {availability: 0.99, failureDomains: [net]}
    pay-b: {availability: 0.99, failureDomains: [net]}
"""


def _errors(tmp_path: Path, text: str, name: str = "journey.yaml") -> list[str]:
    (tmp_path / name).write_text(text)
    with pytest.raises(SpecError) as info:
        load_models([tmp_path])
    return [str(p) for p in info.value.problems]


def test_the_base_spec_is_valid(tmp_path: Path) -> None:
    (tmp_path / "journey.yaml").write_text(GOOD)
    (model,) = load_models([tmp_path])
    assert model.name == "shop"


CASES = [
    pytest.param(
        GOOD.replace("      - ref: web\n", "      - ref: web\n     bad: [\n"),
        "journey.yaml:13:6: malformed YAML: did not find expected key",
        id="malformed YAML names the line and column of the break",
    ),
    pytest.param(
        GOOD.replace("    type: series", "    type: series\n    stpes: []"),
        "journey.yaml:11:5: spec.operator.stpes: unknown key 'stpes' (did you mean \"steps\"?)",
        id="an unknown key is rejected with a suggestion at the key itself",
    ),
    pytest.param(
        GOOD.replace("target: 0.99\n", "target: high\n"),
        "journey.yaml:8:15: spec.objectives.availability.target: Input should be a "
        "valid number, unable to parse string as a number (got 'high')",
        id="a wrong type names the value it found",
    ),
    pytest.param(
        GOOD.replace("target: 0.99\n", "target: 1.5\n"),
        "journey.yaml:8:15: spec.objectives.availability.target: Input should be less "
        "than or equal to 1 (got 1.5)",
        id="a target above 1 is outside (0,1]",
    ),
    pytest.param(
        GOOD.replace("web: {availability: 0.999}", "web: {availability: 0}"),
        "journey.yaml:18:25: spec.components.web.availability: Input should be "
        "greater than 0 (got 0)",
        id="a zero availability is outside (0,1]",
    ),
    pytest.param(
        GOOD.replace("- ref: pay-b", "- ref: pay-c"),
        "journey.yaml:16:18: spec.operator.steps[1].branches[1].ref: unknown component "
        "'pay-c' (did you mean \"pay-b\"?); components: pay-a, pay-b, web",
        id="a leaf naming a missing component is a missing ref",
    ),
    pytest.param(
        GOOD.replace("web: {availability: 0.999}", 'web: {atomicSLORef: "openslo:web-slo"}'),
        "journey.yaml:18:25: spec.components.web.atomicSLORef: no OpenSLO SLO named 'web-slo'",
        id="an atomicSLORef naming a missing OpenSLO SLO is a missing ref",
    ),
    pytest.param(
        GOOD.replace(
            "      - type: race\n        branches:",
            "      - type: branch\n        routes:\n          - weight: 0.7\n"
            "            target: {ref: pay-a}\n          - weight: 0.2\n"
            "            target: {ref: pay-b}\n        branches:",
        ),
        None,
        id="placeholder replaced below",
    ),
    pytest.param(
        GOOD.replace("    type: series", "    type: seres"),
        "journey.yaml:10:5: spec.operator: expected `ref: <component>` or `type:` one of "
        "series, parallel, race, fallback, retry, branch, quorum, optional, async "
        "(got a mapping)",
        id="an unknown operator type lists the known ones",
    ),
    pytest.param(
        GOOD.replace("  name: shop\n", "  name: shop\n  name: shop2\n"),
        "journey.yaml:5:3: metadata.name: duplicate key (the later value would silently win)",
        id="a duplicate key is refused rather than silently overwritten",
    ),
    pytest.param(
        GOOD.replace("kind: JourneyIntent", "kind: JourneyIntnet"),
        "journey.yaml:2:7: kind: unknown kind 'JourneyIntnet' (did you mean \"JourneyIntent\"?)",
        id="an unknown EmaC kind gets a suggestion",
    ),
    pytest.param(
        GOOD.replace("  objectives:\n", "  objectivs:\n"),
        "journey.yaml:6:3: spec.objectivs: unknown key 'objectivs' (did you mean \"objectives\"?)",
        id="a misspelt required block is named, not only reported missing",
    ),
]
# Weights that do not sum to one: built from the base spec.
CASES[7] = pytest.param(
    GOOD.replace(
        "      - type: race\n        branches:\n          - ref: pay-a\n          - ref: pay-b\n",
        "      - type: branch\n        routes:\n          - weight: 0.7\n"
        "            target: {ref: pay-a}\n          - weight: 0.2\n"
        "            target: {ref: pay-b}\n",
    ),
    "journey.yaml:15:11: spec.operator.steps[1].routes: route weights sum to 0.9, expected 1",
    id="branch weights that do not sum to 1 are caught",
)


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_bad_input_is_reported_at_its_location(tmp_path: Path, text: str, expected: str) -> None:
    errors = _errors(tmp_path, text)
    assert expected in errors, errors


def test_a_journey_reference_cycle_is_caught(tmp_path: Path) -> None:
    a = GOOD.replace("name: shop", "name: a").replace("- ref: web", '- ref: "journey:b"')
    b = (
        GOOD.replace("name: shop", "name: b")
        .replace("- ref: web", '- ref: "journey:a"')
        .replace("pay-", "b-pay-")
        .replace("web:", "b-web:")
    )
    (tmp_path / "b.yaml").write_text(b)
    errors = _errors(tmp_path, a, "a.yaml")
    # Each journey's build reports the ref that closes its cycle, in the file where it stands.
    assert "b.yaml:12:14: spec.operator.steps[0].ref: journey reference cycle: a → b → a" in errors
    assert "a.yaml:12:14: spec.operator.steps[0].ref: journey reference cycle: b → a → b" in errors


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "journey.yaml"
    with big.open("w") as fh:
        fh.write("apiVersion: emac.dev/v1alpha1\n# " + "x" * (9 * 1024 * 1024) + "\n")
    with pytest.raises(SpecError) as info:
        load_models([big])
    (problem,) = info.value.problems
    assert "over the 8388608-byte limit" in str(problem)


def test_an_alias_bomb_is_stopped(tmp_path: Path) -> None:
    lines = ["apiVersion: emac.dev/v1alpha1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    errors = _errors(tmp_path, "\n".join(lines) + "\n")
    assert errors == ["journey.yaml:1:1: more than 500000 YAML nodes (alias expansion?)"]


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    text = GOOD.replace("target: 0.99\n", "target: 2\n").replace(
        "    type: series", "    type: series\n    x: 1"
    )
    errors = _errors(tmp_path, text)
    assert len(errors) == 2


def test_a_foreign_broken_yaml_file_in_a_folder_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "journey.yaml").write_text(GOOD)
    (tmp_path / "chart.yaml").write_text("replicas: {{ .Values.replicas }}\n")
    (model,) = load_models([tmp_path])
    assert model.name == "shop"


def test_cli_exits_2_with_the_message_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "journey.yaml").write_text(GOOD.replace("- ref: pay-b", "- ref: pay-c"))
    assert main(["compile", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("journey.yaml:16:18: ")
    assert "Traceback" not in err


def test_cli_subprocess_never_prints_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "journey.yaml").write_bytes(b"\xff\xfe not utf-8")
    proc = emac("compile", str(tmp_path / "journey.yaml"))
    assert proc.returncode == 2
    assert "not UTF-8 text" in proc.stderr
    assert "Traceback" not in proc.stderr
