"""Every emitted gate query is PromQL that Prometheus itself accepts (checked with promtool)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from bot.compile.pipeline import compile_paths
from bot.compile.result import CompiledJourney
from bot.emit.argo import analysis_template
from bot.emit.flagger import flagger_metric_templates
from tests.conftest import require_binary
from tests.test_emit_gates_support import healthy, shop


def _queries(cj: CompiledJourney) -> list[str]:
    budget = next(
        a["value"] for a in analysis_template(cj)["spec"]["args"] if a["name"] == "error-budget"
    )
    argo = [
        m["provider"]["prometheus"]["query"].replace("{{args.error-budget}}", budget)
        for m in analysis_template(cj)["spec"]["metrics"]
    ]
    flagger = [
        t["spec"]["query"].replace("{{ interval }}", "5m") for t in flagger_metric_templates(cj)
    ]
    return argo + flagger


def _check_with_promtool(queries: list[str], tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    rules = {
        "groups": [
            {
                "name": "gates",
                "rules": [{"record": f"emac:gate_{i}", "expr": q} for i, q in enumerate(queries)],
            }
        ]
    }
    path = tmp_path / "gates.rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(shop, id="good and bad ratio SLIs"),
        pytest.param(healthy, id="a fallback journey"),
    ],
)
def test_builder_journey_queries_parse(build: object, tmp_path: Path) -> None:
    assert callable(build)
    _check_with_promtool(_queries(build()), tmp_path)


def test_paper_checkout_queries_parse(paper_checkout: Path, tmp_path: Path) -> None:
    (cj,) = compile_paths([paper_checkout])
    queries = _queries(cj)
    assert len(queries) == 2 * 7
    _check_with_promtool(queries, tmp_path)
