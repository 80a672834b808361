"""The full set of generated files for a journey: which artifact goes where, and its text.

Paths are relative to the compile root (the same names as `CompiledJourney.model.source`).
A spec that names an output (`governance.alerts.promRuleOutput`,
`progressiveDelivery.analysisTemplateOutput`, relative to the spec file) gets that file and its
siblings beside it, as in the paper's layout; otherwise everything goes under
`<spec folder>/../compiled/<journey>/` with the paper's file names.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any, Literal

from bot.compile.result import CompiledJourney
from bot.compile.whatif import rebound_for
from bot.emit import argo, flagger, guard_document, leaf_alerts, prometheus, sloth
from bot.emit.report import derivation_report
from bot.emit.yamlout import dump_yaml
from bot.gcpause import without_gc
from bot.spec.errors import Location, SpecError, SpecProblem

RulesFormat = Literal["prometheus-operator", "plain", "sloth"]
RULES_FORMATS: tuple[RulesFormat, ...] = ("prometheus-operator", "plain", "sloth")


def _sibling(path: str, name: str) -> str:
    return posixpath.join(posixpath.dirname(path), name)


def _resolve(spec_file: str, ref: str) -> str:
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(spec_file), ref))
    if joined.startswith("../") or joined == ".." or posixpath.isabs(joined):
        raise SpecError(
            [SpecProblem(Location(spec_file), "", f"output path '{ref}' leaves the compile root")]
        )
    return joined


def artifact_paths(cj: CompiledJourney, default_dir: str = "../compiled") -> dict[str, str]:
    """Artifact kind → path for one journey."""
    spec = cj.model.source
    gov = cj.model.intent.spec.governance
    base = _resolve(spec, posixpath.join(default_dir, cj.name))
    alerts = (
        _resolve(spec, gov.alerts.prom_rule_output)
        if gov.alerts and gov.alerts.prom_rule_output
        else posixpath.join(base, "prometheus", "alerts.yaml")
    )
    pd = gov.progressive_delivery
    template = (
        _resolve(spec, pd.analysis_template_output)
        if pd and pd.analysis_template_output
        else posixpath.join(base, "argo", "analysis-template.yaml")
    )
    report_root = posixpath.dirname(posixpath.dirname(alerts))
    return {
        "alerts": alerts,
        "recording-rules": _sibling(alerts, "recording-rules.yaml"),
        "leaf-alerts": _sibling(alerts, "leaf-alerts.yaml"),
        "sloth": _sibling(alerts, "sloth.yaml"),
        "analysis-template": template,
        "rollout-snippet": _sibling(template, "rollout-snippet.yaml"),
        "flagger-metric-templates": _sibling(template, "flagger-metric-templates.yaml"),
        "flagger-canary-analysis": _sibling(template, "flagger-canary-analysis.yaml"),
        "action-guard": posixpath.join(report_root, "guards", f"action-guard.{cj.name}.yaml"),
        "report": posixpath.join(report_root, "report", f"derivation.{cj.name}.yaml"),
    }


def _rules(
    cj: CompiledJourney, rules: dict[str, Any], suffix: str, fmt: RulesFormat
) -> dict[str, Any]:
    return rules if fmt == "plain" else prometheus.prometheus_rule_for(cj, rules, suffix)


def journey_artifacts(
    cj: CompiledJourney,
    *,
    rules_format: RulesFormat = "prometheus-operator",
    default_dir: str = "../compiled",
) -> dict[str, str]:
    """Path → file text of every artifact for one journey (pure, byte-stable)."""
    paths = artifact_paths(cj, default_dir)
    src = cj.model.source
    docs: dict[str, Any] = {}
    if rules_format == "sloth":
        docs["sloth"] = sloth.sloth_rules(cj)
    else:
        docs["recording-rules"] = _rules(
            cj, prometheus.journey_recording_rules(cj), "recording-rules", rules_format
        )
        docs["alerts"] = _rules(cj, prometheus.journey_alert_rules(cj), "alerts", rules_format)
    if leaf_alerts.alerted_leaves(cj):
        docs["leaf-alerts"] = _rules(
            cj, leaf_alerts.leaf_alert_rules(cj), "leaf-alerts", rules_format
        )
    pd = cj.model.intent.spec.governance.progressive_delivery
    if pd is not None and pd.provider == "flagger":
        docs["flagger-metric-templates"] = flagger.flagger_metric_templates(cj)
        docs["flagger-canary-analysis"] = flagger.flagger_canary_analysis(cj)
    elif pd is not None:
        docs["analysis-template"] = argo.analysis_template(cj)
        docs["rollout-snippet"] = argo.rollout_steps_snippet(cj)
    docs["action-guard"] = guard_document.action_guard(cj, rebound_for(cj))
    docs["report"] = derivation_report(cj)
    out: dict[str, str] = {}
    for kind, doc in docs.items():
        if (isinstance(doc, dict) and doc.get("groups") == []) or (
            isinstance(doc, dict) and doc.get("spec", {}).get("groups") == []
        ):
            continue  # no SLI queries in the spec: nothing to record or alert on
        if isinstance(doc, list):
            # Several documents in one file: one header, then `---` between documents.
            bodies = [dump_yaml(d, src).split("\n", 1)[1] for d in doc]
            text = dump_yaml(doc[0], src).split("\n", 1)[0] + "\n" + "---\n".join(bodies)
        else:
            text = dump_yaml(doc, src)
        out[paths[kind]] = text
    return out


@without_gc
def all_artifacts(
    journeys: Sequence[CompiledJourney],
    *,
    rules_format: RulesFormat = "prometheus-operator",
    default_dir: str = "../compiled",
) -> dict[str, str]:
    """Every journey's artifacts; two journeys claiming one path is an error, not a clobber."""
    out: dict[str, str] = {}
    owner: dict[str, str] = {}
    problems: list[SpecProblem] = []
    for cj in journeys:
        for path, text in journey_artifacts(
            cj, rules_format=rules_format, default_dir=default_dir
        ).items():
            if path in out:
                problems.append(
                    SpecProblem(
                        Location(cj.model.source),
                        "",
                        f"artifact {path} is also generated for journey '{owner[path]}': give one "
                        "of them its own governance output paths",
                    )
                )
                continue
            out[path] = text
            owner[path] = cj.name
    if problems:
        raise SpecError(problems)
    return dict(sorted(out.items()))
