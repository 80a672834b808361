"""Benchmark: read a million-span OTLP/JSON file and infer the checkout journey from it.

Writes a temporary OTLP/JSON file of checkout traces (front → cart ∥ pricing → race paya|payb,
9 spans each, resource and span attributes as an OTel SDK would send them), then runs reading
plus inference in a child process (the way `emac discover` does it: two lanes on two cores, then
in one process for comparison) and reports spans per second and the peak RSS of the processes
that read (so the generator's memory does not count). Goals: ≥ 100,000 spans/s, ≤ 1 GiB.

    python benchmarks/discover.py [--spans 1000000] [--keep FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parents[1]
SPANS_PER_TRACE = 9
BATCH_TRACES = 500
MS = 1_000_000
GOAL_SPANS_PER_SECOND = 100_000
GOAL_PEAK_BYTES = 1 << 30

SPAN = (
    '{{"traceId":"{trace}","spanId":"{span}",{parent}"name":"{name}","kind":{kind},'
    '"startTimeUnixNano":"{start}","endTimeUnixNano":"{end}","attributes":[{attrs}],'
    '"status":{status}}}'
)


def attr(key: str, value: str | int) -> str:
    if isinstance(value, int):
        return f'{{"key":"{key}","value":{{"intValue":"{value}"}}}}'
    return f'{{"key":"{key}","value":{{"stringValue":"{value}"}}}}'


def resource_json(service: str) -> str:
    labels = {
        "service.name": service,
        "service.version": "1.4.2",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "cloud.region": "us-east-1",
        "cloud.availability_zone": "us-east-1a",
        "k8s.namespace.name": "shop",
        "k8s.deployment.name": service,
    }
    return '{"attributes":[' + ",".join(attr(k, v) for k, v in labels.items()) + "]}"


def write_traces(out: TextIO, spans: int, seed: int = 7) -> int:
    """Write at least `spans` spans of checkout traces; returns the number written."""
    rnd = random.Random(seed)
    services = ("front", "cart", "pricing", "paya", "payb")
    resources = {s: resource_json(s) for s in services}
    traces = -(-spans // SPANS_PER_TRACE)
    out.write('{"resourceSpans":[')
    first_batch = True
    written = 0
    clock = 1_700_000_000_000_000_000
    for batch_start in range(0, traces, BATCH_TRACES):
        batch: dict[str, list[str]] = {s: [] for s in services}
        for _ in range(min(BATCH_TRACES, traces - batch_start)):
            trace = f"{rnd.getrandbits(128):032x}"
            root = f"{rnd.getrandbits(64):016x}"
            clock += 5 * MS
            at = clock + MS
            joined = at
            for service in ("cart", "pricing"):
                end = at + int(rnd.lognormvariate(0, 0.3) * 10 * MS)
                call(batch, rnd, trace, root, service, at, end, rnd.random() < 0.01, False)
                joined = max(joined, end)
            finish = {p: joined + int(rnd.lognormvariate(0, 0.3) * 60 * MS) for p in services[3:]}
            winner = min(finish, key=finish.__getitem__)
            for provider, done in finish.items():
                lost = provider != winner
                end = finish[winner] + MS // 5 if lost else done
                call(batch, rnd, trace, root, provider, joined, end, False, lost)
            status = '{"code":2}' if rnd.random() < 0.01 else "{}"
            attrs = ",".join((attr("http.route", "/checkout"), attr("http.request.method", "POST")))
            batch["front"].append(
                SPAN.format(trace=trace, span=root, parent="", name="POST /checkout", kind=2,
                            start=clock, end=finish[winner] + MS, attrs=attrs, status=status)
            )  # fmt: skip
            written += SPANS_PER_TRACE
        for service in services:
            if not first_batch:
                out.write(",")
            first_batch = False
            out.write(f'{{"resource":{resources[service]},"scopeSpans":[{{"scope":')
            out.write('{"name":"bench"},"spans":[' + ",".join(batch[service]) + "]}]}")
    out.write("]}\n")
    return written


def call(
    batch: dict[str, list[str]], rnd: random.Random, trace: str, parent: str, service: str,
    start: int, end: int, failed: bool, cancelled: bool,
) -> None:  # fmt: skip
    client = f"{rnd.getrandbits(64):016x}"
    status = '{"code":2,"message":"context canceled"}' if cancelled else "{}"
    if failed:
        status = '{"code":2,"message":"upstream returned 500"}'
    code = 500 if failed else 200
    client_attrs = ",".join(
        (attr("http.request.method", "POST"), attr("server.address", f"{service}.shop.svc"),
         attr("peer.service", service), attr("http.response.status_code", code))
    )  # fmt: skip
    name = f"POST /{service}"
    batch["front"].append(
        SPAN.format(trace=trace, span=client, parent=f'"parentSpanId":"{parent}",', name=name,
                    kind=3, start=start, end=end, attrs=client_attrs, status=status)
    )  # fmt: skip
    server_attrs = ",".join(
        (attr("http.route", f"/{service}"), attr("http.request.method", "POST"),
         attr("http.response.status_code", code), attr("payment.network", "net-a"))
    )  # fmt: skip
    batch[service].append(
        SPAN.format(trace=trace, span=f"{rnd.getrandbits(64):016x}",
                    parent=f'"parentSpanId":"{client}",', name=name, kind=2,
                    start=start + MS // 10, end=end - MS // 10, attrs=server_attrs,
                    status='{"code":2}' if failed else "{}")
    )  # fmt: skip


def measure(path: Path, parallel: bool) -> dict[str, object]:
    """Read and infer in this process; the parent reads the figures from stdout."""
    sys.path.insert(0, str(ROOT))
    from bot.discover.trace_evidence import InferenceSettings
    from bot.discover.trace_lanes import JourneyReading, infer_files
    from bot.discover.traces import IJSON_BACKEND

    journey = JourneyReading("front", None, ("payment.network",), InferenceSettings())
    wall = time.perf_counter()
    evidence = infer_files([path], journey, parallel=parallel)
    total_wall = time.perf_counter() - wall
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "backend": IJSON_BACKEND,
        "spans": evidence.counts.spans,
        "journey_traces": evidence.counts.journey_traces,
        "edges": len(evidence.edges),
        "total_seconds": total_wall,
        "cpu_seconds": time.process_time() + children.ru_utime + children.ru_stime,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "child_peak_rss_bytes": children.ru_maxrss * 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the trace file here and keep it")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--one-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, parallel=not args.one_process)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "traces.json"
        started = time.perf_counter()
        with path.open("w", encoding="utf-8") as out:
            written = write_traces(out, args.spans)
        size = path.stat().st_size
        print(f"generated {written:,} spans, {size / 1e6:.1f} MB in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        for label, extra in (("two lanes (default)", []), ("one process", ["--one-process"])):
            child = subprocess.run(
                [sys.executable, __file__, "--measure", str(path), *extra],
                check=True, capture_output=True, text=True,
                env={**os.environ, "PYTHONHASHSEED": "0"},
            )  # fmt: skip
            report(label, json.loads(child.stdout))


def report(label: str, result: dict[str, object]) -> None:
    spans = int(str(result["spans"]))
    seconds = float(str(result["total_seconds"]))
    rate = spans / seconds
    # Both lanes run at once: their peaks added bound the memory the read needs at any moment.
    peak = int(str(result["peak_rss_bytes"])) + int(str(result["child_peak_rss_bytes"]))
    print(f"{label}: ijson backend {result['backend']}")
    print(f"  spans: {spans:,}  journey traces: {result['journey_traces']:,}")
    print(f"  read+infer: {seconds:.1f} s (cpu {float(str(result['cpu_seconds'])):.1f} s)")
    print(f"  throughput: {rate:,.0f} spans/s (goal ≥ {GOAL_SPANS_PER_SECOND:,}): "
          f"{'met' if rate >= GOAL_SPANS_PER_SECOND else 'NOT met'}")  # fmt: skip
    print(f"  peak RSS, reading processes summed: {peak / 2**20:,.0f} MiB "
          f"(goal ≤ {GOAL_PEAK_BYTES / 2**20:,.0f} MiB): "
          f"{'met' if peak <= GOAL_PEAK_BYTES else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
