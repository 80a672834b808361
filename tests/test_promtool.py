"""Every emitted rule file passes `promtool check rules`; generated `promtool test rules` unit
tests show the checkout alerts fire when the burn-rate arithmetic says they should.

Series are sampled every minute (every 10 minutes for the multi-day ticket case) and counters
grow linearly between change points, so with Prometheus' closed range windows (2.x, the Debian
package) every window's ratio is exact: errors counted inside the window over requests inside it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.compile.pipeline import compile_paths
from bot.compile.result import CompiledJourney
from bot.emit.leaf_alerts import LEAF_RECORD, leaf_alert_rules
from bot.emit.prometheus import (
    alert_policy,
    error_ratio_record,
    journey_alert_rules,
    journey_recording_rules,
    prometheus_rule_for,
)
from bot.emit.promql import duration_ms
from bot.emit.sloth import sloth_rules
from tests.conftest import FIXTURES, PAPER_CHECKOUT
from tests.test_emit_prometheus_support import compiled, run_promtool, write_rule_file

MINUTE = duration_ms("1m")
SUCCESS = 'journey_requests_total{journey="checkout",result="success"}'
ERROR = 'journey_requests_total{journey="checkout",result="error"}'
CHECK_CASES = {
    "the paper's checkout": PAPER_CHECKOUT,
    "our checkout fixture": FIXTURES / "checkout",
    "the login fixture": FIXTURES / "journeys" / "login",
    "the feed fixture": FIXTURES / "journeys" / "feed",
    "the search fixture": FIXTURES / "journeys" / "search",
}


# --- promtool check rules -------------------------------------------------------------------------


def _all_formats(cj: CompiledJourney) -> dict[str, dict[str, Any]]:
    recording, alerts, leaves = (
        journey_recording_rules(cj),
        journey_alert_rules(cj),
        leaf_alert_rules(cj),
    )
    return {
        "recording-rules.yaml": recording,
        "alerts.yaml": alerts,
        "leaf-alerts.yaml": leaves,
        "operator-recording-rules.yaml": prometheus_rule_for(cj, recording, "recording-rules"),
        "operator-alerts.yaml": prometheus_rule_for(cj, alerts, "alerts"),
        "operator-leaf-alerts.yaml": prometheus_rule_for(cj, leaves, "leaf-alerts"),
        "sloth.yaml": sloth_rules(cj),
    }


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=f"every rule file of {c} passes promtool") for c in CHECK_CASES]
)
def test_emitted_rule_files_pass_promtool_check(case: str, tmp_path: Path) -> None:
    files = []
    for cj in _compile_all(CHECK_CASES[case]):
        for name, doc in _all_formats(cj).items():
            files.append(write_rule_file(tmp_path / f"{cj.name}-{name}", doc))
    done = run_promtool("check", "rules", *files)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(files)


def test_golden_rule_files_pass_promtool_check(tmp_path: Path) -> None:
    goldens = sorted((FIXTURES / "golden").glob("*/*.yaml"))
    assert goldens
    files = [
        write_rule_file(tmp_path / f"{p.parent.name}-{p.name}", yaml.safe_load(p.read_text()))
        for p in goldens
    ]
    done = run_promtool("check", "rules", *files)
    assert done.returncode == 0, done.stdout + done.stderr


def _compile_all(path: Path) -> list[CompiledJourney]:
    return compile_paths([path])


# --- promtool test rules: series and test-file builders --------------------------------------


def series_values(values: list[int]) -> str:
    """Counter samples in promtool's expanding notation (`a+bxn` runs of equal steps)."""
    parts = []
    i = 0
    while i < len(values):
        if i + 1 == len(values):
            parts.append(str(values[i]))
            break
        step = values[i + 1] - values[i]
        j = i + 1
        while j + 1 < len(values) and values[j + 1] - values[j] == step:
            j += 1
        parts.append(f"{values[i]}+{step}x{j - i}" if step >= 0 else f"{values[i]}{step}x{j - i}")
        i = j + 1
    return " ".join(parts)


def counters(phases: list[tuple[int, int, int]]) -> tuple[list[int], list[int]]:
    """Cumulative (success, error) counters for phases of (steps, requests/step, errors/step)."""
    good, bad = [0], [0]
    for steps, requests, errors in phases:
        for _ in range(steps):
            good.append(good[-1] + requests - errors)
            bad.append(bad[-1] + errors)
    return good, bad


def journey_series(phases: list[tuple[int, int, int]]) -> list[dict[str, str]]:
    good, bad = counters(phases)
    return [
        {"series": SUCCESS, "values": series_values(good)},
        {"series": ERROR, "values": series_values(bad)},
    ]


def run_unit_tests(
    tmp_path: Path,
    rules: dict[str, dict[str, Any]],
    tests: list[dict[str, Any]],
    evaluation_interval: str = "1m",
    alerts_first: bool = False,
) -> None:
    """Write the rule files and a promtool test file, run it, and fail with promtool's report.

    promtool evaluates rule groups in random order unless told otherwise; a real Prometheus
    runs each group on its own schedule. Recording groups go first by default (the alert sees
    this evaluation's ratios); `alerts_first` models the other extreme (it sees the previous
    evaluation's, one interval late).
    """
    names = [write_rule_file(tmp_path / name, doc).name for name, doc in rules.items()]
    groups = [g["name"] for doc in rules.values() for g in doc["groups"]]
    alerting = [
        g["name"]
        for doc in rules.values()
        for g in doc["groups"]
        if any("alert" in r for r in g["rules"])
    ]
    order = [g for g in groups if g not in alerting] + alerting
    if alerts_first:
        order = alerting + [g for g in groups if g not in alerting]
    test_file = tmp_path / "tests.yaml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": names,
                "evaluation_interval": evaluation_interval,
                "group_eval_order": order,
                "tests": tests,
            },
            sort_keys=False,
        )
    )
    done = run_promtool("test", "rules", test_file)
    assert done.returncode == 0, done.stdout + done.stderr


def _alert(doc: dict[str, Any], severity: str) -> dict[str, Any]:
    return next(
        r
        for g in doc["groups"]
        for r in g["rules"]
        if r.get("labels", {}).get("severity") == severity
    )


def expect(
    alert: dict[str, Any], minute: int, firing: bool, extra_labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """An alert_rule_test entry: `alert` firing (with its labels/annotations) or not."""
    exp = (
        [
            {
                "exp_labels": {**(extra_labels or {}), **alert["labels"]},
                "exp_annotations": alert["annotations"],
            }
        ]
        if firing
        else []
    )
    return {"eval_time": f"{minute}m", "alertname": alert["alert"], "exp_alerts": exp}


@pytest.fixture(scope="module")
def checkout() -> CompiledJourney:
    if not PAPER_CHECKOUT.is_dir():
        pytest.skip("reference data not present")
    return compiled(PAPER_CHECKOUT)


@pytest.fixture()
def journey_rules(checkout: CompiledJourney) -> dict[str, dict[str, Any]]:
    return {
        "recording.yaml": journey_recording_rules(checkout),
        "alerts.yaml": journey_alert_rules(checkout),
    }


# --- the journey page alert ---------------------------------------------------------------------


CLEAN = 360  # minutes of error-free history: every page window (≤ 6h) starts full and clean.
REQUESTS = 1000  # per minute


GROUP_ORDERS = [
    pytest.param(False, id="recording group evaluated first"),
    pytest.param(True, id="alert group evaluated first (one interval late)"),
]


@pytest.mark.parametrize("alerts_first", GROUP_ORDERS)
def test_page_fires_when_the_long_window_crosses_and_resets_with_the_short_window(
    checkout: CompiledJourney,
    journey_rules: dict[str, dict[str, Any]],
    tmp_path: Path,
    alerts_first: bool,
) -> None:
    """A burn at 15× (just above the 14.4× page rate; at exactly 14.4× the 1h ratio only ever
    reaches the threshold, never exceeds it) after clean history: the 5m window crosses after
    4.8 min, the 1h window after 60·14.4/15 = 57.6 min, so the page fires at minute 58 and not
    at 57. When the burn stops the 5m window drops below at once and the page resets, although
    the 1h window is still above the threshold."""
    policy = alert_policy(checkout)
    fast = policy.page[0]
    assert (fast.burn_rate, fast.long_window, fast.short_window) == (14.4, "1h", "5m")
    errors = 75  # per 1000 requests: a 15× burn of the 0.005 budget
    burn = errors / REQUESTS / policy.error_budget
    assert burn == pytest.approx(15.0)
    long_minutes = duration_ms(fast.long_window) / MINUTE
    crossing = long_minutes * fast.burn_rate / burn
    assert crossing == pytest.approx(57.6)
    lag = 1 if alerts_first else 0
    first_firing = math.floor(crossing) + 1 + lag
    short_crossing = duration_ms(fast.short_window) / MINUTE * fast.burn_rate / burn
    assert short_crossing < first_firing - 1  # the long window is what holds the page back
    stop = 120
    page = _alert(journey_rules["alerts.yaml"], "page")
    one_hour = error_ratio_record(checkout, "1h")
    run_unit_tests(
        tmp_path,
        journey_rules,
        [
            {
                "interval": "1m",
                "input_series": journey_series(
                    [(CLEAN, REQUESTS, 0), (stop, REQUESTS, errors), (10, REQUESTS, 0)]
                ),
                "alert_rule_test": [
                    expect(page, CLEAN + math.floor(short_crossing) + 1 + lag, firing=False),
                    expect(page, CLEAN + first_firing - 1, firing=False),
                    expect(page, CLEAN + first_firing, firing=True),
                    expect(page, CLEAN + stop + lag, firing=True),
                    expect(page, CLEAN + stop + lag + 1, firing=False),
                ],
                "promql_expr_test": [
                    {
                        "expr": f"{one_hour} > bool {fast.burn_rate * policy.error_budget}",
                        "eval_time": f"{CLEAN + stop + lag + 1}m",
                        "exp_samples": [{"labels": "{}", "value": 1}],
                    }
                ],
            }
        ],
        alerts_first=alerts_first,
    )


@pytest.mark.parametrize("alerts_first", GROUP_ORDERS)
def test_a_total_outage_pages_after_4_32_minutes(
    checkout: CompiledJourney,
    journey_rules: dict[str, dict[str, Any]],
    tmp_path: Path,
    alerts_first: bool,
) -> None:
    """With every request failing the 1h ratio is τ/60, above 14.4 × 0.005 = 0.072 once
    τ > 4.32 min (the Workbook's detection time): firing at minute 5, not at 4."""
    policy = alert_policy(checkout)
    crossing = 60 * policy.page[0].burn_rate * policy.error_budget
    assert crossing == pytest.approx(4.32)
    lag = 1 if alerts_first else 0
    page = _alert(journey_rules["alerts.yaml"], "page")
    run_unit_tests(
        tmp_path,
        journey_rules,
        [
            {
                "interval": "1m",
                "input_series": journey_series([(CLEAN, REQUESTS, 0), (30, REQUESTS, REQUESTS)]),
                "alert_rule_test": [
                    expect(page, CLEAN + math.floor(crossing) + lag, firing=False),
                    expect(page, CLEAN + math.floor(crossing) + 1 + lag, firing=True),
                ],
            }
        ],
        alerts_first=alerts_first,
    )


def test_a_half_budget_burn_never_alerts(
    checkout: CompiledJourney, journey_rules: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    page = _alert(journey_rules["alerts.yaml"], "page")
    ticket = _alert(journey_rules["alerts.yaml"], "ticket")
    errors = 5  # per 2000 requests: error ratio 0.0025 = 0.5 × 0.005
    assert errors / 2000 == pytest.approx(0.5 * alert_policy(checkout).error_budget)
    run_unit_tests(
        tmp_path,
        journey_rules,
        [
            {
                "interval": "1m",
                "input_series": journey_series([(480, 2000, errors)]),
                "alert_rule_test": [
                    expect(alert, minute, firing=False)
                    for minute in (10, 60, 360, 480)
                    for alert in (page, ticket)
                ],
            }
        ],
    )


def test_a_new_service_failing_every_request_pages_without_a_success_series(
    checkout: CompiledJourney, journey_rules: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    page = _alert(journey_rules["alerts.yaml"], "page")
    _, bad = counters([(20, REQUESTS, REQUESTS)])
    run_unit_tests(
        tmp_path,
        journey_rules,
        [
            {
                "interval": "1m",
                "input_series": [{"series": ERROR, "values": series_values(bad)}],
                "alert_rule_test": [expect(page, 2, firing=True)],
                "promql_expr_test": [
                    {
                        "expr": error_ratio_record(checkout, "5m"),
                        "eval_time": "10m",
                        "exp_samples": [{"labels": error_ratio_record(checkout, "5m"), "value": 1}],
                    }
                ],
            }
        ],
    )


def test_zero_traffic_records_no_ratio_and_raises_no_alert(
    checkout: CompiledJourney, journey_rules: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """Counters that never move: 0/0 would be NaN; every error-ratio rule records nothing."""
    windows = [
        r["record"]
        for r in journey_rules["recording.yaml"]["groups"][0]["rules"]
        if ":slo_errors_per_request:" in r["record"]
    ]
    assert len(windows) == 8
    good, bad = counters([(180, 0, 0)])
    run_unit_tests(
        tmp_path,
        journey_rules,
        [
            {
                "interval": "1m",
                "input_series": [
                    {"series": SUCCESS, "values": series_values([g + 5000 for g in good])},
                    {"series": ERROR, "values": series_values(bad)},
                ],
                "promql_expr_test": [
                    {"expr": record, "eval_time": "180m", "exp_samples": []} for record in windows
                ],
                "alert_rule_test": [
                    expect(_alert(journey_rules["alerts.yaml"], sev), minute, False)
                    for minute in (30, 180)
                    for sev in ("page", "ticket")
                ],
            }
        ],
    )


# --- the journey ticket alert -------------------------------------------------------------------


def test_ticket_fires_after_two_days_of_a_sustained_1_5x_burn(
    checkout: CompiledJourney, journey_rules: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """At 1.5× after three clean days the 3d ratio is 0.0075·τ/3d, above 1 × 0.005 once
    τ > 2/3 · 3d = 2880 min (the 6h window crossed long before): not firing at 2870 min,
    firing at 2890 (10-minute samples), and the page never fires."""
    policy = alert_policy(checkout)
    (slow,) = policy.ticket
    assert (slow.burn_rate, slow.long_window, slow.short_window) == (1.0, "3d", "6h")
    step = 10  # minutes per sample
    per_step, errors = 10_000, 75  # error ratio 0.0075 = 1.5 × 0.005
    burn = errors / per_step / policy.error_budget
    assert burn == pytest.approx(1.5)
    clean = duration_ms("3d") // MINUTE
    crossing = duration_ms(slow.long_window) / MINUTE * slow.burn_rate / burn
    assert crossing == pytest.approx(2880)
    ticket = _alert(journey_rules["alerts.yaml"], "ticket")
    page = _alert(journey_rules["alerts.yaml"], "page")
    run_unit_tests(
        tmp_path,
        journey_rules,
        [
            {
                "interval": f"{step}m",
                "input_series": journey_series(
                    [(clean // step, per_step, 0), (int(crossing) // step + 2, per_step, errors)]
                ),
                "alert_rule_test": [
                    expect(ticket, clean + int(crossing) - step, firing=False),
                    expect(ticket, clean + int(crossing) + step, firing=True),
                    expect(page, clean + int(crossing) + step, firing=False),
                ],
            }
        ],
        evaluation_interval=f"{step}m",
    )


# --- Sloth layout and derived leaf alerts ------------------------------------------------------


def test_sloth_layout_pages_on_a_total_outage_with_sloth_labels(
    checkout: CompiledJourney, tmp_path: Path
) -> None:
    """Sloth's page and ticket alerts share a name: four minutes into a total outage only the
    ticket (1× over 6h and 3d) fires; at five the page joins it. Alert labels carry the SLO's
    identity from the recorded series, as Sloth's do."""
    rules = sloth_rules(checkout)
    page = next(
        r
        for g in rules["groups"]
        for r in g["rules"]
        if r.get("labels") == {"sloth_severity": "page"}
    )
    ids = {
        "sloth_id": "checkout-availability",
        "sloth_service": "checkout",
        "sloth_slo": "availability",
    }

    def firing(severity: str) -> dict[str, Any]:
        return {
            "exp_labels": {**ids, "sloth_severity": severity},
            "exp_annotations": {
                "summary": "checkout availability SLO error budget burn rate is over expected.",
                "title": f"({severity}) checkout availability SLO error budget burn rate is "
                "too fast.",
            },
        }

    selector = ", ".join(f'{k}="{v}"' for k, v in ids.items())
    run_unit_tests(
        tmp_path,
        {"sloth.yaml": rules},
        [
            {
                "interval": "1m",
                "input_series": journey_series([(CLEAN, REQUESTS, 0), (30, REQUESTS, REQUESTS)]),
                "alert_rule_test": [
                    {
                        "eval_time": f"{CLEAN + 4}m",
                        "alertname": page["alert"],
                        "exp_alerts": [firing("ticket")],
                    },
                    {
                        "eval_time": f"{CLEAN + 5}m",
                        "alertname": page["alert"],
                        "exp_alerts": [firing("page"), firing("ticket")],
                    },
                ],
                "promql_expr_test": [
                    {
                        # As in Sloth, period records keep the period ratio's `sloth_window`.
                        "expr": "slo:period_error_budget_remaining:ratio < bool 1",
                        "eval_time": f"{CLEAN + 30}m",
                        "exp_samples": [
                            {"labels": "{" + selector + ', sloth_window="30d"}', "value": 1}
                        ],
                    }
                ],
            }
        ],
    )


def test_a_leaf_within_its_own_slo_still_tickets_for_the_journey_budget(
    checkout: CompiledJourney, tmp_path: Path
) -> None:
    """paya may fail 0.5% of calls by its own SLO, but its share of the journey budget allows
    only max_error_ratio ≈ 0.33%: a steady error ratio between the two keeps paya's own 30-day
    SLO green while its derived ticket alert fires (and its page does not)."""
    paya = checkout.model.components["paya"]
    share = checkout.budget.leaves["paya"]
    own_budget = 1 - paya.availability
    assert share.max_error_ratio < own_budget
    requests = 6000
    errors = math.ceil(requests * (share.max_error_ratio + own_budget) / 2)
    ratio = errors / requests
    assert share.max_error_ratio < ratio < own_budget
    rules = leaf_alert_rules(checkout)
    alerts = [
        r
        for g in rules["groups"]
        for r in g["rules"]
        if r.get("labels", {}).get("component") == "paya" and "alert" in r
    ]
    page, ticket = alerts
    assert paya.sli is not None and paya.sli.good is not None
    own_ratio = f"1 - ({paya.sli.good} / {paya.sli.total})"
    good, bad = counters([(480, requests, errors)])
    run_unit_tests(
        tmp_path,
        {"leaf-alerts.yaml": rules},
        [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'payment_requests_total{provider="paya",result="success"}',
                        "values": series_values(good),
                    },
                    {
                        "series": 'payment_requests_total{provider="paya",result="declined"}',
                        "values": series_values(bad),
                    },
                ],
                "alert_rule_test": [
                    expect(ticket, 480, firing=True),
                    expect(page, 480, firing=False),
                ],
                "promql_expr_test": [
                    {
                        "expr": f"{own_ratio} < bool {own_budget}",
                        "eval_time": "480m",
                        "exp_samples": [{"labels": "{}", "value": 1}],
                    },
                    {
                        "expr": f"{LEAF_RECORD.format(window='6h')} > bool {share.max_error_ratio}",
                        "eval_time": "480m",
                        "exp_samples": [
                            {"labels": '{journey="checkout", component="paya"}', "value": 1}
                        ],
                    },
                ],
            }
        ],
    )


# --- the series builder itself ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "text"),
    [
        pytest.param(
            [0, 1000, 2000, 2925, 3850],
            "0+1000x2 2925+925x1",
            id="a change of slope starts a new run",
        ),
        pytest.param([5, 5, 5], "5+0x2", id="a flat counter is one run"),
        pytest.param([7], "7", id="a single sample is written as is"),
    ],
)
def test_series_values(values: list[int], text: str) -> None:
    assert series_values(values) == text
