"""Derived leaf alerts: a leaf burning its allocated share of the journey error budget.

A leaf's own SLO can be green while it spends more of the *journey's* budget than the journey
can afford: in the paper's checkout, paya may fail 0.5% of calls by its own SLO, but its share
of the journey budget corresponds to 0.33%. For each leaf with a ratio SLI and a positive
share, this records the leaf's error ratio over the journey's alert windows (the OpenSLO
queries re-windowed: `[30d]` → `[5m]`) and alerts when it exceeds `burnRate × max_error_ratio`
on both windows of a pair, with the journey's burn-rate policy (`prometheus.alert_policy`).
`max_error_ratio` is the leaf error ratio its share corresponds to, so "burn rate 14.4 against
the share" means the leaf spends 2% of its 30-day share in an hour, as the journey alert means
for the whole budget.

Leaves are skipped when they have no SLI (nothing to measure), a zero share (the allocation
charges none of the journey budget to them, e.g. optional or fully redundant leaves, and a `> 0`
threshold would page on every error) or a limit of 1 or more (no error ratio can cross it).
Records are named `journey_component:slo_errors_per_request:ratio_rate<window>` and told apart
by their `journey` and `component` labels, so component names need no escaping.
"""

from __future__ import annotations

from typing import Any

from bot.compile.result import CompiledJourney, LeafBudget
from bot.emit.prometheus import AlertPolicy, BurnWindow, RuleFile, alert_policy, burn_expr
from bot.emit.promql import (
    camel_case,
    error_ratio_expr,
    format_number,
    label_selector,
    windowed,
)
from bot.spec.domain import ComponentModel

LEAF_RECORD = "journey_component:slo_errors_per_request:ratio_rate{window}"


def alerted_leaves(cj: CompiledJourney) -> list[str]:
    """Leaves that get derived rules, in the order the journey first references them."""
    out = []
    for name in cj.model.leaf_components():
        component = cj.model.components.get(name)
        share = cj.budget.leaves.get(name)
        if component is None or component.sli is None or share is None:
            continue
        if _has_share(share) and (component.sli.good or component.sli.bad):
            out.append(name)
    return out


def _has_share(share: LeafBudget) -> bool:
    # A zero share means the allocation charges none of the journey budget to this leaf; a
    # limit of 1 or more (or not finite) is a threshold no error ratio can cross.
    return share.allocated > 0 and 0 < share.max_error_ratio < 1


def leaf_alert_rules(cj: CompiledJourney) -> RuleFile:
    """Rule file with one recording group and one alert group for the journey's leaves."""
    policy = alert_policy(cj)
    leaves = alerted_leaves(cj)
    if not leaves:
        return {"groups": []}
    records: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for name in leaves:
        component = cj.model.components[name]
        records.extend(_leaf_records(cj, component, policy))
        alerts.extend(_leaf_alerts(cj, component, cj.budget.leaves[name], policy))
    return {
        "groups": [
            {"name": f"emac.{cj.name}.leaf-sli", "rules": records},
            {"name": f"emac.{cj.name}.leaf-alerts", "rules": alerts},
        ]
    }


def _leaf_labels(cj: CompiledJourney, component: str) -> dict[str, str]:
    return {"journey": cj.name, "component": component}


def _leaf_records(
    cj: CompiledJourney, component: ComponentModel, policy: AlertPolicy
) -> list[dict[str, Any]]:
    sli = component.sli
    assert sli is not None
    out = []
    for window in policy.alert_windows:
        total = windowed(sli.total, window)
        if sli.good is not None:
            expr = error_ratio_expr(total, good=windowed(sli.good, window))
        else:
            assert sli.bad is not None
            expr = error_ratio_expr(total, bad=windowed(sli.bad, window))
        out.append(
            {
                "record": LEAF_RECORD.format(window=window),
                "expr": expr,
                "labels": _leaf_labels(cj, component.name),
            }
        )
    return out


def _leaf_alerts(
    cj: CompiledJourney, component: ComponentModel, share: LeafBudget, policy: AlertPolicy
) -> list[dict[str, Any]]:
    labels = _leaf_labels(cj, component.name)
    selector = label_selector(labels)
    limit = format_number(share.max_error_ratio)
    out = []
    for severity, windows, suffix in (
        ("page", policy.page, "BurnTooFast"),
        ("ticket", policy.ticket, "BurnSustained"),
    ):
        if not windows:
            continue
        out.append(
            {
                "alert": f"{camel_case(cj.name)}LeafBudgetShare{suffix}",
                "expr": burn_expr(
                    [
                        (
                            LEAF_RECORD.format(window=w.long_window) + selector,
                            LEAF_RECORD.format(window=w.short_window) + selector,
                            f"({format_number(w.burn_rate)} * {limit})",
                        )
                        for w in windows
                    ]
                ),
                "labels": {**labels, "severity": severity},
                "annotations": _annotations(cj, component, share, policy, windows, severity),
            }
        )
    return out


def _annotations(
    cj: CompiledJourney,
    component: ComponentModel,
    share: LeafBudget,
    policy: AlertPolicy,
    windows: tuple[BurnWindow, ...],
    severity: str,
) -> dict[str, str]:
    percent = 100.0 * share.allocated / policy.error_budget if policy.error_budget > 0 else 0.0
    burns = ", or ".join(
        f"{format_number(w.burn_rate)}× over {w.long_window} and {w.short_window}" for w in windows
    )
    return {
        "summary": (
            f"{component.name} is burning its share of the {cj.name} error budget ({severity})"
        ),
        "description": (
            f"{component.name} is allocated {format_number(round(percent, 2))}% of the "
            f"{cj.name} journey error budget ({format_number(policy.error_budget)} over "
            f"{policy.budget_window}): an error ratio of at most "
            f"{format_number(share.max_error_ratio)}. It exceeded that share {burns}. "
            f"Its own SLO (target {format_number(component.availability)}) may still be met; "
            f"the journey's is what is at risk."
        ),
    }
