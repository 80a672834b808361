"""Our strict CRD check: every emitted Argo/Flagger object passes, typos are caught with a path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.compile.pipeline import compile_paths
from bot.compile.result import CompiledJourney
from bot.emit.argo import analysis_template, rollout_steps_snippet
from bot.emit.crd import SCHEMA_FILES, load_schema, validate_crd
from bot.emit.flagger import flagger_canary_analysis, flagger_metric_templates
from tests.test_emit_gates_support import healthy, shop

# Every keyword the validator understands; a schema using another would be silently lax.
SUPPORTED_KEYWORDS = {
    "$comment",
    "$defs",
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "enum",
    "minProperties",
    "maxProperties",
    "dependentRequired",
}


def _emitted(cj: CompiledJourney) -> list[dict[str, Any]]:
    return [
        analysis_template(cj),
        rollout_steps_snippet(cj),
        *flagger_metric_templates(cj),
        flagger_canary_analysis(cj),
    ]


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(shop, id="a failing journey with leaf SLIs"),
        pytest.param(healthy, id="a passing fallback journey"),
    ],
)
def test_every_emitted_object_validates(build: Any) -> None:
    for obj in _emitted(build()):
        assert validate_crd(obj) == []


def test_every_object_emitted_for_the_paper_checkout_validates(paper_checkout: Path) -> None:
    (cj,) = compile_paths([paper_checkout])
    objects = _emitted(cj)
    assert len(objects) == 2 + 7 + 1
    assert all(validate_crd(obj) == [] for obj in objects)


def _template() -> dict[str, Any]:
    return analysis_template(shop())


def _typo(obj: dict[str, Any], path: tuple[str | int, ...], new_key: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    parent = obj
    for part in path[:-1]:
        parent = parent[part]
    parent[new_key] = parent.pop(path[-1])
    return obj


@pytest.mark.parametrize(
    ("path", "typo", "problem"),
    [
        pytest.param(
            ("spec", "metrics", 0, "successCondition"),
            "sucessCondition",
            'spec.metrics[0].sucessCondition: unknown key (did you mean "successCondition"?)',
            id="a misspelt successCondition",
        ),
        pytest.param(
            ("spec", "metrics", 1, "provider", "prometheus", "address"),
            "adress",
            'spec.metrics[1].provider.prometheus.adress: unknown key (did you mean "address"?)',
            id="a misspelt address deep in the provider",
        ),
        pytest.param(
            ("spec", "metrics", 2, "failureLimit"),
            "failurelimit",
            'spec.metrics[2].failurelimit: unknown key (did you mean "failureLimit"?)',
            id="a key in the wrong case",
        ),
        pytest.param(
            ("spec", "args"),
            "arguments",
            'spec.arguments: unknown key (did you mean "args"?)',
            id="a renamed spec key",
        ),
    ],
)
def test_a_typo_is_rejected_with_its_path(
    path: tuple[str | int, ...], typo: str, problem: str
) -> None:
    assert validate_crd(_typo(_template(), path, typo)) == [problem]


def test_a_metric_with_an_interval_and_no_count_is_rejected() -> None:
    template = _template()
    del template["spec"]["metrics"][0]["count"]
    assert validate_crd(template) == [
        "spec.metrics[0]: 'interval' is set, so 'count' is required too"
    ]


def test_a_misspelt_required_key_is_unknown_and_missing() -> None:
    template = _typo(_template(), ("spec", "metrics", 1, "provider", "prometheus", "query"), "qry")
    assert validate_crd(template) == [
        "spec.metrics[1].provider.prometheus: required key 'query' is missing",
        'spec.metrics[1].provider.prometheus.qry: unknown key (did you mean "query"?)',
    ]


def test_wrong_types_and_missing_keys_are_reported() -> None:
    template = _template()
    template["spec"]["metrics"][0]["count"] = True
    template["spec"]["metrics"][1]["interval"] = 60
    del template["metadata"]["name"]
    assert validate_crd(template) == [
        "metadata: required key 'name' is missing",
        "spec.metrics[0].count: expected integer or string, got boolean",
        "spec.metrics[1].interval: expected string, got integer",
    ]


def test_a_rollout_step_with_two_actions_is_rejected() -> None:
    snippet = rollout_steps_snippet(shop())
    snippet["spec"]["strategy"]["canary"]["steps"][0]["pause"] = {"duration": "1m"}
    (problem,) = validate_crd(snippet)
    assert problem == (
        "spec.strategy.canary.steps[0]: expected at most 1 key(s), got pause, setWeight"
    )


def test_flagger_typos_are_rejected_too() -> None:
    cj = shop(provider="flagger")
    analysis = flagger_canary_analysis(cj)
    metric = analysis["spec"]["analysis"]["metrics"][0]
    metric["thresholdRange"]["maxx"] = metric["thresholdRange"].pop("max")
    assert validate_crd(analysis) == [
        'spec.analysis.metrics[0].thresholdRange.maxx: unknown key (did you mean "max"?)'
    ]
    template = flagger_metric_templates(cj)[0]
    template["spec"]["provider"]["type"] = "promethues"
    (problem,) = validate_crd(template)
    assert problem.startswith('spec.provider.type: "promethues" is not one of "prometheus",')


def test_the_papers_template_fails_only_for_metrics_that_run_indefinitely(
    paper_checkout: Path,
) -> None:
    argo = paper_checkout / "compiled" / "argo"
    template = yaml.safe_load((argo / "analysis-template.yaml").read_text())
    assert validate_crd(template) == [
        "spec.metrics[0]: 'interval' is set, so 'count' is required too",
        "spec.metrics[1]: 'interval' is set, so 'count' is required too",
    ]
    assert validate_crd(yaml.safe_load((argo / "rollout-snippet.yaml").read_text())) == []


def test_an_object_emac_does_not_emit_is_named_as_such() -> None:
    (problem,) = validate_crd({"apiVersion": "apps/v1", "kind": "Deployment"})
    assert problem.startswith("(root): not an object emac emits")


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schemas_use_only_keywords_the_validator_understands(name: str) -> None:
    def walk(schema: Any) -> None:
        assert isinstance(schema, dict)
        assert set(schema) <= SUPPORTED_KEYWORDS, set(schema) - SUPPORTED_KEYWORDS
        for sub in schema.get("properties", {}).values():
            walk(sub)
        for sub in schema.get("$defs", {}).values():
            walk(sub)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                walk(schema[key])

    walk(load_schema(name))
