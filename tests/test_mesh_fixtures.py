"""Our checkout mesh manifests: explicit retries, timeouts, mirrors, outlier detection, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.discover.mesh import (
    ConfigEvidence,
    config_evidence_from_documents,
    duration_seconds,
    read_config_dirs,
    service_of,
)
from bot.spec.errors import SpecError
from bot.spec.yamlpos import parse_yaml_text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mesh"
GATEWAY = "payment-gateway.payments.svc.cluster.local"
PAYA = "paya.payments.svc.cluster.local"
PAYB = "payb.payments.svc.cluster.local"


@pytest.fixture(scope="module")
def routes() -> ConfigEvidence:
    return read_config_dirs([FIXTURES / "checkout-routes.yaml"])


def test_three_way_weights_are_normalised(routes: ConfigEvidence) -> None:
    assert routes.split(GATEWAY) == pytest.approx(
        {(PAYA, "v1"): 0.6, (PAYB, None): 0.2, (PAYB, "canary"): 0.2}, abs=1e-12
    )
    assert all(r.rule_name == "providers" for r in routes.routes[GATEWAY])


def test_explicit_retries_are_read_as_istio_applies_them(routes: ConfigEvidence) -> None:
    (policy,) = [p for p in routes.retry_policies if p.host == GATEWAY]
    assert (policy.retries, policy.tries, policy.per_try_timeout) == (3, 4, 0.25)
    # A bare status code becomes a retriable status code, which needs retriable-status-codes.
    assert policy.retry_on == ("5xx", "connect-failure", "retriable-status-codes")
    assert policy.retriable_status_codes == (503,)
    assert (policy.defaulted, policy.signal) == (False, "istio.retries")
    assert (policy.source.line, policy.source.field) == (28, "spec.http[0].retries.attempts")


@pytest.mark.parametrize(
    ("host", "line"),
    [
        pytest.param("pricing", 49, id="attempts 0 turns retries off"),
        pytest.param("cart", 68, id="a retries block without attempts turns retries off"),
    ],
)
def test_retries_turned_off(routes: ConfigEvidence, host: str, line: int) -> None:
    (policy,) = [p for p in routes.retry_policies if p.host == host]
    assert (policy.retries, policy.tries, policy.retry_on, policy.defaulted) == (0, 1, (), False)
    assert policy.source.line == line


def test_route_timeout(routes: ConfigEvidence) -> None:
    (timeout,) = routes.timeouts
    assert (timeout.host, timeout.seconds, timeout.source.line) == (GATEWAY, 1.5, 26)


def test_mirrors_are_recorded_with_their_share(routes: ConfigEvidence) -> None:
    got = [(m.host, m.destination, m.share, m.source.field) for m in routes.mirrors]
    assert got == [
        (GATEWAY, "payment-audit.payments.svc.cluster.local", 0.1, "spec.http[0].mirror"),
        ("pricing", "pricing-shadow", 1.0, "spec.http[0].mirrors[0]"),
    ]


def test_outlier_detection_is_an_ejection_policy_per_scope(routes: ConfigEvidence) -> None:
    got = {(e.subset, e.port): e for e in routes.outlier_detection}
    top = got[(None, None)]
    assert (
        top.host,
        top.consecutive_5xx_errors,
        top.interval_seconds,
        top.base_ejection_seconds,
        top.max_ejection_percent,
    ) == (PAYA, 5, 10.0, 30.0, 50)
    port = got[(None, 8443)]
    assert (port.consecutive_gateway_errors, port.interval_seconds) == (2, 60.0)
    # consecutiveErrors is the deprecated spelling of the gateway-error count.
    subset = got[("v1", None)]
    assert (subset.consecutive_gateway_errors, subset.base_ejection_seconds) == (3, 90.0)
    assert subset.source.field == "spec.subsets[0].trafficPolicy.outlierDetection"


def test_a_route_to_a_subset_no_destination_rule_defines_is_flagged(
    routes: ConfigEvidence,
) -> None:
    (flag,) = routes.flags
    assert flag.kind == "undefined_subset"
    assert flag.message == (
        f"{GATEWAY}: routes to subset 'canary' of {PAYB}, which no DestinationRule read defines"
    )
    assert flag.source.line == 25


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("7s", 7.0, id="whole seconds"),
        pytest.param("0.5s", 0.5, id="fractional seconds"),
        pytest.param("250ms", 0.25, id="milliseconds"),
        pytest.param("1m30s", 90.0, id="minutes and seconds"),
        pytest.param("1h", 3600.0, id="hours"),
        pytest.param("0s", 0.0, id="zero turns a timeout off"),
        pytest.param("7", None, id="a number without unit is not a duration"),
        pytest.param("5 seconds", None, id="words are not a duration"),
        pytest.param("2d", None, id="days are not an Istio unit"),
    ],
)
def test_istio_durations(text: str, seconds: float | None) -> None:
    assert duration_seconds(text) == (None if seconds is None else pytest.approx(seconds))


@pytest.mark.parametrize(
    ("host", "service"),
    [
        pytest.param("reviews", "reviews", id="a short name is the service"),
        pytest.param("reviews.prod.svc.cluster.local", "reviews", id="a cluster FQDN"),
        pytest.param("reviews.prod.svc", "reviews", id="a namespaced svc name"),
        pytest.param("www.googleapis.com", "www.googleapis.com", id="an external host stays"),
    ],
)
def test_service_of_a_host(host: str, service: str) -> None:
    assert service_of(host) == service


BAD = [
    pytest.param(
        "bad-weight.yaml",
        [
            "bad-weight.yaml:13:19: spec.http[0].route[0].weight: Input should be a valid integer, "
            "unable to parse string as an integer (got 'half')",
        ],
        id="a weight that is not an integer names its line",
    ),
    pytest.param(
        "bad-duration.yaml",
        [
            "bad-duration.yaml:12:16: spec.http[0].timeout: expected a duration like 2s, 0.5s or "
            "250ms, got '5 seconds'",
            "bad-duration.yaml:15:23: spec.http[0].fault.delay.fixedDelay: expected a duration "
            "like 2s, 0.5s or 250ms, got '7'",
        ],
        id="durations without an Istio unit are refused",
    ),
    pytest.param(
        "bad-fault.yaml",
        [
            "bad-fault.yaml:12:20: spec.http[0].fault.abort.percentage.value: Input should be less "
            "than or equal to 100 (got 150)",
            "bad-fault.yaml:14:11: spec.http[0].fault.delay.fixedDelay: required field is missing",
            "bad-fault.yaml:30:11: spec.http[0].fault.abort: an abort needs httpStatus, grpcStatus "
            "or http2Error",
            "bad-fault.yaml:33:9: spec.http[0].route: every destination has weight 0 (a missing "
            "weight counts as 0 when there are several destinations), so none would receive "
            "traffic",
        ],
        id="fault and weight problems in every document are all reported",
    ),
    pytest.param(
        "bad-deployment.yaml",
        [
            "bad-deployment.yaml:9:7: items[0].spec.template: required field is missing",
            "bad-deployment.yaml:22:22: items[1].spec.template.metadata.labels.version: Input "
            "should be a valid string (got 7)",
            "bad-deployment.yaml:30:35: items[1].spec.template.spec.affinity.nodeAffinity."
            "requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]."
            "matchExpressions[0].operator: Input should be 'In', 'NotIn', 'Exists', "
            "'DoesNotExist', 'Gt' or 'Lt' (got 'Inside')",
        ],
        id="workloads inside a List are checked item by item",
    ),
    pytest.param(
        "bad-yaml.yaml",
        [
            "bad-yaml.yaml:11:4: malformed YAML: did not find expected key",
        ],
        id="broken YAML names the line and column of the break",
    ),
]


@pytest.mark.parametrize(("name", "messages"), BAD)
def test_malformed_manifests_raise_with_file_and_line(name: str, messages: list[str]) -> None:
    with pytest.raises(SpecError) as caught:
        read_config_dirs([FIXTURES / "bad" / name])
    assert str(caught.value).splitlines() == messages


def test_a_folder_with_bad_files_reports_all_of_them_relative_to_the_folder() -> None:
    with pytest.raises(SpecError) as caught:
        read_config_dirs([FIXTURES])
    files = {p.location.file for p in caught.value.problems}
    assert files == {f"bad/{p.values[0]}" for p in BAD}


def test_a_missing_path_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="no such file or directory"):
        read_config_dirs([FIXTURES / "nowhere.yaml"])


def test_documents_parsed_elsewhere_map_the_same_way() -> None:
    text = (FIXTURES / "checkout-routes.yaml").read_text(encoding="utf-8")
    evidence = config_evidence_from_documents(parse_yaml_text(text, "mesh/checkout-routes.yaml"))
    assert evidence.timeouts[0].source.file == "mesh/checkout-routes.yaml"
    assert dict(evidence.resource_counts) == {"VirtualService": 3, "DestinationRule": 2}


def test_unknown_istio_versions_and_kinds_are_ignored() -> None:
    text = """\
apiVersion: networking.istio.io/v2
kind: VirtualService
metadata: {name: future}
spec: {hosts: [x], http: [{route: [{destination: {host: x}, weight: half}]}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
---
just a string
"""
    evidence = config_evidence_from_documents(parse_yaml_text(text, "other.yaml"))
    assert dict(evidence.resource_counts) == {"ignored": 2}


def test_a_zero_timeout_means_no_timeout() -> None:
    text = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart}
spec:
  hosts: [cart]
  http:
    - route: [{destination: {host: cart}}]
      timeout: 0s
"""
    evidence = config_evidence_from_documents(parse_yaml_text(text, "cart.yaml"))
    assert evidence.timeouts == ()
    assert evidence.split("cart") == {("cart", None): 1.0}
