"""Istio's own bookinfo and test manifests read as routing, retry and fault evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.discover.mesh import (
    DEFAULT_RETRY_ATTEMPTS,
    DEFAULT_RETRY_ON,
    ConfigEvidence,
    MatchCondition,
    fault_effects,
    read_config_dirs,
)

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
ISTIO = REFERENCE / "istio"
NETWORKING = ISTIO / "bookinfo" / "networking"

JASON = ((MatchCondition("headers.end-user", "exact", "jason"),),)

# Every reference manifest and what it holds (kinds we do not read are counted as ignored).
RESOURCE_COUNTS: dict[str, dict[str, int]] = {
    "bookinfo/networking/bookinfo-gateway.yaml": {"VirtualService": 1, "ignored": 1},
    "bookinfo/networking/certmanager-gateway.yaml": {"VirtualService": 1, "ignored": 1},
    "bookinfo/networking/destination-rule-all-mtls.yaml": {"DestinationRule": 4},
    "bookinfo/networking/destination-rule-all.yaml": {"DestinationRule": 4},
    "bookinfo/networking/destination-rule-reviews.yaml": {"DestinationRule": 1},
    "bookinfo/networking/egress-rule-google-apis.yaml": {
        "VirtualService": 1,
        "DestinationRule": 1,
        "ignored": 1,
    },
    "bookinfo/networking/fault-injection-details-v1.yaml": {
        "VirtualService": 1,
        "DestinationRule": 1,
    },
    "bookinfo/networking/virtual-service-all-v1.yaml": {"VirtualService": 4},
    "bookinfo/networking/virtual-service-details-v2.yaml": {"VirtualService": 1},
    "bookinfo/networking/virtual-service-ratings-db.yaml": {"VirtualService": 2},
    "bookinfo/networking/virtual-service-ratings-mysql-vm.yaml": {"VirtualService": 2},
    "bookinfo/networking/virtual-service-ratings-mysql.yaml": {"VirtualService": 2},
    "bookinfo/networking/virtual-service-ratings-test-abort.yaml": {"VirtualService": 1},
    "bookinfo/networking/virtual-service-ratings-test-delay.yaml": {"VirtualService": 1},
    "bookinfo/networking/virtual-service-reviews-50-v3.yaml": {"VirtualService": 1},
    "bookinfo/networking/virtual-service-reviews-80-20.yaml": {"VirtualService": 1},
    "bookinfo/networking/virtual-service-reviews-90-10.yaml": {"VirtualService": 1},
    "bookinfo/networking/virtual-service-reviews-jason-v2-v3.yaml": {"VirtualService": 1},
    "bookinfo/networking/virtual-service-reviews-test-v2.yaml": {"VirtualService": 1},
    "bookinfo/networking/virtual-service-reviews-v2-v3.yaml": {"VirtualService": 1},
    "bookinfo/networking/virtual-service-reviews-v3.yaml": {"VirtualService": 1},
    "bookinfo/platform/bookinfo.yaml": {"Deployment": 6, "ignored": 8},
    "testdata/rule-fault-injection.yaml": {"VirtualService": 1, "DestinationRule": 1, "ignored": 1},
    "testdata/rule-weighted-route.yaml": {"VirtualService": 1, "DestinationRule": 1, "ignored": 1},
}


def read(name: str) -> ConfigEvidence:
    return read_config_dirs([ISTIO / name])


def test_every_reference_manifest_is_listed() -> None:
    on_disk = {p.relative_to(ISTIO).as_posix() for p in ISTIO.rglob("*.yaml")}
    assert on_disk == set(RESOURCE_COUNTS)


@pytest.mark.parametrize(
    ("name", "counts"),
    [
        pytest.param(n, c, id=f"{n} loads with its resources counted")
        for n, c in RESOURCE_COUNTS.items()
    ],
)
def test_reference_manifest_loads(name: str, counts: dict[str, int]) -> None:
    assert dict(read(name).resource_counts) == counts


def test_reading_the_whole_reference_folder_flags_the_competing_variants() -> None:
    evidence = read_config_dirs([ISTIO])
    assert sum(evidence.resource_counts.values()) == sum(
        sum(c.values()) for c in RESOURCE_COUNTS.values()
    )
    conflicts = {f.message.split(":")[0] for f in evidence.flags if f.kind == "conflicting_routes"}
    assert conflicts == {"reviews", "ratings", "details"}
    reviews = next(f for f in evidence.flags if f.message.startswith("reviews: routed by"))
    assert "routed by 11 VirtualServices" in reviews.message


@pytest.mark.parametrize(
    ("file", "split"),
    [
        pytest.param(
            "virtual-service-all-v1.yaml",
            {("reviews", "v1"): 1.0},
            id="a single destination without weight takes all of reviews",
        ),
        pytest.param(
            "virtual-service-reviews-v3.yaml", {("reviews", "v3"): 1.0}, id="reviews pinned to v3"
        ),
        pytest.param(
            "virtual-service-reviews-50-v3.yaml",
            {("reviews", "v1"): 0.5, ("reviews", "v3"): 0.5},
            id="50 and 50 become a 0.5/0.5 branch over v1 and v3",
        ),
        pytest.param(
            "virtual-service-reviews-80-20.yaml",
            {("reviews", "v1"): 0.8, ("reviews", "v2"): 0.2},
            id="80 and 20 become a 0.8/0.2 branch over v1 and v2",
        ),
        pytest.param(
            "virtual-service-reviews-90-10.yaml",
            {("reviews", "v1"): 0.9, ("reviews", "v2"): 0.1},
            id="90 and 10 become a 0.9/0.1 branch over v1 and v2",
        ),
        pytest.param(
            "virtual-service-reviews-v2-v3.yaml",
            {("reviews", "v2"): 0.5, ("reviews", "v3"): 0.5},
            id="50 and 50 become a 0.5/0.5 branch over v2 and v3",
        ),
        pytest.param(
            "virtual-service-reviews-test-v2.yaml",
            {("reviews", "v1"): 1.0},
            id="the default route of the jason test sends everyone else to v1",
        ),
        pytest.param(
            "virtual-service-reviews-jason-v2-v3.yaml",
            {("reviews", "v3"): 1.0},
            id="the default route of the jason v2/v3 rule sends everyone else to v3",
        ),
    ],
)
def test_reviews_weights_are_recovered(file: str, split: dict[tuple[str, str], float]) -> None:
    got = read_config_dirs([NETWORKING / file]).split("reviews")
    assert got.keys() == split.keys()
    for key, weight in split.items():
        assert got[key] == pytest.approx(weight, abs=1e-12)


def test_weights_keep_the_line_they_were_written_on() -> None:
    routes = read_config_dirs([NETWORKING / "virtual-service-reviews-80-20.yaml"]).routes
    assert [(r.subset, r.source.line, r.source.field, r.signal) for r in routes["reviews"]] == [
        ("v1", 13, "spec.http[0].route[0].weight", "istio.route.weight"),
        ("v2", 17, "spec.http[0].route[1].weight", "istio.route.weight"),
    ]
    assert routes["reviews"][0].source.file == "virtual-service-reviews-80-20.yaml"


def test_istio_test_data_weighted_route_is_75_25() -> None:
    evidence = read("testdata/rule-weighted-route.yaml")
    assert evidence.split("c-weighted.extsvc.com") == {
        ("c-weighted.extsvc.com", "v1"): 0.75,
        ("c-weighted.extsvc.com", "v2"): 0.25,
    }
    assert [s.name for s in evidence.subsets["c-weighted.extsvc.com"]] == ["v1", "v2"]


@pytest.mark.parametrize(
    ("file", "matched", "default"),
    [
        pytest.param(
            "virtual-service-reviews-test-v2.yaml",
            "v2",
            "v1",
            id="jason is routed to v2, everyone else to v1",
        ),
        pytest.param(
            "virtual-service-reviews-jason-v2-v3.yaml",
            "v2",
            "v3",
            id="jason is routed to v2, everyone else to v3",
        ),
    ],
)
def test_header_match_routing_is_recorded(file: str, matched: str, default: str) -> None:
    evidence = read_config_dirs([NETWORKING / file])
    (conditional,) = evidence.conditional_routes("reviews")
    assert (conditional.subset, conditional.matches, conditional.weight) == (matched, JASON, 1.0)
    assert conditional.share_known is False
    (fallback,) = [r for r in evidence.routes["reviews"] if not r.matches]
    assert (fallback.subset, fallback.share_known, fallback.reachable) == (default, False, True)
    (flag,) = evidence.flags
    assert flag.kind == "unknown_share"
    assert flag.message == (
        "reviews: http[0] takes only requests matching headers.end-user "
        "exact 'jason'; its share of requests is unknown"
    )
    assert (flag.source.line, flag.source.field) == (10, "spec.http[0].match")


def test_istio_defaults_apply_when_a_route_has_no_retries_block() -> None:
    evidence = read_config_dirs([NETWORKING / "virtual-service-all-v1.yaml"])
    assert {r.host for r in evidence.retry_policies} == {
        "productpage",
        "reviews",
        "ratings",
        "details",
    }
    for policy in evidence.retry_policies:
        assert policy.defaulted and policy.signal == "istio.retries.default"
        assert (policy.retries, policy.tries) == (DEFAULT_RETRY_ATTEMPTS, 3)
        assert policy.retry_on == (
            "connect-failure",
            "refused-stream",
            "unavailable",
            "cancelled",
            "retriable-status-codes",
        )
        assert policy.retry_on == DEFAULT_RETRY_ON and policy.per_try_timeout is None
    assert evidence.timeouts == ()


def test_ratings_delay_rule_is_7s_for_every_jason_request() -> None:
    evidence = read_config_dirs([NETWORKING / "virtual-service-ratings-test-delay.yaml"])
    (fault,) = evidence.faults
    assert (fault.host, fault.kind, fault.delay_seconds, fault.share) == (
        "ratings",
        "delay",
        7.0,
        1.0,
    )
    assert (fault.matches, fault.share_known, fault.destinations) == (
        JASON,
        False,
        (("ratings", "v1"),),
    )
    assert (fault.source.line, fault.source.field) == (17, "spec.http[0].fault.delay.fixedDelay")


def test_ratings_abort_rule_returns_500_to_every_jason_request() -> None:
    evidence = read_config_dirs([NETWORKING / "virtual-service-ratings-test-abort.yaml"])
    (fault,) = evidence.faults
    assert (fault.kind, fault.http_status, fault.share, fault.matches) == ("abort", 500, 1.0, JASON)
    assert (fault.source.line, fault.signal) == (15, "istio.fault.abort")


def test_details_abort_on_the_catch_all_rule_makes_the_later_rule_unreachable() -> None:
    evidence = read_config_dirs([NETWORKING / "fault-injection-details-v1.yaml"])
    (fault,) = evidence.faults
    assert (fault.http_status, fault.share, fault.share_known) == (555, 1.0, True)
    (flag,) = evidence.flags
    assert flag.kind == "unreachable_rule" and flag.source.line == 18
    assert evidence.split("details") == {("details", "v1"): 1.0}
    effect = fault_effects(evidence)["details"]
    assert effect.availability_factor == (0.0, 0.0)


def test_istio_test_data_fault_has_both_delay_and_abort_behind_a_two_part_match() -> None:
    evidence = read("testdata/rule-fault-injection.yaml")
    kinds = {f.kind: f for f in evidence.faults}
    assert (kinds["delay"].delay_seconds, kinds["delay"].share) == (5.0, 1.0)
    assert (kinds["abort"].http_status, kinds["abort"].share) == (503, 1.0)
    assert kinds["abort"].matches == (
        (
            MatchCondition("headers.version", "exact", "v2"),
            MatchCondition("sourceLabels.version", "exact", "v1"),
        ),
    )
    (route,) = evidence.routes["fault.test.istio.io"]
    assert (route.destination, route.subset, route.weight) == ("c", "v2", 1.0)


def test_gateway_routes_are_conditional_on_uri_and_bound_to_their_gateway() -> None:
    evidence = read("bookinfo/networking/bookinfo-gateway.yaml")
    (route,) = evidence.routes["*"]
    assert route.gateways == ("bookinfo-gateway",) and route.destination == "productpage"
    assert [c for clause in route.matches for c in clause][:2] == [
        MatchCondition("uri", "exact", "/productpage"),
        MatchCondition("uri", "prefix", "/static"),
    ]
    assert evidence.split("*") == {}
