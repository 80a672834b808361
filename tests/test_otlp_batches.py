"""The batch-at-a-time OTLP reader gives exactly what the token-streaming reader gives.

Every layout is read both ways and compared span by span (span, resource, index, batch); the
odd layouts check that the streaming reader takes over where the common one ends.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.discover import otlp_batches
from bot.discover.otlp_batches import span_runs
from bot.discover.otlp_stream import RawSpan, stream_raw_spans
from bot.discover.traces import read_spans
from bot.spec.errors import SpecError

Json = dict[str, object]


def span(n: int, **extra: object) -> Json:
    return {
        "traceId": f"{n % 3:032x}", "spanId": f"{n + 1:016x}", "name": f"op{n}", "kind": 2,
        "startTimeUnixNano": str(1000 + n), "endTimeUnixNano": str(2000 + n), **extra,
    }  # fmt: skip


def resource_batch(service: str, spans: list[Json], *, resource_last: bool = False) -> Json:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    body: Json = {"scopeSpans": [{"scope": {"name": "s"}, "spans": spans}]}
    return {**body, "resource": resource} if resource_last else {"resource": resource, **body}


def request(*batches: Json) -> Json:
    return {"resourceSpans": list(batches)}


def raw_spans(stream: io.BytesIO, file: str) -> Iterator[RawSpan]:
    """The runs of the batch reader taken apart span by span, numbered as the stream numbers."""
    for spans, resource, first, batch in span_runs(stream, file):
        for offset, raw in enumerate(spans):
            yield raw, resource, first + offset, batch


def both_ways(data: bytes) -> tuple[list[RawSpan], list[RawSpan]]:
    fast = list(raw_spans(io.BytesIO(data), "t.json"))
    streamed = list(stream_raw_spans(io.BytesIO(data), "t.json"))
    return fast, streamed


def normalised(spans: list[RawSpan]) -> list[tuple[object, object, int, int]]:
    # The streaming reader stores a missing resource as None and a null one as {}: both mean
    # "no resource" to the mapper.
    return [(raw, resource or None, index, batch) for raw, resource, index, batch in spans]


def four_batches() -> list[Json]:
    return [
        resource_batch("a", [span(0), span(1)]),
        resource_batch("b", [span(2)], resource_last=True),
        {"scopeSpans": [{"spans": [span(3)]}]},  # no resource
        resource_batch("c", [span(4), span(5), span(6)]),
    ]


LAYOUTS: dict[str, bytes] = {
    "compact": json.dumps(request(*four_batches()), separators=(",", ":")).encode(),
    "indented": json.dumps(request(*four_batches()), indent=2).encode(),
    "json lines": b"\n".join(json.dumps(request(b)).encode() for b in four_batches()) + b"\n",
    "empty requests between": b"\n".join(
        [
            b'{"resourceSpans":[]}',
            json.dumps(request(*four_batches()[:2])).encode(),
            b'{ "resourceSpans" : [ ] }',
            json.dumps(request(*four_batches()[2:])).encode(),
        ]
    ),
    "another key first": json.dumps({"extra": 1, **request(*four_batches())}).encode(),
    "another key after": json.dumps({**request(*four_batches()), "extra": [1, 2]}).encode(),
    "not ascii": json.dumps(
        request(resource_batch("ü-svc", [span(0, name="grüße")]), resource_batch("b", [span(1)])),
        ensure_ascii=False,
    ).encode(),
    "schemaUrl first": json.dumps(
        request(
            {"schemaUrl": "u", **resource_batch("a", [span(0)])},
            {"schemaUrl": "u", **resource_batch("b", [span(1)])},
        )
    ).encode(),
    "older span list key": json.dumps(
        request({"resource": {}, "instrumentationLibrarySpans": [{"spans": [span(0)]}]})
    ).encode(),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("block", [7, 64 * 1024])
def test_batches_read_as_the_stream_reads_them(
    layout: str, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(otlp_batches, "READ_BLOCK", block)
    fast, streamed = both_ways(LAYOUTS[layout])
    assert normalised(fast) == normalised(streamed)
    assert fast, "every layout holds spans"


def test_a_key_like_a_batch_start_inside_a_span_does_not_cut_the_batch() -> None:
    # An unknown span field holding a "resource" object looks like the start of the next
    # batch; the batch is still parsed whole and keeps its own resource.
    data = json.dumps(
        request(resource_batch("a", [span(0, extra={"resource": {"x": 1}})]),
                resource_batch("b", [span(1)]))
    ).encode()  # fmt: skip
    spans = list(raw_spans(io.BytesIO(data), "t.json"))
    services = [resource["attributes"][0]["value"]["stringValue"] for _, resource, _, _ in spans]  # type: ignore[index]
    assert services == ["a", "b"]
    assert [(index, batch) for _, _, index, batch in spans] == [(0, 0), (1, 1)]


def test_values_orjson_refuses_are_parsed_as_json_parses_them() -> None:
    nan = {"key": "ratio", "value": {"doubleValue": float("nan")}}
    surrogate = span(1, name="\ud800")
    batches = [resource_batch("a", [span(0, attributes=[nan])]), resource_batch("b", [surrogate])]
    data = json.dumps(request(*batches, resource_batch("c", [span(2)]))).encode()
    runs = list(span_runs(io.BytesIO(data), "t.json"))
    assert runs[1][0][0]["name"] == "\ud800"  # type: ignore[index]
    assert json.dumps([run[0] for run in runs]) == json.dumps(
        [b["scopeSpans"][0]["spans"] for b in json.loads(data)["resourceSpans"]]
    )  # type: ignore[index]


def test_an_empty_stream_has_no_spans() -> None:
    assert list(raw_spans(io.BytesIO(b" \n"), "t.json")) == []


def test_a_batch_too_large_to_hold_is_streamed_from_where_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    big = resource_batch("big", [span(n) for n in range(200)])
    data = json.dumps(
        request(resource_batch("a", [span(0)]), big, resource_batch("z", []))
    ).encode()
    monkeypatch.setattr(otlp_batches, "MAX_BATCH_BYTES", 2048)
    monkeypatch.setattr(otlp_batches, "READ_BLOCK", 512)
    handed: list[int] = []
    real = otlp_batches.stream_raw_spans

    def spy(stream: io.BytesIO, file: str, batch: int, index: int) -> Iterator[RawSpan]:
        handed.append(batch)
        return real(stream, file, batch, index)

    monkeypatch.setattr(otlp_batches, "stream_raw_spans", spy)
    fast, streamed = both_ways(data)
    assert normalised(fast) == normalised(streamed)
    assert handed == [1]  # the first batch was parsed whole, the large one streamed
    assert [index for _, _, index, _ in fast] == list(range(201))


def test_malformed_batch_is_located(tmp_path: Path) -> None:
    text = json.dumps(request(resource_batch("a", [span(0)])), indent=1)
    path = tmp_path / "bad.json"
    bad = text.replace('"kind": 2', '"kind": 2,,')
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        list(read_spans(path))
    problem = caught.value.problems[0]
    assert problem.location.file == str(path)
    line = next(n for n, text in enumerate(bad.splitlines(), 1) if ",," in text)
    assert problem.location.line == line
    assert "not valid JSON" in problem.message


def test_malformed_later_batch_is_located_exactly(tmp_path: Path) -> None:
    # One request per line (as an exporter appends them), non-ASCII text before the error on
    # its line: line and column in characters and the byte in bytes, whatever the file's size
    # (the batch reader knows where each batch starts).
    lines = [
        json.dumps(request(resource_batch("café", [span(n, name="größe")])), ensure_ascii=False)
        for n in range(3)
    ]
    lines[2] = lines[2].replace('"kind": 2', '"kind": 2,,')
    bad = "\n".join(lines) + "\n"
    path = tmp_path / "requests.jsonl"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(json.JSONDecodeError) as oracle:
        json.loads(lines[2])
    with pytest.raises(SpecError) as caught:
        list(read_spans(path))
    (problem,) = caught.value.problems
    assert (problem.location.line, problem.location.column) == (3, oracle.value.colno)
    at = bad.index(",,") + 1
    assert problem.message == f"not valid JSON at byte {len(bad[:at].encode())}: {oracle.value.msg}"


def test_bytes_that_are_not_utf8_are_located(tmp_path: Path) -> None:
    text = json.dumps(request(resource_batch("a", [span(0, name="op-XX")])), indent=1)
    data = text.encode().replace(b"op-XX", b"op-\xff\xfe")
    path = tmp_path / "latin.json"
    path.write_bytes(data)
    with pytest.raises(SpecError) as caught:
        list(read_spans(path))
    (problem,) = caught.value.problems
    at = data.index(b"\xff")
    line = data.count(b"\n", 0, at) + 1
    column = at - data.rindex(b"\n", 0, at)
    assert (problem.location.line, problem.location.column) == (line, column)
    assert problem.message == f"not valid JSON at byte {at}: not UTF-8 text"


def test_mixed_span_list_keys_are_refused() -> None:
    data = json.dumps(
        request(resource_batch("a", [span(0)]),
                {"resource": {}, "instrumentationLibrarySpans": [{"spans": [span(1)]}]})
    ).encode()  # fmt: skip
    with pytest.raises(SpecError, match=r"resourceSpans\[1\].instrumentationLibrarySpans.*mixes"):
        list(raw_spans(io.BytesIO(data), "t.json"))
