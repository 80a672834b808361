"""`--rules-format sloth`: record names, labels, meta records and alerts as Sloth generates them."""

from __future__ import annotations

from typing import Any

import pytest

from bot.emit.sloth import sloth_rules
from tests.test_emit_prometheus_support import JourneySketch

IDS = {
    "sloth_id": "checkout-availability",
    "sloth_service": "checkout",
    "sloth_slo": "availability",
}
SELECTOR = '{sloth_id="checkout-availability", sloth_service="checkout", sloth_slo="availability"}'


def _groups(sketch: JourneySketch | None = None) -> dict[str, list[dict[str, Any]]]:
    doc = sloth_rules((sketch or JourneySketch()).build())
    return {g["name"]: g["rules"] for g in doc["groups"]}


def test_groups_are_named_like_sloth_names_them() -> None:
    assert list(_groups()) == [
        "sloth-slo-sli-recordings-checkout-availability",
        "sloth-slo-meta-recordings-checkout-availability",
        "sloth-slo-alerts-checkout-availability",
    ]


def test_sli_records_cover_sloths_windows_and_carry_its_labels() -> None:
    rules = _groups()["sloth-slo-sli-recordings-checkout-availability"]
    assert [r["record"] for r in rules] == [
        f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")
    ]
    for rule in rules:
        window = rule["record"].removeprefix("slo:sli_error:ratio_rate")
        assert rule["labels"] == {**IDS, "sloth_window": window}


def test_the_period_ratio_averages_the_5m_ratio_like_sloth() -> None:
    period = _groups()["sloth-slo-sli-recordings-checkout-availability"][-1]
    assert period["expr"] == (
        f"sum_over_time(slo:sli_error:ratio_rate5m{SELECTOR}[30d])\n"
        "/ ignoring (sloth_window)\n"
        f"count_over_time(slo:sli_error:ratio_rate5m{SELECTOR}[30d])\n"
    )


def test_a_weekly_period_is_named_1w_as_sloth_prints_it() -> None:
    rules = _groups(JourneySketch(window="7d", alerts=None))[
        "sloth-slo-sli-recordings-checkout-availability"
    ]
    assert [r["labels"]["sloth_window"] for r in rules] == [
        "5m",
        "30m",
        "1h",
        "2h",
        "6h",
        "1d",
        "3d",
        "1w",
    ]
    assert rules[-1]["record"] == "slo:sli_error:ratio_rate1w"


def test_meta_records_match_sloth() -> None:
    rules = _groups()["sloth-slo-meta-recordings-checkout-availability"]
    by_name = {r["record"]: r for r in rules}
    assert list(by_name) == [
        "slo:objective:ratio",
        "slo:error_budget:ratio",
        "slo:time_period:days",
        "slo:current_burn_rate:ratio",
        "slo:period_burn_rate:ratio",
        "slo:period_error_budget_remaining:ratio",
        "sloth_slo_info",
    ]
    assert by_name["slo:objective:ratio"]["expr"] == "vector(0.995)"
    assert by_name["slo:error_budget:ratio"]["expr"] == "vector(1-0.995)"
    assert by_name["slo:time_period:days"]["expr"] == "vector(30)"
    assert by_name["slo:current_burn_rate:ratio"]["expr"] == (
        f"slo:sli_error:ratio_rate5m{SELECTOR}\n"
        "/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
        f"slo:error_budget:ratio{SELECTOR}\n"
    )
    assert by_name["slo:period_error_budget_remaining:ratio"]["expr"] == (
        f"1 - slo:period_burn_rate:ratio{SELECTOR}"
    )
    for name, rule in by_name.items():
        if name != "sloth_slo_info":
            assert rule["labels"] == IDS
    assert by_name["sloth_slo_info"]["labels"] == {
        **IDS,
        "sloth_mode": "emac",
        "sloth_objective": "99.5",
        "sloth_spec": "emac.dev/v1alpha1",
    }


def test_page_and_ticket_alerts_share_one_name_and_differ_by_sloth_severity() -> None:
    page, ticket = _groups()["sloth-slo-alerts-checkout-availability"]
    assert page["alert"] == ticket["alert"] == "CheckoutErrorBudgetBurn"
    assert page["labels"] == {"sloth_severity": "page"}
    assert ticket["labels"] == {"sloth_severity": "ticket"}
    assert page["annotations"] == {
        "summary": "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate "
        "is over expected.",
        "title": "(page) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn "
        "rate is too fast.",
    }
    assert ticket["annotations"]["title"].startswith("(ticket) ")


def test_alert_pairs_are_written_short_window_first_without_sloth_window() -> None:
    page = _groups()["sloth-slo-alerts-checkout-availability"][0]
    assert page["expr"] == (
        "(\n"
        f"    max(slo:sli_error:ratio_rate5m{SELECTOR} > (14.4 * 0.005)) without (sloth_window)\n"
        "    and\n"
        f"    max(slo:sli_error:ratio_rate1h{SELECTOR} > (14.4 * 0.005)) without (sloth_window)\n"
        ")\n"
        "or\n"
        "(\n"
        f"    max(slo:sli_error:ratio_rate30m{SELECTOR} > (6 * 0.005)) without (sloth_window)\n"
        "    and\n"
        f"    max(slo:sli_error:ratio_rate6h{SELECTOR} > (6 * 0.005)) without (sloth_window)\n"
        ")\n"
    )


@pytest.mark.parametrize(
    ("target", "objective"),
    [
        pytest.param(0.999, "99.9", id="three nines print as Sloth's percent objective"),
        pytest.param(0.95, "95", id="a whole percent prints without decimals"),
    ],
)
def test_sloth_objective_label_is_a_percentage(target: float, objective: str) -> None:
    info = _groups(JourneySketch(target=target))["sloth-slo-meta-recordings-checkout-availability"]
    assert info[-1]["labels"]["sloth_objective"] == objective


def test_a_journey_without_sli_has_no_sloth_rules() -> None:
    assert sloth_rules(JourneySketch(sli=False).build()) == {"groups": []}
