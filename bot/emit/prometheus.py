"""Journey SLI recording rules and multiwindow burn-rate alerts as Prometheus rule files.

Output follows the paper's `compiled/prometheus/recording-rules.yaml` and `alerts.yaml`: same
record names (`journey:<name>:slo_errors_per_request:ratio_rate<window>`), group names, alert
names (`<Name>ErrorBudgetBurnTooFast` for the page windows OR-ed together,
`<Name>ErrorBudgetBurnSustained` for the ticket windows), windows, factors and thresholds written
as `burnRate * errorBudget` (`14.4 * 0.005`). Deliberate differences:

1. Zero traffic yields no error-ratio sample instead of NaN, and a total outage with no success
   series yet still counts as errors (see `promql.error_ratio_expr`).
2. Windows are named the way Prometheus prints durations, so the artifact's `ratio_rate24h` is
   `ratio_rate1d` here (the same rule the artifact's alerts never reference); the SLO window
   (`ratio_rate30d`) and 2h are recorded too, for dashboards and budget-remaining queries.
3. Alerts carry a `journey` label besides `slo`, and the description names the windows.
4. PrometheusRule metadata labels are the spec's own metadata labels (the artifact kept only
   `emac.example`).

As in the paper, ratios and alerts are separate rule groups, which Prometheus evaluates
independently: an alert may read ratios recorded one evaluation interval earlier, so it can
fire (and resolve) up to one interval after the windows cross.

Burn-rate policy: the spec's `governance.alerts.burnRatePolicy` as written. Without one, the SRE
Workbook's 30-day policy is scaled to the budget window: 14.4 over 1h means "2% of a 30-day
budget in one hour", and the burn rate that spends the same 2% of a W-long budget in one hour
is 0.02·W/1h = 14.4·W/30d (7d: 3.36 over 1h/5m, 1.4 over 6h/30m, 0.2333 over 3d/6h; 90d:
43.2, 18 and 3). Default windows longer than the budget window are dropped. Below a 30-day
window the ticket rate falls under 1, i.e. it tickets a burn that would not exhaust the budget
within the window; that is what "10% of the budget in 3 days" means there (Sloth's own 7-day
table picks different shares). Write an explicit policy to choose otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.compile.result import CompiledJourney
from bot.emit.promql import (
    camel_case,
    canonical_window,
    duration_ms,
    error_ratio_expr,
    format_duration,
    format_number,
    metric_name_part,
    windowed,
)

Severity = Literal["page", "ticket"]
RuleFile = dict[str, Any]

# SRE Workbook, "Alerting on SLOs", table 5-8, for a 30-day budget window.
WORKBOOK_BUDGET_WINDOW = "30d"
WORKBOOK_POLICY: tuple[tuple[Severity, float, str, str], ...] = (
    ("page", 14.4, "1h", "5m"),
    ("page", 6.0, "6h", "30m"),
    ("ticket", 1.0, "3d", "6h"),
)
# Recorded whatever the policy, like the paper's recording rules (plus 2h and the SLO window).
STANDARD_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
HELPER_WINDOW = "5m"


@dataclass(frozen=True)
class BurnWindow:
    """One multiwindow condition: both windows' error ratio above `burn_rate × budget`."""

    severity: Severity
    burn_rate: float
    long_window: str
    short_window: str


@dataclass(frozen=True)
class AlertPolicy:
    """The budget window, the error budget it is spent against, and the burn windows."""

    budget_window: str
    error_budget: float
    page: tuple[BurnWindow, ...]
    ticket: tuple[BurnWindow, ...]

    @property
    def alert_windows(self) -> list[str]:
        """Every window an alert reads, shortest first."""
        found = {w for b in self.page + self.ticket for w in (b.long_window, b.short_window)}
        return sorted(found, key=duration_ms)


def alert_policy(cj: CompiledJourney) -> AlertPolicy:
    """The burn-rate policy for the journey: the spec's, or the Workbook's scaled to its window."""
    objective = cj.model.objective
    alerts = cj.model.governance.alerts
    window = canonical_window(
        alerts.slo_budget_window
        if alerts and alerts.slo_budget_window
        else objective.availability_window
    )
    budget = 1.0 - objective.availability_target
    policy = alerts.burn_rate_policy if alerts else None
    if policy is not None and (policy.page or policy.ticket):
        page = tuple(
            _window("page", w.burn_rate, w.long_window, w.short_window) for w in policy.page
        )
        ticket = tuple(
            _window("ticket", w.burn_rate, w.long_window, w.short_window) for w in policy.ticket
        )
        return AlertPolicy(window, budget, page, ticket)
    scale = duration_ms(window) / duration_ms(WORKBOOK_BUDGET_WINDOW)
    scaled = [
        _window(sev, rate * scale, long, short)
        for sev, rate, long, short in WORKBOOK_POLICY
        if duration_ms(long) <= duration_ms(window)
    ]
    return AlertPolicy(
        window,
        budget,
        tuple(w for w in scaled if w.severity == "page"),
        tuple(w for w in scaled if w.severity == "ticket"),
    )


def _window(severity: Severity, rate: float, long: str, short: str) -> BurnWindow:
    return BurnWindow(severity, rate, canonical_window(long), canonical_window(short))


def recording_windows(cj: CompiledJourney, policy: AlertPolicy) -> list[str]:
    """Standard windows up to the budget window, every alert window, the SLO windows."""
    limit = duration_ms(policy.budget_window)
    names = {w for w in STANDARD_WINDOWS if duration_ms(w) <= limit}
    names.update(policy.alert_windows)
    names.add(policy.budget_window)
    names.add(canonical_window(cj.model.objective.availability_window))
    return sorted(names, key=duration_ms)


def journey_metric(cj: CompiledJourney, what: str) -> str:
    """`journey:checkout:<what>`: the journey's recording-rule names."""
    return f"journey:{metric_name_part(cj.name)}:{what}"


def error_ratio_record(cj: CompiledJourney, window: str) -> str:
    return journey_metric(cj, f"slo_errors_per_request:ratio_rate{window}")


def journey_recording_rules(cj: CompiledJourney) -> RuleFile:
    """Rule file recording the journey error ratio over every window the alerts and gates use.

    A journey without SLI queries gets a file with no groups: there is nothing to record.
    """
    sli = cj.model.intent.spec.objectives.availability.sli
    if sli is None:
        return {"groups": []}
    policy = alert_policy(cj)
    good, total = sli.good_event_query, sli.total_event_query
    rules: list[dict[str, Any]] = [
        {
            "record": journey_metric(cj, f"requests:rate{HELPER_WINDOW}"),
            "expr": windowed(total, HELPER_WINDOW),
        },
        {
            "record": journey_metric(cj, f"good_requests:rate{HELPER_WINDOW}"),
            "expr": windowed(good, HELPER_WINDOW),
        },
    ]
    for window in recording_windows(cj, policy):
        rules.append(
            {
                "record": error_ratio_record(cj, window),
                "expr": error_ratio_expr(windowed(total, window), good=windowed(good, window)),
            }
        )
    latency = cj.model.intent.spec.objectives.latency
    if latency is not None and latency.evidence is not None and latency.evidence.promql:
        rules.append(
            {
                "record": journey_metric(
                    cj, f"latency_seconds:{latency.objective.metric}_{HELPER_WINDOW}"
                ),
                "expr": windowed(latency.evidence.promql, HELPER_WINDOW),
            }
        )
    return {"groups": [{"name": f"emac.{cj.name}.sli", "rules": rules}]}


def journey_alert_rules(cj: CompiledJourney) -> RuleFile:
    """Rule file with the page alert (page windows OR-ed) and the ticket alert."""
    if cj.model.intent.spec.objectives.availability.sli is None:
        return {"groups": []}
    policy = alert_policy(cj)
    name = camel_case(cj.name)
    labels = {"slo": cj.name, "journey": cj.name}
    budget = format_number(policy.error_budget)
    rules: list[dict[str, Any]] = []
    target = format_number(cj.model.objective.availability_target)
    if policy.page:
        rules.append(
            _burn_alert(
                cj,
                f"{name}ErrorBudgetBurnTooFast",
                "page",
                policy.page,
                budget,
                labels,
                f"{name} is burning error budget too fast (page)",
                f"Multiwindow burn-rate paging condition met for {cj.name} journey SLO "
                f"(target {target}, error budget {budget} over {policy.budget_window}; "
                f"{_windows_text(policy.page)}).",
            )
        )
    if policy.ticket:
        rules.append(
            _burn_alert(
                cj,
                f"{name}ErrorBudgetBurnSustained",
                "ticket",
                policy.ticket,
                budget,
                labels,
                f"{name} is burning error budget (ticket)",
                f"Sustained burn suggests the {_period_text(policy.budget_window)} budget "
                f"may be exhausted if not addressed ({_windows_text(policy.ticket)}).",
            )
        )
    return {"groups": [{"name": f"emac.{cj.name}.slo-alerts", "rules": rules}]}


def _burn_alert(
    cj: CompiledJourney,
    alert: str,
    severity: str,
    windows: tuple[BurnWindow, ...],
    budget: str,
    labels: dict[str, str],
    summary: str,
    description: str,
) -> dict[str, Any]:
    """One multiwindow alert: fires when any window pair burns above its threshold."""
    conditions = [
        (
            error_ratio_record(cj, w.long_window),
            error_ratio_record(cj, w.short_window),
            f"({format_number(w.burn_rate)} * {budget})",
        )
        for w in windows
    ]
    return {
        "alert": alert,
        "expr": burn_expr(conditions),
        "labels": {"severity": severity, **labels},
        "annotations": {"summary": summary, "description": description},
    }


def burn_expr(conditions: list[tuple[str, str, str]]) -> str:
    """`(long > t and short > t) or ...` laid out like the paper's alerts, one pair per block."""
    blocks = [
        f"(\n  ({long} > {threshold})\n  and\n  ({short} > {threshold})\n)"
        for long, short, threshold in conditions
    ]
    return "\nor\n".join(blocks) + "\n"


def _windows_text(windows: tuple[BurnWindow, ...]) -> str:
    return ", or ".join(
        f"{format_number(w.burn_rate)}× over {w.long_window} and {w.short_window}" for w in windows
    )


def _period_text(window: str) -> str:
    ms = duration_ms(window)
    day = duration_ms("1d")
    return f"{ms // day}-day" if ms % day == 0 else format_duration(ms)


def as_prometheus_rule(
    rules: RuleFile, name: str, labels: Mapping[str, str], namespace: str | None = None
) -> dict[str, Any]:
    """A plain rule file wrapped as a `monitoring.coreos.com/v1` PrometheusRule resource."""
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = dict(labels)
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata,
        "spec": {"groups": rules["groups"]},
    }


def prometheus_rule_for(cj: CompiledJourney, rules: RuleFile, suffix: str) -> dict[str, Any]:
    """`rules` as the PrometheusRule `emac-<journey>-<suffix>`, labelled like the spec."""
    meta = cj.model.intent.metadata
    return as_prometheus_rule(rules, f"emac-{cj.name}-{suffix}", meta.labels, meta.namespace)
