"""The journey SLO as the rule groups Sloth generates (`--rules-format sloth`).

Matches Sloth's `prometheus/v1` output (slok/sloth, test/integration/prometheus/testdata/
out-base.yaml.tpl): groups `sloth-slo-sli-recordings-<id>`, `sloth-slo-meta-recordings-<id>`,
`sloth-slo-alerts-<id>`; records `slo:sli_error:ratio_rate<window>` labelled `sloth_id`,
`sloth_service`, `sloth_slo`, `sloth_window`; the period ratio as the average of the 5m ratio
(`sum_over_time / count_over_time`); meta records `slo:objective:ratio`,
`slo:error_budget:ratio`, `slo:time_period:days`, `slo:current_burn_rate:ratio`,
`slo:period_burn_rate:ratio`, `slo:period_error_budget_remaining:ratio`, `sloth_slo_info`;
one alert name for page and ticket told apart by `sloth_severity`, each pair written
`max(short > t) without (sloth_window) and max(long > t) without (sloth_window)`, with Sloth's
summary/title annotations. So Sloth's Grafana dashboards and recording-rule consumers work
unchanged. Here `sloth_service` is the journey, `sloth_slo` is `availability`, and the alert is
`<Name>ErrorBudgetBurn`.

Where we differ, and why:
1. The SLI ratio has the zero-traffic guard of `promql.error_ratio_expr` (Sloth divides and gets
   NaN); the period ratio then averages the 5m windows that had traffic.
2. Burn rates and windows come from the journey's policy (`prometheus.alert_policy`), so with
   the paper's policy the ticket alert has one pair (1× over 3d/6h) where Sloth's default has two.
3. `sloth_slo_info` says `sloth_mode: emac` and `sloth_spec: emac.dev/v1alpha1` and has no
   `sloth_version`: a version label would change the output on every upgrade.
4. The spec's metadata labels (`emac.example`) are not valid Prometheus label names and are not
   copied onto the rules, where Sloth copies its spec's `labels`.
5. Thresholds print the error budget rounded to 12 digits (`0.005`, not `0.0050000000000000044`).
"""

from __future__ import annotations

from typing import Any

from bot.compile.result import CompiledJourney
from bot.emit.prometheus import (
    STANDARD_WINDOWS,
    AlertPolicy,
    BurnWindow,
    RuleFile,
    alert_policy,
)
from bot.emit.promql import (
    camel_case,
    duration_ms,
    error_ratio_expr,
    format_number,
    label_selector,
    windowed,
)

SLOTH_SLO = "availability"
SLI_RECORD = "slo:sli_error:ratio_rate{window}"
BASE_WINDOW = "5m"


def sloth_ids(cj: CompiledJourney) -> dict[str, str]:
    """The three labels that identify the SLO in every Sloth series, in Sloth's order."""
    return {"sloth_id": f"{cj.name}-{SLOTH_SLO}", "sloth_service": cj.name, "sloth_slo": SLOTH_SLO}


def sloth_rules(cj: CompiledJourney) -> RuleFile:
    """Rule file in Sloth's layout for the journey availability SLO (no groups without an SLI)."""
    sli = cj.model.intent.spec.objectives.availability.sli
    if sli is None:
        return {"groups": []}
    policy = alert_policy(cj)
    ids = sloth_ids(cj)
    return {
        "groups": [
            {
                "name": f"sloth-slo-sli-recordings-{ids['sloth_id']}",
                "rules": _sli_records(sli.good_event_query, sli.total_event_query, policy, ids),
            },
            {
                "name": f"sloth-slo-meta-recordings-{ids['sloth_id']}",
                "rules": _meta_records(cj, policy, ids),
            },
            {"name": f"sloth-slo-alerts-{ids['sloth_id']}", "rules": _alerts(cj, policy, ids)},
        ]
    }


def _sli_records(
    good: str, total: str, policy: AlertPolicy, ids: dict[str, str]
) -> list[dict[str, Any]]:
    period = policy.budget_window
    limit = duration_ms(period)
    windows = {w for w in STANDARD_WINDOWS if duration_ms(w) < limit}
    windows.update(w for w in policy.alert_windows if w != period)
    windows.add(BASE_WINDOW)
    rules: list[dict[str, Any]] = [
        {
            "record": SLI_RECORD.format(window=w),
            "expr": error_ratio_expr(windowed(total, w), good=windowed(good, w)),
            "labels": {**ids, "sloth_window": w},
        }
        for w in sorted(windows, key=duration_ms)
    ]
    base = SLI_RECORD.format(window=BASE_WINDOW) + label_selector(ids)
    rules.append(
        {
            "record": SLI_RECORD.format(window=period),
            "expr": (
                f"sum_over_time({base}[{period}])\n/ ignoring (sloth_window)\n"
                f"count_over_time({base}[{period}])\n"
            ),
            "labels": {**ids, "sloth_window": period},
        }
    )
    return rules


def _meta_records(
    cj: CompiledJourney, policy: AlertPolicy, ids: dict[str, str]
) -> list[dict[str, Any]]:
    target = cj.model.objective.availability_target
    selector = label_selector(ids)
    on = "/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
    days = duration_ms(policy.budget_window) / duration_ms("1d")
    return [
        {
            "record": "slo:objective:ratio",
            "expr": f"vector({format_number(target)})",
            "labels": dict(ids),
        },
        {
            "record": "slo:error_budget:ratio",
            "expr": f"vector(1-{format_number(target)})",
            "labels": dict(ids),
        },
        {
            "record": "slo:time_period:days",
            "expr": f"vector({format_number(days)})",
            "labels": dict(ids),
        },
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": (
                f"{SLI_RECORD.format(window=BASE_WINDOW)}{selector}\n{on}"
                f"slo:error_budget:ratio{selector}\n"
            ),
            "labels": dict(ids),
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": (
                f"{SLI_RECORD.format(window=policy.budget_window)}{selector}\n{on}"
                f"slo:error_budget:ratio{selector}\n"
            ),
            "labels": dict(ids),
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{selector}",
            "labels": dict(ids),
        },
        {
            "record": "sloth_slo_info",
            "expr": "vector(1)",
            "labels": {
                "sloth_id": ids["sloth_id"],
                "sloth_mode": "emac",
                "sloth_objective": format_number(target * 100.0),
                "sloth_service": ids["sloth_service"],
                "sloth_slo": ids["sloth_slo"],
                "sloth_spec": "emac.dev/v1alpha1",
            },
        },
    ]


def _alerts(cj: CompiledJourney, policy: AlertPolicy, ids: dict[str, str]) -> list[dict[str, Any]]:
    budget = format_number(policy.error_budget)
    out = []
    for severity, windows in (("page", policy.page), ("ticket", policy.ticket)):
        if not windows:
            continue
        out.append(
            {
                "alert": f"{camel_case(cj.name)}ErrorBudgetBurn",
                "expr": _sloth_burn_expr(windows, budget, label_selector(ids)),
                "labels": {"sloth_severity": severity},
                "annotations": {
                    "summary": (
                        "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget "
                        "burn rate is over expected."
                    ),
                    "title": (
                        f"({severity}) {{{{$labels.sloth_service}}}} "
                        "{{$labels.sloth_slo}} SLO error budget burn rate is too fast."
                    ),
                },
            }
        )
    return out


def _sloth_burn_expr(windows: tuple[BurnWindow, ...], budget: str, selector: str) -> str:
    blocks = []
    for w in windows:
        threshold = f"({format_number(w.burn_rate)} * {budget})"
        short = f"{SLI_RECORD.format(window=w.short_window)}{selector}"
        long = f"{SLI_RECORD.format(window=w.long_window)}{selector}"
        blocks.append(
            "(\n"
            f"    max({short} > {threshold}) without (sloth_window)\n"
            "    and\n"
            f"    max({long} > {threshold}) without (sloth_window)\n"
            ")"
        )
    return "\nor\n".join(blocks) + "\n"
