"""Two-lane reading and inference give exactly the one-process evidence, provenance included."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bot.discover import trace_lanes
from bot.discover.span_collector import SpanCollector
from bot.discover.trace_evidence import InferenceSettings, TraceEvidence
from bot.discover.trace_lanes import (
    JourneyReading,
    _collect_part,
    infer_files,
    split_lanes,
)
from bot.discover.traces import collect_spans
from bot.spec.errors import SpecError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"
READING = JourneyReading("front", None, ("payment.network",), InferenceSettings())
MS = 1_000_000


def attr(key: str, value: str) -> dict[str, object]:
    return {"key": key, "value": {"stringValue": value}}


def checkout_batches(traces: int, seed: int, per_batch: int = 7) -> list[dict[str, object]]:
    """Checkout traces written by service, a few traces per batch, so traces cross batches.

    Some calls fail, some are retried, the payment providers race and the loser is
    cancelled: every tally the merge has to combine gets counts and provenance.
    """
    rnd = random.Random(seed)
    batches: list[dict[str, object]] = []
    by_service: dict[str, list[dict[str, object]]] = {}
    ids = iter(range(1, 10**9))

    def add(service: str, trace: str, parent: str | None, start: int, end: int, kind: int,
            error: bool = False, cancelled: bool = False, peer: str = "") -> str:  # fmt: skip
        span_id = f"{next(ids):016x}"
        status: dict[str, object] = {"code": 2} if error or cancelled else {}
        if cancelled:
            status["message"] = "context canceled"
        attributes = [attr("payment.network", f"net-{service[-1]}")]
        if peer:
            attributes.append(attr("peer.service", peer))
        span: dict[str, object] = {
            "traceId": trace, "spanId": span_id, "name": f"POST /{peer or service}",
            "kind": kind, "startTimeUnixNano": str(start), "endTimeUnixNano": str(end),
            "attributes": attributes, "status": status,
        }  # fmt: skip
        if parent:
            span["parentSpanId"] = parent
        by_service.setdefault(service, []).append(span)
        return span_id

    def call(trace: str, parent: str, callee: str, start: int, end: int, **how: bool) -> None:
        client = add("front", trace, parent, start, end, 3, peer=callee, **how)
        add(
            callee,
            trace,
            client,
            start + MS // 10,
            end - MS // 10,
            2,
            error=how.get("error", False),
        )

    clock = 10**18
    for n in range(traces):
        trace = f"{rnd.getrandbits(128):032x}"
        clock += 5 * MS
        root = add("front", trace, None, clock, clock + 100 * MS, 2)
        for service in ("cart", "pricing"):
            failed = rnd.random() < 0.1
            call(trace, root, service, clock + MS, clock + 11 * MS, error=failed)
            if failed:  # retried after the error
                call(trace, root, service, clock + 12 * MS, clock + 20 * MS)
        fast, slow = ("paya", "payb") if rnd.random() < 0.6 else ("payb", "paya")
        call(trace, root, fast, clock + 21 * MS, clock + 50 * MS)
        call(trace, root, slow, clock + 21 * MS, clock + 51 * MS, cancelled=True)
        if (n + 1) % per_batch == 0 or n == traces - 1:
            for service, spans in by_service.items():
                batches.append({
                    "resource": {"attributes": [attr("service.name", service)]},
                    "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}],
                })  # fmt: skip
            by_service = {}
    return batches


def write(path: Path, batches: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"resourceSpans": batches}), encoding="utf-8")
    return path


def both(paths: list[Path]) -> tuple[TraceEvidence, TraceEvidence]:
    return infer_files(paths, READING, parallel=True), infer_files(paths, READING, parallel=False)


def test_one_file_cut_inside_gives_the_one_process_evidence(tmp_path: Path) -> None:
    path = write(tmp_path / "t.json", checkout_batches(400, seed=1))
    first, second = split_lanes([path])  # type: ignore[misc]
    assert first[-1].path == second[0].path == path and second[0].start > 0
    lanes, single = both([path])
    assert lanes == single
    assert single.counts.journey_traces == 400
    assert {r.caller for r in single.retries} == {"front"} and single.races


def test_the_cut_falls_on_a_batch_and_the_parts_hold_every_span(tmp_path: Path) -> None:
    path = write(tmp_path / "t.json", checkout_batches(300, seed=2))
    first, second = split_lanes([path])  # type: ignore[misc]
    whole, parts = SpanCollector(), SpanCollector()
    collect_spans(path, whole)
    for part in (*first, *second):
        _collect_part(part, parts)
    assert parts.span_count == whole.span_count
    assert parts.traces == whole.traces


def test_traces_split_across_files_are_handed_over_whole(tmp_path: Path) -> None:
    batches = checkout_batches(200, seed=3)
    front = [b for b in batches if "front" in json.dumps(b["resource"])]
    others = [b for b in batches if b not in front]
    paths = [write(tmp_path / "front.json", front), write(tmp_path / "rest.json", others)]
    lanes, single = both(paths)
    assert lanes == single  # every trace crosses the cut between the two files
    assert single.counts.journey_traces == 200


def test_several_fixture_files(tmp_path: Path) -> None:
    paths = sorted(FIXTURES.glob("checkout-*.json"))
    lanes, single = both(paths)
    assert lanes == single
    assert {p.file for edge in single.edges for p in edge.provenance} <= {str(p) for p in paths}


def test_a_malformed_second_half_is_reported_as_one_process_reports_it(tmp_path: Path) -> None:
    text = json.dumps({"resourceSpans": checkout_batches(300, seed=4)}, indent=1)
    cut = text.rindex('"kind": 2')
    path = tmp_path / "bad.json"
    path.write_text(text[:cut] + '"kind": 2,,' + text[cut + len('"kind": 2') :], encoding="utf-8")
    errors = []
    for parallel in (True, False):
        with pytest.raises(SpecError) as caught:
            infer_files([path], READING, parallel=parallel)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert f"{path}:" in errors[0]


def test_small_inputs_stay_in_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "t.json", checkout_batches(20, seed=5))
    assert split_lanes([path]) is not None  # it could be cut, but is too small to be worth it
    forks: list[object] = []
    monkeypatch.setattr(trace_lanes, "_infer_two_lanes", lambda *a: forks.append(a) or "lanes")
    assert infer_files([path], READING) == infer_files([path], READING, parallel=False)
    assert forks == []
    monkeypatch.setattr(trace_lanes, "MIN_PARALLEL_BYTES", 1)
    assert infer_files([path], READING) == "lanes"  # type: ignore[comparison-overlap]
    assert len(forks) == 1
