"""Journey recording rules, burn-rate alerts, PrometheusRule wrapping and parity with the paper."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.emit.prometheus import (
    alert_policy,
    as_prometheus_rule,
    journey_alert_rules,
    journey_recording_rules,
    prometheus_rule_for,
)
from bot.emit.promql import (
    WindowError,
    camel_case,
    canonical_window,
    duration_ms,
    error_ratio_expr,
    format_duration,
    format_number,
    paren,
    range_selectors,
    rewindow,
    windowed,
)
from bot.emit.yamlout import dump_yaml
from tests.test_emit_prometheus_support import JourneySketch, compiled

# --- PromQL text helpers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "window", "expected"),
    [
        pytest.param(
            "sum(increase(x[30d]))",
            "5m",
            "sum(increase(x[5m]))",
            id="a 30d range selector becomes 5m",
        ),
        pytest.param(
            'sum(rate(x{code=~"[45].."}[30d]))',
            "1h",
            'sum(rate(x{code=~"[45].."}[1h]))',
            id="brackets inside a label regex are left alone",
        ),
        pytest.param(
            "max_over_time(rate(x[5m])[30d:1m])",
            "6h",
            "max_over_time(rate(x[6h])[6h:1m])",
            id="a subquery keeps its resolution and every range is re-windowed",
        ),
        pytest.param(
            "sum(rate(x[ 1h30m ]))",
            "3d",
            "sum(rate(x[3d]))",
            id="compound durations with spaces are recognised",
        ),
        pytest.param(
            "rate(x[30d]) # was [30d]\n",
            "5m",
            "rate(x[5m]) # was [30d]\n",
            id="comments are not rewritten",
        ),
    ],
)
def test_rewindow(query: str, window: str, expected: str) -> None:
    assert rewindow(query, window) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(
            "sum(rate(x[{{ .window }}]))\n",
            "sum(rate(x[2h]))",
            id="the spec's template is filled in and the block scalar newline dropped",
        ),
        pytest.param(
            "sum(rate(x[{{.window}}]))",
            "sum(rate(x[2h]))",
            id="Sloth's spelling of the template is filled in too",
        ),
        pytest.param(
            "sum(rate(x[30d]))", "sum(rate(x[2h]))", id="a query without template is re-windowed"
        ),
    ],
)
def test_windowed(query: str, expected: str) -> None:
    assert windowed(query, "2h") == expected


def test_a_query_with_no_window_cannot_be_windowed() -> None:
    with pytest.raises(WindowError, match="no range selector"):
        windowed("up == 1", "5m")


def test_range_selectors_ignore_string_literals() -> None:
    assert range_selectors('x{a="[1d]"}[7d] / y[`[2d]`][30d]') == ["7d", "30d"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("24h", "1d", id="24h is printed as 1d"),
        pytest.param("7d", "1w", id="a whole week is printed in weeks"),
        pytest.param("30d", "30d", id="30d is not a whole number of weeks"),
        pytest.param("90m", "1h30m", id="mixed units are kept"),
        pytest.param("1.5h", "1h30m", id="fractional spec durations are normalised"),
        pytest.param("60m", "1h", id="60m is one hour"),
    ],
)
def test_canonical_window(text: str, expected: str) -> None:
    assert canonical_window(text) == expected


def test_format_duration_of_zero() -> None:
    assert format_duration(0) == "0s"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(1 - 0.995, "0.005", id="binary noise in 1 - 0.995 is not printed"),
        pytest.param(6.0, "6", id="whole numbers print without a decimal point"),
        pytest.param(14.4 * 7 / 30, "3.36", id="a scaled burn rate prints at 12 digits"),
        pytest.param(1e-05, "1e-05", id="small numbers keep PromQL-readable exponent form"),
    ],
)
def test_format_number(value: float, expected: str) -> None:
    assert format_number(value) == expected
    assert float(expected) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("checkout", "Checkout", id="a plain name is capitalised"),
        pytest.param("user-login", "UserLogin", id="dashes join CamelCase words"),
        pytest.param("search_v2", "SearchV2", id="underscores join CamelCase words"),
    ],
)
def test_camel_case(name: str, expected: str) -> None:
    assert camel_case(name) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        pytest.param("sum(rate(x[5m]))", "sum(rate(x[5m]))", id="a call needs no parentheses"),
        pytest.param(
            "sum by (le) (rate(x[5m]))",
            "sum by (le) (rate(x[5m]))",
            id="an aggregation with a by clause is one operand",
        ),
        pytest.param("sum(a) + sum(b)", "(sum(a) + sum(b))", id="a sum of two is wrapped"),
        pytest.param('x{a="b-c"}', 'x{a="b-c"}', id="operators inside strings do not count"),
        pytest.param("a or b", "(a or b)", id="set operators are wrapped"),
    ],
)
def test_paren(expr: str, expected: str) -> None:
    assert paren(expr) == expected


def test_error_ratio_expression_guards_zero_traffic_and_missing_success_series() -> None:
    assert error_ratio_expr("sum(t)", good="sum(g)") == (
        "1 - ((sum(g) or 0 * sum(t)) / (sum(t) > 0))"
    )
    assert error_ratio_expr("sum(a) + sum(b)", bad="sum(e)") == (
        "(sum(e) or 0 * (sum(a) + sum(b))) / ((sum(a) + sum(b)) > 0)"
    )


# --- Burn-rate policy ---------------------------------------------------------------------------


def _policy_rows(sketch: JourneySketch) -> list[tuple[str, float, str, str]]:
    policy = alert_policy(sketch.build())
    return [
        (w.severity, w.burn_rate, w.long_window, w.short_window)
        for w in policy.page + policy.ticket
    ]


def test_the_spec_policy_is_used_as_written() -> None:
    assert _policy_rows(JourneySketch()) == [
        ("page", 14.4, "1h", "5m"),
        ("page", 6.0, "6h", "30m"),
        ("ticket", 1.0, "3d", "6h"),
    ]


@pytest.mark.parametrize(
    ("window", "alerts", "expected"),
    [
        pytest.param(
            "30d",
            None,
            [("page", 14.4, "1h", "5m"), ("page", 6.0, "6h", "30m"), ("ticket", 1.0, "3d", "6h")],
            id="without a policy a 30-day window gets the SRE Workbook numbers",
        ),
        pytest.param(
            "7d",
            {},
            [
                ("page", 3.36, "1h", "5m"),
                ("page", 1.4, "6h", "30m"),
                ("ticket", 0.7 / 3, "3d", "6h"),
            ],
            id="a 7-day window spends the same budget shares at 7/30 the burn rate",
        ),
        pytest.param(
            "90d",
            {"burnRatePolicy": {}},
            [("page", 43.2, "1h", "5m"), ("page", 18.0, "6h", "30m"), ("ticket", 3.0, "3d", "6h")],
            id="an empty policy counts as none and a 90-day window triples the rates",
        ),
        pytest.param(
            "2d",
            None,
            [("page", 0.96, "1h", "5m"), ("page", 0.4, "6h", "30m")],
            id="a default window longer than the budget window is dropped",
        ),
    ],
)
def test_default_policy_scales_with_the_budget_window(
    window: str, alerts: dict[str, Any] | None, expected: list[tuple[str, float, str, str]]
) -> None:
    rows = _policy_rows(JourneySketch(window=window, alerts=alerts))
    assert [(s, lw, sw) for s, _, lw, sw in rows] == [(s, lw, sw) for s, _, lw, sw in expected]
    for (_, got, _, _), (_, want, _, _) in zip(rows, expected, strict=True):
        assert got == pytest.approx(want, rel=1e-12)


def test_the_budget_window_overrides_the_objective_window() -> None:
    sketch = JourneySketch(window="30d", alerts={"sloBudgetWindow": "7d"})
    policy = alert_policy(sketch.build())
    assert policy.budget_window == "1w"
    assert policy.page[0].burn_rate == pytest.approx(3.36, rel=1e-12)


def test_policy_windows_are_spelled_canonically() -> None:
    alerts = {
        "burnRatePolicy": {"page": [{"burnRate": 2, "longWindow": "24h", "shortWindow": "120m"}]}
    }
    assert _policy_rows(JourneySketch(alerts=alerts)) == [("page", 2.0, "1d", "2h")]


# --- Journey recording rules and alerts ------------------------------------------------------


def _rules(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _windows(doc: dict[str, Any], prefix: str) -> list[str]:
    return [
        r["record"].removeprefix(prefix)
        for r in _rules(doc)
        if r.get("record", "").startswith(prefix)
    ]


def test_recording_rules_cover_every_alert_window_plus_the_standard_ones() -> None:
    doc = journey_recording_rules(JourneySketch().build())
    assert doc["groups"][0]["name"] == "emac.checkout.sli"
    assert _windows(doc, "journey:checkout:slo_errors_per_request:ratio_rate") == [
        "5m",
        "30m",
        "1h",
        "2h",
        "6h",
        "1d",
        "3d",
        "30d",
    ]


def test_recording_rules_add_a_policy_window_outside_the_standard_set() -> None:
    alerts = {
        "burnRatePolicy": {"page": [{"burnRate": 10, "longWindow": "4h", "shortWindow": "20m"}]}
    }
    doc = journey_recording_rules(JourneySketch(alerts=alerts).build())
    windows = _windows(doc, "journey:checkout:slo_errors_per_request:ratio_rate")
    assert {"4h", "20m"} <= set(windows)
    assert windows == sorted(windows, key=duration_ms)


def test_recording_rules_substitute_the_window_into_the_spec_queries() -> None:
    doc = journey_recording_rules(JourneySketch().build())
    by_name = {r["record"]: r["expr"] for r in _rules(doc)}
    one_hour = by_name["journey:checkout:slo_errors_per_request:ratio_rate1h"]
    assert one_hour == (
        '1 - ((sum(rate(journey_requests_total{journey="checkout",result="success"}[1h])) '
        'or 0 * sum(rate(journey_requests_total{journey="checkout"}[1h]))) '
        '/ (sum(rate(journey_requests_total{journey="checkout"}[1h])) > 0))'
    )
    assert "{{" not in yaml.safe_dump(doc)


def test_a_journey_without_sli_queries_gets_no_rules() -> None:
    cj = JourneySketch(sli=False).build()
    assert journey_recording_rules(cj) == {"groups": []}
    assert journey_alert_rules(cj) == {"groups": []}


def test_record_names_are_valid_metric_names_for_any_journey_name() -> None:
    doc = journey_recording_rules(JourneySketch(name="user-login.v2").build())
    for rule in _rules(doc):
        assert re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", rule["record"]), rule["record"]
    assert _rules(doc)[0]["record"] == "journey:user_login_v2:requests:rate5m"


def test_page_alert_ors_the_page_windows_and_ticket_alert_is_separate() -> None:
    doc = journey_alert_rules(JourneySketch().build())
    page, ticket = _rules(doc)
    assert page["alert"] == "CheckoutErrorBudgetBurnTooFast"
    assert page["labels"] == {"severity": "page", "slo": "checkout", "journey": "checkout"}
    assert _normalise(page["expr"]) == _normalise(
        "((journey:checkout:slo_errors_per_request:ratio_rate1h > (14.4 * 0.005)) and "
        "(journey:checkout:slo_errors_per_request:ratio_rate5m > (14.4 * 0.005))) or "
        "((journey:checkout:slo_errors_per_request:ratio_rate6h > (6 * 0.005)) and "
        "(journey:checkout:slo_errors_per_request:ratio_rate30m > (6 * 0.005)))"
    )
    assert ticket["alert"] == "CheckoutErrorBudgetBurnSustained"
    assert ticket["labels"]["severity"] == "ticket"
    assert "30-day budget" in ticket["annotations"]["description"]


def test_thresholds_follow_the_target() -> None:
    doc = journey_alert_rules(JourneySketch(target=0.999, name="search").build())
    page = _rules(doc)[0]
    assert "(14.4 * 0.001)" in page["expr"] and "(6 * 0.001)" in page["expr"]
    assert page["alert"] == "SearchErrorBudgetBurnTooFast"


def test_a_policy_with_only_page_windows_has_no_ticket_alert() -> None:
    alerts = {"burnRatePolicy": {"page": PAPER_POLICY_PAGE}}
    doc = journey_alert_rules(JourneySketch(alerts=alerts).build())
    assert [r["alert"] for r in _rules(doc)] == ["CheckoutErrorBudgetBurnTooFast"]


PAPER_POLICY_PAGE = [{"burnRate": 14.4, "longWindow": "1h", "shortWindow": "5m"}]


def test_latency_evidence_gets_its_5m_helper_rule() -> None:
    promql = "histogram_quantile(0.99, sum(rate(lat_bucket[{{ .window }}])) by (le))\n"
    doc = journey_recording_rules(JourneySketch(latency_promql=promql).build())
    last = _rules(doc)[-1]
    assert last == {
        "record": "journey:checkout:latency_seconds:p99_5m",
        "expr": "histogram_quantile(0.99, sum(rate(lat_bucket[5m])) by (le))",
    }


# --- PrometheusRule -----------------------------------------------------------------------------


def test_prometheus_rule_wraps_the_groups_with_spec_metadata() -> None:
    cj = JourneySketch(namespace="shop", labels={"team": "payments", "tier": "1"}).build()
    rules = journey_alert_rules(cj)
    resource = prometheus_rule_for(cj, rules, "alerts")
    assert resource == {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "emac-checkout-alerts",
            "namespace": "shop",
            "labels": {"team": "payments", "tier": "1"},
        },
        "spec": {"groups": rules["groups"]},
    }


def test_prometheus_rule_without_labels_has_no_labels_key() -> None:
    resource = as_prometheus_rule({"groups": []}, "emac-x-alerts", {})
    assert resource["metadata"] == {"name": "emac-x-alerts"}


# --- Parity with the paper's compiled rules ------------------------------------------------------


def _normalise(expr: str) -> str:
    return re.sub(r"\s+", "", expr)


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def test_alerts_match_the_paper_artifact(paper_checkout: Path) -> None:
    """Same alert names, windows, factors and thresholds; ours only add the `journey` label."""
    cj = compiled(paper_checkout)
    ours = prometheus_rule_for(cj, journey_alert_rules(cj), "alerts")
    theirs = _load(paper_checkout / "compiled" / "prometheus" / "alerts.yaml")
    assert ours["metadata"]["name"] == theirs["metadata"]["name"]
    assert theirs["metadata"]["labels"].items() <= ours["metadata"]["labels"].items()
    assert [g["name"] for g in ours["spec"]["groups"]] == [
        g["name"] for g in theirs["spec"]["groups"]
    ]
    for mine, paper in zip(_rules(ours["spec"]), _rules(theirs["spec"]), strict=True):
        assert mine["alert"] == paper["alert"]
        assert _normalise(mine["expr"]) == _normalise(paper["expr"])
        assert paper["labels"].items() <= mine["labels"].items()
        assert mine["annotations"]["summary"] == paper["annotations"]["summary"]


def test_recording_rules_match_the_paper_artifact(paper_checkout: Path) -> None:
    """Every window the paper records is recorded; helper rules are identical; ratio rules add
    the zero-traffic guard (a documented difference)."""
    cj = compiled(paper_checkout)
    ours = prometheus_rule_for(cj, journey_recording_rules(cj), "recording-rules")
    theirs = _load(paper_checkout / "compiled" / "prometheus" / "recording-rules.yaml")
    assert (
        ours["metadata"]["name"] == theirs["metadata"]["name"] == ("emac-checkout-recording-rules")
    )
    assert [g["name"] for g in ours["spec"]["groups"]] == ["emac.checkout.sli"]
    prefix = "journey:checkout:slo_errors_per_request:ratio_rate"
    mine = {duration_ms(w) for w in _windows(ours["spec"], prefix)}
    paper = {duration_ms(w) for w in _windows(theirs["spec"], prefix)}
    assert paper <= mine
    assert mine - paper == {duration_ms("30d")}
    paper_exprs = {r["record"]: _normalise(r["expr"]) for r in _rules(theirs["spec"])}
    for rule in _rules(ours["spec"]):
        if not rule["record"].startswith(prefix):
            assert _normalise(rule["expr"]) == paper_exprs[rule["record"]]


def test_ratio_rules_compute_what_the_paper_computes_when_there_is_traffic(
    paper_checkout: Path,
) -> None:
    """Stripping our guards from a ratio rule leaves exactly the paper's expression."""
    cj = compiled(paper_checkout)
    ours = {r["record"]: r["expr"] for r in _rules(journey_recording_rules(cj))}
    theirs = {
        r["record"]: r["expr"]
        for r in _rules(
            _load(paper_checkout / "compiled" / "prometheus" / "recording-rules.yaml")["spec"]
        )
    }
    expr = ours["journey:checkout:slo_errors_per_request:ratio_rate1h"]
    match = re.fullmatch(r"1 - \(\((.*) or 0 \* (.*)\) / \((.*) > 0\)\)", expr)
    assert match is not None and match.group(2) == match.group(3)
    good, total = match.group(1, 2)
    assert _normalise(f"1 - ({good} / {total})") == _normalise(
        theirs["journey:checkout:slo_errors_per_request:ratio_rate1h"]
    )


def test_dumped_rules_reload_to_the_same_document() -> None:
    cj = JourneySketch().build()
    for doc in (
        journey_recording_rules(cj),
        journey_alert_rules(cj),
        prometheus_rule_for(cj, journey_alert_rules(cj), "alerts"),
    ):
        text = dump_yaml(doc, cj.model.source)
        assert text.startswith("# generated by emac from spec/checkout.yaml — do not edit\n")
        assert yaml.safe_load(text) == doc


def test_multi_line_expressions_are_written_as_literal_blocks() -> None:
    cj = JourneySketch().build()
    text = dump_yaml(journey_alert_rules(cj), cj.model.source)
    assert "    expr: |\n      (\n        (journey:checkout:" in text


def test_a_changed_target_changes_only_thresholds() -> None:
    base = JourneySketch().build()
    tighter = JourneySketch(target=0.999).build()
    before = _rules(journey_alert_rules(base))
    after = _rules(journey_alert_rules(tighter))
    assert [r["alert"] for r in before] == [r["alert"] for r in after]
    assert before[0]["expr"].replace("0.005", "0.001") == after[0]["expr"]
