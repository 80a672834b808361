"""Journey inference from spans: edges, parallel/sequential, races, retries, fallbacks, leaves."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import sys
from pathlib import Path

import pytest

from bot.discover.trace_infer import (
    DEFAULT_LATENCY_BUCKETS,
    InferenceSettings,
    SpanCollector,
    TraceEvidence,
    infer_trace_evidence,
)
from bot.discover.traces import Span, SpanAttributes, SpanKind, SpanSource, read_spans

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
JAEGER_UI = REFERENCE / "traces" / "jaeger-ui"
ZIPKIN = REFERENCE / "traces" / "zipkin"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"
MS = 1_000_000

_ids = itertools.count(1)


# --- builders --------------------------------------------------------------------------------


def span(
    trace: str, service: str, start_ms: float, end_ms: float, *, parent: Span | None = None,
    kind: SpanKind = SpanKind.SERVER, error: bool = False, operation: str = "op",
    peer: str | None = None, own: dict[str, str] | None = None,
    resource: dict[str, str] | None = None,
) -> Span:  # fmt: skip
    number = next(_ids)
    return Span(
        trace_id=trace, span_id=f"{number:016x}", parent_id=parent.span_id if parent else None,
        service=service, operation=operation, kind=kind,
        start_ns=int(start_ms * MS), end_ns=int(end_ms * MS), is_error=error,
        attributes=SpanAttributes(own or {}, resource or {}),
        source=SpanSource("built.json", number), peer_service=peer,
    )  # fmt: skip


def call(
    trace: str, parent: Span, target: str, start_ms: float, end_ms: float, *,
    error: bool = False, cancelled: bool = False, operation: str = "call",
    callee_spans: bool = True,
) -> list[Span]:  # fmt: skip
    """A client span in the caller and, if the callee is instrumented, its server span."""
    own = {"otel.status_description": "context canceled"} if cancelled else {}
    client = span(trace, parent.service, start_ms, end_ms, parent=parent, kind=SpanKind.CLIENT,
                  error=error or cancelled, operation=operation, peer=target, own=own)  # fmt: skip
    if not callee_spans:
        return [client]
    server = span(trace, target, start_ms + 0.1, end_ms - 0.1, parent=client, error=error,
                  operation=operation)  # fmt: skip
    return [client, server]


def infer(spans: list[Span], entry: str = "front", **kwargs: object) -> TraceEvidence:
    return infer_trace_evidence(spans, entry, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def jaeger_ui() -> Path:
    if not JAEGER_UI.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"reference traces missing: {JAEGER_UI}")
        pytest.skip("reference traces not present")
    return JAEGER_UI


# --- parallel and sequential on jaeger-ui's own fixtures -------------------------------------


@pytest.mark.parametrize(
    ("name", "relation"),
    [
        pytest.param("traceWithOverlappingChildren", "parallel",
                     id="overlapping children are parallel"),
        pytest.param("traceWithTwoNonOverlappingChildren", "sequential",
                     id="non-overlapping children are sequential"),
        pytest.param("traceWithThreeShortOverlappingChildren", "parallel",
                     id="three overlapping children are parallel"),
        pytest.param("traceWithTwoChildrenStartedAtTraceStart", "parallel",
                     id="children started together are parallel"),
        pytest.param("traceWithThreeShortChildren", "parallel",
                     id="chained overlaps are parallel"),
    ],
)  # fmt: skip
def test_jaeger_ui_children_classified(jaeger_ui: Path, name: str, relation: str) -> None:
    evidence = infer(list(read_spans(jaeger_ui / f"{name}.json")), "service-one")
    pattern = evidence.sibling("service-one", "service-two", "service-two")
    assert pattern is not None and pattern.relation == relation
    assert pattern.traces == 1
    # One trace only: the Wilson lower bound of 1/1 at 95%.
    assert pattern.confidence == pytest.approx(0.2065493, abs=1e-6)
    edge = evidence.edge("service-one", "service-two")
    assert edge is not None and edge.probability.point == 1.0
    assert pattern.provenance[0].file == str(jaeger_ui / f"{name}.json")


def test_single_child_has_no_sibling_pattern(jaeger_ui: Path) -> None:
    name = "traceWithSingleChildLongerThanParentAndStartsAfterParent.json"
    evidence = infer(list(read_spans(jaeger_ui / name)), "service-one")
    assert evidence.siblings == ()
    assert [(e.caller, e.callee) for e in evidence.edges] == [("service-one", "service-two")]


# --- Zipkin's shared client/server span ids --------------------------------------------------


def test_zipkin_shared_span_ids_join_client_and_server() -> None:
    if not ZIPKIN.is_dir():
        pytest.skip("reference traces not present")
    evidence = infer(list(read_spans(ZIPKIN / "ascend.json")), "mobile-gateway")
    assert {(e.caller, e.callee, e.via) for e in evidence.edges} == {
        ("mobile-gateway", "content-service", "client→server"),
        ("mobile-gateway", "auth-service", "client→server"),
    }
    assert evidence.counts.orphan_spans == 0


# --- the checkout fixtures: front → cart ∥ pricing → race(paya, payb) -----------------------


def fixture_evidence(name: str) -> TraceEvidence:
    spans = read_spans(FIXTURES / name)
    return infer_trace_evidence(spans, "front", "POST /checkout", domain_keys=["payment.network"])


@pytest.mark.parametrize(
    "name",
    [pytest.param("checkout-a-distinct-networks.json", id="distinct networks"),
     pytest.param("checkout-b-shared-network.json", id="shared network"),
     pytest.param("checkout-c-missing-payb.json", id="payb silent")],
)  # fmt: skip
def test_checkout_structure_is_recovered(name: str) -> None:
    evidence = fixture_evidence(name)
    assert evidence.counts.journey_traces == evidence.counts.traces == 60
    for callee in ("cart", "pricing", "paya", "payb"):
        edge = evidence.edge("front", callee)
        assert edge is not None and edge.traces == 60 and edge.call_type == "sync"
        assert edge.probability.low == pytest.approx(0.9398281, abs=1e-6)  # Wilson 60/60
    pairs = {(s.first, s.second): s.relation for s in evidence.siblings}
    assert pairs == {
        ("cart", "pricing"): "parallel", ("paya", "payb"): "parallel",
        ("cart", "paya"): "sequential", ("cart", "payb"): "sequential",
        ("paya", "pricing"): "sequential", ("payb", "pricing"): "sequential",
    }  # fmt: skip
    (race,) = evidence.races
    assert race.providers == ("paya", "payb") and race.semantics == "race"
    assert race.races == race.traces == 60
    assert sum(count for _, count in race.winners) <= 60
    assert race.cancelled > 0
    assert evidence.retries == () and evidence.fallbacks == ()
    assert evidence.counts.unresolved_calls == 0


def labels(evidence: TraceEvidence, service: str, key: str) -> dict[str, int] | None:
    domain = evidence.domain(service)
    assert domain is not None
    found = domain.get(key)
    return dict(found.values) if found else None


def test_distinct_payment_networks() -> None:
    evidence = fixture_evidence("checkout-a-distinct-networks.json")
    assert labels(evidence, "paya", "payment.network") == {"net-a": 60}
    assert labels(evidence, "payb", "payment.network") == {"net-b": 60}
    assert labels(evidence, "cart", "cloud.availability_zone") == {"us-east-1a": 60}
    assert labels(evidence, "pricing", "cloud.availability_zone") == {"us-east-1b": 60}
    assert labels(evidence, "front", "k8s.namespace.name") == {"shop": 300}


def test_shared_payment_network() -> None:
    evidence = fixture_evidence("checkout-b-shared-network.json")
    assert labels(evidence, "paya", "payment.network") == {"net-a": 60}
    assert labels(evidence, "payb", "payment.network") == {"net-a": 60}


def test_silent_payb_and_conflicting_paya_labels() -> None:
    evidence = fixture_evidence("checkout-c-missing-payb.json")
    domain = evidence.domain("payb")
    assert domain is not None and domain.spans == 0 and domain.labels == ()
    network = evidence.domain("paya").get("payment.network")  # type: ignore[union-attr]
    assert network is not None and network.conflicting
    assert dict(network.values) == {"net-a": 30, "net-b": 30}
    edge = evidence.edge("front", "payb")
    assert edge is not None and edge.via == "peer.service"
    payb = evidence.leaf("payb")
    assert payb is not None and payb.observed_via == "client spans"
    assert payb.requests + payb.cancelled == 60


def test_checkout_leaves_count_each_request_once() -> None:
    evidence = fixture_evidence("checkout-a-distinct-networks.json")
    for leaf in evidence.leaves:
        assert leaf.requests + leaf.cancelled == 60, leaf.service
        assert leaf.error_ratio.low <= leaf.error_ratio.point <= leaf.error_ratio.high
        assert leaf.latency.count == leaf.requests
        assert leaf.latency.cumulative[-1] == leaf.requests
        assert list(leaf.latency.cumulative) == sorted(leaf.latency.cumulative)
    assert evidence.leaf("front").own_errors == 0  # type: ignore[union-attr]


def test_fixtures_match_their_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("generate_traces", FIXTURES / "generate.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, generator)  # dataclasses look their module up
    spec.loader.exec_module(generator)
    for scenario in generator.SCENARIOS:
        written = (FIXTURES / scenario.file).read_text(encoding="utf-8")
        expected = json.dumps(generator.TraceWriter(scenario).document(), separators=(",", ":"))
        assert written == expected + "\n", scenario.file
        assert len(written.encode()) <= 300 * 1024


# --- retries, fallbacks and hedges from built traces ----------------------------------------


def test_retry_after_an_error_is_counted() -> None:
    spans: list[Span] = []
    for n in range(10):
        trace = f"t{n}"
        root = span(trace, "front", 0, 100)
        spans += [root, *call(trace, root, "cart", 1, 5, error=n < 4)]
        if n < 4:  # a second attempt only after the first failed
            spans += call(trace, root, "cart", 6, 9)
    evidence = infer(spans)
    (retry,) = evidence.retries
    assert (retry.caller, retry.target) == ("front", "cart")
    assert (retry.traces, retry.traces_with_retry, retry.retries, retry.max_attempts) == (
        10, 4, 4, 2,
    )  # fmt: skip
    assert retry.share.low < 0.4 < retry.share.high
    assert evidence.sibling("front", "cart", "cart").relation == "sequential"  # type: ignore[union-attr]
    cart = evidence.leaf("cart")
    assert cart is not None and (cart.requests, cart.errors) == (14, 4)


def test_fallback_only_after_the_primary_failed() -> None:
    spans: list[Span] = []
    for n in range(12):
        trace = f"f{n}"
        root = span(trace, "front", 0, 100)
        failed = n % 3 == 0
        spans += [root, *call(trace, root, "paya", 1, 5, error=failed)]
        if failed:
            spans += call(trace, root, "payb", 6, 9)
    evidence = infer(spans)
    (fallback,) = evidence.fallbacks
    assert (fallback.primary, fallback.fallback) == ("paya", "payb")
    assert (fallback.traces, fallback.primary_failures, fallback.fallbacks) == (12, 4, 4)
    assert fallback.violations == 0 and fallback.confirmed
    assert fallback.confidence == pytest.approx(0.5101, abs=1e-4)  # Wilson lower of 4/4
    assert evidence.races == ()
    payb = evidence.edge("front", "payb")
    assert payb is not None and payb.probability.point == pytest.approx(4 / 12)


def test_a_call_after_a_success_is_not_a_fallback() -> None:
    spans: list[Span] = []
    for n in range(6):
        trace = f"s{n}"
        root = span(trace, "front", 0, 100)
        spans += [root, *call(trace, root, "cart", 1, 5, error=n == 0)]
        spans += call(trace, root, "pricing", 6, 9)
    assert infer(spans).fallbacks == ()


def test_hedged_request_starts_later_and_the_slow_one_is_cancelled() -> None:
    spans: list[Span] = []
    for n in range(8):
        trace = f"h{n}"
        root = span(trace, "front", 0, 100)
        spans += [root, *call(trace, root, "paya", 1, 40, cancelled=True, operation="charge")]
        spans += call(trace, root, "payb", 11, 30, operation="charge")
    evidence = infer(spans)
    (race,) = evidence.races
    assert race.semantics == "hedged"
    assert race.hedge_delay_seconds == pytest.approx(0.010)
    assert race.winners == (("payb", 8),)
    assert race.cancelled == 8
    paya = evidence.leaf("paya")
    assert paya is not None and (paya.requests, paya.cancelled, paya.errors) == (0, 8, 0)


def test_parallel_calls_without_a_race_signal_are_a_join() -> None:
    spans: list[Span] = []
    for n in range(5):
        trace = f"j{n}"
        root = span(trace, "front", 0, 100)
        spans += [root, *call(trace, root, "cart", 1, 20, operation="get cart")]
        spans += call(trace, root, "pricing", 1, 30, operation="get prices")
    evidence = infer(spans)
    assert evidence.races == ()
    assert evidence.sibling("front", "cart", "pricing").relation == "parallel"  # type: ignore[union-attr]


# --- entry selection, labels, counts ---------------------------------------------------------


def test_entry_operation_selects_the_journey() -> None:
    spans: list[Span] = []
    for n, operation in enumerate(["checkout", "checkout", "browse"]):
        root = span(f"e{n}", "front", 0, 10, operation=operation)
        spans += [root, *call(f"e{n}", root, "cart", 1, 5)]
    evidence = infer_trace_evidence(spans, "front", "checkout")
    assert (evidence.counts.traces, evidence.counts.journey_traces) == (3, 2)
    assert evidence.edge("front", "cart").traces == 2  # type: ignore[union-attr]


def test_span_labels_override_resource_labels_and_custom_keys_are_kept() -> None:
    resource = {"cloud.availability_zone": "az-1", "k8s.pod.name": "cart-1", "team": "x"}
    spans = [
        span("l", "cart", 0, 1, resource=resource),
        span("l", "cart", 0, 1, resource=resource, own={"cloud.availability_zone": "az-2"}),
        span("l", "cart", 0, 1, resource=resource, own={"payment.network": "net-a"}),
    ]
    evidence = infer(spans, "cart", domain_keys=["payment.network"])
    assert labels(evidence, "cart", "cloud.availability_zone") == {"az-1": 2, "az-2": 1}
    assert labels(evidence, "cart", "k8s.pod.name") == {"cart-1": 3}
    assert labels(evidence, "cart", "payment.network") == {"net-a": 1}
    assert labels(evidence, "cart", "team") is None


def test_orphans_duplicates_and_unresolved_calls_are_counted() -> None:
    root = span("o", "front", 0, 10)
    lost = span("o", "cart", 1, 2)
    lost.parent_id = "ffffffffffffffff"
    client = span("o", "front", 1, 2, parent=root, kind=SpanKind.CLIENT)
    duplicate = span("o", "front", 0, 10)
    duplicate.span_id = root.span_id
    evidence = infer([root, lost, client, duplicate])
    counts = evidence.counts
    assert (counts.orphan_spans, counts.duplicate_spans, counts.unresolved_calls) == (1, 1, 1)
    assert counts.journey_spans == 2


def test_collectors_reduce_spans_before_inference() -> None:
    root = span("c", "front", 0, 10)
    collector = SpanCollector().add_all([root, *call("c", root, "cart", 1, 5)])
    assert collector.span_count == 3
    evidence = infer_trace_evidence(collector, "front")
    assert [(e.caller, e.callee) for e in evidence.edges] == [("front", "cart")]


def test_latency_buckets_are_cumulative_and_configurable() -> None:
    spans = [span(f"b{n}", "front", 0, ms) for n, ms in enumerate([3, 8, 40, 40, 2000])]
    default = infer(spans).leaf("front")
    assert default is not None and default.latency.bounds == DEFAULT_LATENCY_BUCKETS
    assert default.latency.cumulative == (1, 2, 2, 4, 4, 4, 4, 4, 5, 5, 5, 5)
    assert default.latency.sum_seconds == pytest.approx(2.091)
    coarse = infer(spans, settings=InferenceSettings(latency_buckets=(0.01, 1.0))).leaf("front")
    assert coarse is not None and coarse.latency.cumulative == (2, 4, 5)


def test_provenance_names_files_and_span_ids() -> None:
    root = span("p", "front", 0, 10)
    client, server = call("p", root, "cart", 1, 5)
    evidence = infer([root, client, server])
    edge = evidence.edge("front", "cart")
    assert edge is not None
    (entry,) = edge.provenance
    assert (entry.file, entry.span_ids) == ("built.json", (client.span_id,))
    assert entry.signal == "call front→cart (client→server)"
    assert entry in evidence.provenance()
