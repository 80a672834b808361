"""Trace readers on real OTLP, Jaeger and Zipkin files and on our own edge cases."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from bot.discover import otlp_batches, otlp_stream
from bot.discover.traces import SpanKind, detect_format, read_span_files, read_spans
from bot.spec.errors import SpecError

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
TRACES = REFERENCE / "traces"

# Every real sample: (path under traces/, detected format, spans, services).
REFERENCE_FILES = [
    ("otlp/example_trace.json", "otlp", 1, {"my.service"}),
    ("jaeger/example_trace.json", "otlp", 5,
     {"example-service-1", "example-service-2", "example-service-3"}),
    ("jaeger/otlp2jaeger-in.json", "otlp", 2, {"telemetrygen"}),
    ("jaeger/otlp2jaeger-out.json", "jaeger", 2, {"telemetrygen"}),
    ("jaeger/trace_success.json", "jaeger", 2, {"16af988c443cff37", "3c220036602f839e"}),
    ("jaeger-ui/otlp2jaeger-multi-in-combined.json", "otlp", 4, {"example-trace"}),
    ("jaeger-ui/traceWithMultipleSpansWithTheSameValueInDifferentTags.json", "jaeger", 4,
     {"service-one"}),
    ("jaeger-ui/traceWithOverlappingChildren.json", "jaeger", 3, {"service-one", "service-two"}),
    ("jaeger-ui/traceWithOverlappingChildrenLongerThanParent.json", "jaeger", 4,
     {"service-one", "service-two"}),
    ("jaeger-ui/traceWithSingleChildLongerThanParentAndStartsAfterParent.json", "jaeger", 2,
     {"service-one", "service-two"}),
    ("jaeger-ui/traceWithThreeShortChildren.json", "jaeger", 4, {"service-one", "service-two"}),
    ("jaeger-ui/traceWithThreeShortOverlappingChildren.json", "jaeger", 4,
     {"service-one", "service-two"}),
    ("jaeger-ui/traceWithTwoChildrenStartedAtTraceStart.json", "jaeger", 3,
     {"service-one", "service-two"}),
    ("jaeger-ui/traceWithTwoNonOverlappingChildren.json", "jaeger", 3,
     {"service-one", "service-two"}),
    ("zipkin/ascend.json", "zipkin", 8, {"mobile-gateway", "content-service", "auth-service"}),
    ("zipkin/messaging-kafka.json", "zipkin", 28, {"servicea", "serviceb"}),
    ("zipkin/skew.json", "zipkin", 4, {"servicea", "serviceb"}),
    ("zipkin/yelp.json", "zipkin", 16,
     {"mobile_api", "routing", "spectre", "unknown", "yelp-main", "yelp_main/api_proxy"}),
]  # fmt: skip


@pytest.fixture(scope="module")
def reference() -> Path:
    if not TRACES.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"reference traces missing: {TRACES}")
        pytest.skip("reference traces not present")
    return TRACES


@pytest.mark.parametrize(
    ("name", "fmt", "count", "services"),
    [
        pytest.param(*row, id=f"{row[0]} loads {row[2]} spans as {row[1]}")
        for row in REFERENCE_FILES
    ],
)
def test_every_reference_file_loads(
    reference: Path, name: str, fmt: str, count: int, services: set[str]
) -> None:
    path = reference / name
    assert detect_format(path) == fmt
    spans = list(read_spans(path))
    assert len(spans) == count
    assert {s.service for s in spans} == services
    assert [s.source.index for s in spans] == list(range(count))
    assert all(s.source.file == str(path) for s in spans)
    for span in spans:
        assert span.trace_id == span.trace_id.lower() and span.span_id == span.span_id.lower()
        assert span.end_ns >= span.start_ns


def test_upper_case_otlp_ids_become_lower_case(reference: Path) -> None:
    (span,) = read_spans(reference / "otlp" / "example_trace.json")
    assert span.trace_id == "5b8efff798038103d269b633813fc60c"
    assert span.span_id == "eee19b7ec3c1b174"
    assert span.parent_id == "eee19b7ec3c1b173"
    assert span.kind is SpanKind.SERVER
    assert (span.start_ns, span.end_ns) == (1544712660000000000, 1544712661000000000)
    assert span.attributes["my.span.attr"] == "some value"
    assert span.attributes["service.name"] == "my.service"


def test_otlp_input_and_its_jaeger_conversion_read_as_the_same_spans(reference: Path) -> None:
    otlp = list(read_spans(reference / "jaeger" / "otlp2jaeger-in.json"))
    jaeger = list(read_spans(reference / "jaeger" / "otlp2jaeger-out.json"))
    fields = ("trace_id", "span_id", "parent_id", "service", "operation", "kind", "start_ns",
              "end_ns", "is_error", "peer_service")  # fmt: skip
    for a, b in zip(otlp, jaeger, strict=True):
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    assert otlp[0].peer_service == "telemetrygen-client"


def test_jaeger_span_list_with_inline_processes_reads_error_tag(reference: Path) -> None:
    server, client = read_spans(reference / "jaeger" / "trace_success.json")
    assert (server.kind, client.kind) == (SpanKind.SERVER, SpanKind.CLIENT)
    assert client.parent_id == server.span_id
    assert (server.is_error, client.is_error) == (False, True)
    assert client.end_ns - client.start_ns == 32782 * 1000


def test_jaeger_ui_trace_object_reads_processes_and_missing_references(reference: Path) -> None:
    spans = list(read_spans(reference / "jaeger-ui" / "traceWithOverlappingChildren.json"))
    root, first, second = spans
    assert root.parent_id is None and root.kind is SpanKind.PRODUCER
    assert first.parent_id == second.parent_id == root.span_id
    assert (root.service, first.service) == ("service-one", "service-two")
    assert first.start_ns == 1679437737490192 * 1000
    assert first.duration_ns == 40 * 1000


def test_zipkin_reads_kind_endpoints_shared_flag_and_error_tag(reference: Path) -> None:
    spans = list(read_spans(reference / "zipkin" / "ascend.json"))
    shared = [s for s in spans if s.shared]
    assert shared and all(s.kind is SpanKind.SERVER for s in shared)
    kafka = list(read_spans(reference / "zipkin" / "messaging-kafka.json"))
    assert {s.peer_service for s in kafka if s.kind is SpanKind.PRODUCER} == {"kafka"}
    errors = [s for s in kafka if s.is_error]
    assert len(errors) == 3 and all("error" in s.attributes for s in errors)
    yelp = list(read_spans(reference / "zipkin" / "yelp.json"))
    assert {s.peer_service for s in yelp if s.kind is SpanKind.CLIENT} >= {"blt", "spectre"}


# --- our own edge cases --------------------------------------------------------------------


Json = dict[str, object]


def otlp_span(span_id: str, parent: str = "", trace: str = "ab" * 16, **extra: object) -> Json:
    span: dict[str, object] = {
        "traceId": trace, "spanId": span_id, "name": f"op-{span_id[-2:]}", "kind": 2,
        "startTimeUnixNano": "1000", "endTimeUnixNano": 2000,
    }  # fmt: skip
    if parent:
        span["parentSpanId"] = parent
    span.update(extra)
    return span


def batch(service: str | None, spans: list[Json], resource_last: bool = False) -> Json:
    body: dict[str, object] = {"scopeSpans": [{"scope": {}, "spans": spans}]}
    if service is None:
        return body
    resource = {"attributes": [
        {"key": "service.name", "value": {"stringValue": service}},
        {"key": "cloud.region", "value": {"stringValue": "eu-1"}},
    ]}  # fmt: skip
    return {**body, "resource": resource} if resource_last else {"resource": resource, **body}


def write(
    tmp_path: Path, document: object, name: str = "t.json", indent: int | None = None
) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, indent=indent), encoding="utf-8")
    return path


@pytest.mark.parametrize("block", [pytest.param(7, id="reads of 7 bytes"),
                                   pytest.param(65536, id="reads of 64 KiB")])  # fmt: skip
@pytest.mark.parametrize("indent", [pytest.param(None, id="compact"),
                                    pytest.param(2, id="indented")])  # fmt: skip
def test_each_batch_keeps_its_own_resource(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, indent: int | None
) -> None:
    monkeypatch.setattr(otlp_batches, "READ_BLOCK", block)
    monkeypatch.setattr(otlp_stream, "READ_BLOCK", block)
    document = {"resourceSpans": [
        batch(f"svc{b}", [otlp_span(f"{b:02x}{i:014x}") for i in range(5)]) for b in range(40)
    ]}  # fmt: skip
    spans = list(read_spans(write(tmp_path, document, indent=indent)))
    assert len(spans) == 200
    for span in spans:
        assert span.service == f"svc{int(span.span_id[:2], 16)}"
        assert span.attributes["cloud.region"] == "eu-1"


def test_resource_written_after_its_spans_and_batches_without_resource(tmp_path: Path) -> None:
    document = {"resourceSpans": [
        batch("first", [otlp_span("01" * 8)]),
        batch("late", [otlp_span("02" * 8), otlp_span("03" * 8)], resource_last=True),
        batch(None, [otlp_span("04" * 8)]),
        batch("last", [otlp_span("05" * 8)]),
    ]}  # fmt: skip
    services = [s.service for s in read_spans(write(tmp_path, document))]
    assert services == ["first", "late", "late", "unknown_service", "last"]


def test_json_lines_of_export_requests_and_the_older_library_spans_key(tmp_path: Path) -> None:
    lines = [{"resourceSpans": [batch(f"s{n}", [otlp_span(f"{n:016x}")])]} for n in range(3)]
    path = tmp_path / "lines.json"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    assert [s.service for s in read_spans(path)] == ["s0", "s1", "s2"]
    old = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "old"}}]},
        "instrumentationLibrarySpans": [{"spans": [otlp_span("0a" * 8)]}],
    }]}  # fmt: skip
    assert [s.service for s in read_spans(write(tmp_path, old, "old.json"))] == ["old"]


def test_base64_ids_status_and_attribute_types(tmp_path: Path) -> None:
    trace_bytes, span_bytes = bytes(range(1, 17)), bytes(range(20, 28))
    span = otlp_span(
        base64.b64encode(span_bytes).decode(),
        trace=base64.b64encode(trace_bytes).decode(),
        parentSpanId="0000000000000000",
        kind="SPAN_KIND_CLIENT",
        status={"code": "STATUS_CODE_ERROR", "message": "context canceled"},
        attributes=[
            {"key": "n", "value": {"intValue": "42"}},
            {"key": "ok", "value": {"boolValue": True}},
            {"key": "x", "value": {"doubleValue": 0.5}},
            {"key": "list", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
        ],
    )
    (read,) = read_spans(write(tmp_path, {"resourceSpans": [batch("s", [span])]}))
    assert (read.trace_id, read.span_id) == (trace_bytes.hex(), span_bytes.hex())
    assert read.parent_id is None  # an all-zero parent means no parent
    assert read.kind is SpanKind.CLIENT and read.is_error
    assert dict(read.attributes) == {
        "service.name": "s", "cloud.region": "eu-1", "n": "42", "ok": "true", "x": "0.5",
        "list": '["a"]', "otel.status_code": "ERROR", "otel.status_description": "context canceled",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("status", "expected"),
    [pytest.param("503", True, id="http 503 marks an error"),
     pytest.param("404", False, id="http 404 is not a server error")],
)  # fmt: skip
def test_http_server_errors_mark_the_span(tmp_path: Path, status: str, expected: bool) -> None:
    attrs = [{"key": "http.status_code", "value": {"intValue": status}}]
    span = otlp_span("01" * 8, attributes=attrs)
    (read,) = read_spans(write(tmp_path, {"resourceSpans": [batch("s", [span])]}))
    assert read.is_error is expected


def test_several_files_are_read_one_after_another(reference: Path) -> None:
    names = ["zipkin/skew.json", "otlp/example_trace.json"]
    spans = list(read_span_files(reference / n for n in names))
    assert [s.source.file for s in spans] == [str(reference / names[0])] * 4 + [
        str(reference / names[1])
    ]


# --- bad input: one clear message, never a traceback ---------------------------------------


def read_error(path: Path) -> str:
    with pytest.raises(SpecError) as caught:
        list(read_spans(path))
    (problem,) = caught.value.problems
    return str(problem)


def test_truncated_json_names_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text('{"resourceSpans": [\n  {"scopeSpans": [{"spans": [\n    {"traceId": ')
    message = read_error(path)
    assert message.startswith(f"{path}:3:")
    assert "not valid JSON at byte" in message


def test_a_jaeger_error_after_non_ascii_text_counts_bytes_and_characters(tmp_path: Path) -> None:
    # Re-read path (not OTLP): the column counts characters, the byte counts bytes, past a BOM.
    head = '\ufeff{"data": [{"traceID": "a", "spans": [\n  {"operationName": "größe", '
    path = tmp_path / "jaeger.json"
    path.write_text(head + '"x": ]}]}\n', encoding="utf-8")
    at = len(head.encode()) + len('"x": ')
    column = len(head.splitlines()[1]) + len('"x": ') + 1
    assert read_error(path) == f"{path}:2:{column}: not valid JSON at byte {at}: Expecting value"


def test_not_json_at_all(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, traces\n")
    assert read_error(path) == f"{path}: not JSON: starts with b'hello, traces\\n'"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    assert read_error(path) == f"{path}: cannot read trace file: No such file or directory"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text("  \n")
    assert "empty file" in read_error(path)


def test_unknown_top_level_shape(tmp_path: Path) -> None:
    path = write(tmp_path, {"spans": []})
    assert read_error(path) == (
        f"{path}: unknown trace format: top-level keys ['spans']; expected resourceSpans "
        "(OTLP), data (Jaeger API) or traceID/spans (one Jaeger trace)"
    )


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        pytest.param({"spanId": "01" * 8},
                     "resourceSpans[0].spans.traceId: span #1: traceId missing",
                     id="otlp span without trace id"),
        pytest.param({"traceId": "zz" * 16, "spanId": "01" * 8},
                     "resourceSpans[0].spans.traceId: span #1: traceId "
                     "'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz' is not a hex or base64 id",
                     id="otlp trace id that is not hex"),
        pytest.param({"traceId": "ab" * 16, "spanId": "01" * 8, "startTimeUnixNano": "soon"},
                     "resourceSpans[0].spans.startTimeUnixNano: span #1: startTimeUnixNano 'soon'"
                     " is not an integer", id="otlp start time that is not a number"),
    ],
)  # fmt: skip
def test_bad_otlp_spans_name_the_span(tmp_path: Path, span: Json, expected: str) -> None:
    document = {"resourceSpans": [batch("s", [otlp_span("02" * 8), span])]}
    path = write(tmp_path, document)
    assert read_error(path) == f"{path}: {expected}"


def test_bad_jaeger_and_zipkin_spans_name_the_span(tmp_path: Path) -> None:
    jaeger = write(tmp_path, {"data": [{"traceID": "ab", "spans": [
        {"spanID": "01", "startTime": 1, "duration": 1, "processID": "p9"}],
        "processes": {"p1": {"serviceName": "a"}}}]}, "jaeger.json")  # fmt: skip
    assert read_error(jaeger) == (
        f"{jaeger}: data[0].spans[0].processID: no process 'p9' in the trace"
    )
    zipkin = write(tmp_path, [{"traceId": "ab", "id": "01"}, {"traceId": "ab"}], "zipkin.json")
    assert read_error(zipkin) == f"{zipkin}: [1].id: span #1: id missing"
