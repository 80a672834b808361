"""Webhook load benchmark: signed deliveries at concurrency against the real service on loopback.

Starts the service (gunicorn, or werkzeug's threaded server with --server werkzeug) on a free
loopback port with the SQLite queue, sends N signed pull_request deliveries from C client
threads (10% replays of an earlier delivery id, 5% bad signatures), reports acknowledgement
latency, then drains the queue with a worker and checks that every valid delivery was
processed exactly once and none was lost.

Run: python benchmarks/webhook_load.py [--requests 2000] [--concurrency 32]
(prints the figures; the goal is p99 ack latency <= 50 ms)
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import multiprocessing
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bot.github.events import Job
from bot.github.queue import SqliteJobQueue
from bot.github.signature import sign
from bot.github.worker import run_worker

ROOT = Path(__file__).resolve().parents[1]
REAL_PAYLOAD = (
    ROOT.parent / "shared" / "reference" / "github" / "webhooks" / "pull_request"
    / "synchronize.payload.json"
)  # fmt: skip
SECRET = b"load-test-secret"


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    body: bytes
    signature: str
    expect: str  # "valid", "duplicate" or "forged"


def _base_payload() -> dict[str, Any]:
    if REAL_PAYLOAD.is_file():
        data: dict[str, Any] = json.loads(REAL_PAYLOAD.read_text())
        return data
    # Without the reference data: the fields the router reads, shaped like GitHub's.
    return {
        "action": "synchronize",
        "pull_request": {"number": 1, "head": {"sha": "0" * 40}, "base": {"sha": "1" * 40}},
        "repository": {"full_name": "octo-org/shop"},
        "installation": {"id": 1},
        "sender": {"login": "octocat"},
    }


def build_deliveries(total: int, seed: int) -> list[Delivery]:
    rng = random.Random(seed)
    base = _base_payload()
    n_forged, n_dup = total * 5 // 100, total * 10 // 100
    valid: list[Delivery] = []
    for i in range(total - n_forged - n_dup):
        data = json.loads(json.dumps(base))
        data["pull_request"]["number"] = 1000 + i
        data["pull_request"]["head"]["sha"] = hashlib.sha1(str(i).encode()).hexdigest()
        body = json.dumps(data).encode()
        valid.append(Delivery(f"load-{i:05d}", body, sign(SECRET, body), "valid"))
    dups = [
        Delivery(d.delivery_id, d.body, d.signature, "duplicate") for d in rng.sample(valid, n_dup)
    ]
    forged = [
        Delivery(f"forged-{i}", valid[i].body, sign(b"wrong", valid[i].body), "forged")
        for i in range(n_forged)
    ]
    deliveries = valid + dups + forged
    rng.shuffle(deliveries)
    return deliveries


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    kind: str, port: int, queue_path: Path, workers: int, threads: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "EMAC_WEBHOOK_SECRET": SECRET.decode(),
        "EMAC_QUEUE_PATH": str(queue_path),
        "PYTHONPATH": str(ROOT),
    }
    if kind == "gunicorn":
        command = [
            sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
            "--log-level", "warning", "bot.github.webhook:app_from_env()",
        ]  # fmt: skip
    else:
        command = [
            sys.executable, "-c",
            "import sys; from werkzeug.serving import run_simple; "
            "from bot.github.webhook import app_from_env; "
            "run_simple('127.0.0.1', int(sys.argv[1]), app_from_env(), threaded=True)",
            str(port),
        ]  # fmt: skip
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                conn.close()
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"the {kind} server did not become ready on port {port}")


def _send_with_threads(
    port: int, deliveries: list[Delivery], threads: int
) -> list[tuple[str, int, float]]:
    """Send from `threads` keep-alive connections; (delivery id, status, seconds) per request."""
    results: list[tuple[str, int, float]] = []
    lock = threading.Lock()
    cursor = iter(deliveries)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                delivery = next(cursor, None)
            if delivery is None:
                break
            headers = {
                "Content-Type": "application/json",
                "X-GitHub-Event": "pull_request",
                "X-GitHub-Delivery": delivery.delivery_id,
                "X-Hub-Signature-256": delivery.signature,
            }
            started = time.perf_counter()
            try:
                conn.request("POST", "/webhook", body=delivery.body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = -1
            elapsed = time.perf_counter() - started
            with lock:
                results.append((delivery.delivery_id + "/" + delivery.expect, status, elapsed))
        conn.close()

    pool = [threading.Thread(target=client) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return results


def _client_process(port: int, deliveries: list[Delivery], threads: int, out: Connection) -> None:
    out.send(_send_with_threads(port, deliveries, threads))
    out.close()


def send_all(
    port: int, deliveries: list[Delivery], concurrency: int, processes: int
) -> list[tuple[Delivery, int, float]]:
    """Client threads spread over processes, so the client's own GIL does not queue requests."""
    context = multiprocessing.get_context("fork")
    parts = [deliveries[i::processes] for i in range(processes)]
    children = []
    for i, part in enumerate(parts):
        receive, send = context.Pipe(duplex=False)
        threads = concurrency // processes + (1 if i < concurrency % processes else 0)
        child = context.Process(target=_client_process, args=(port, part, threads, send))
        child.start()
        children.append((child, receive))
    by_key = {d.delivery_id + "/" + d.expect: d for d in deliveries}
    results: list[tuple[Delivery, int, float]] = []
    for child, receive in children:
        results.extend((by_key[key], status, elapsed) for key, status, elapsed in receive.recv())
        child.join()
    return results


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def drain(queue_path: Path, expected: int, timeout: float) -> Counter[str]:
    """Run a worker until `expected` jobs were handled (or the timeout); count per delivery."""
    queue = SqliteJobQueue(queue_path)
    handled: Counter[str] = Counter()
    lock = threading.Lock()

    def handler(job: Job) -> None:
        with lock:
            handled[job.delivery_id] += 1

    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker, args=(queue, handler), kwargs={"stop_event": stop, "poll_seconds": 0.05}
    )
    worker.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = queue.counts()
        if counts.get("pending", 0) == 0 and counts.get("running", 0) == 0:
            break
        time.sleep(0.05)
    stop.set()
    worker.join()
    queue.close()
    return handled


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--server", choices=("gunicorn", "werkzeug"), default="gunicorn")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=16, help="threads per gunicorn worker")
    parser.add_argument("--seed", type=int, default=20240501)
    args = parser.parse_args()
    if args.server == "gunicorn" and shutil.which("gunicorn") is None:
        try:
            import gunicorn  # noqa: F401
        except ImportError:
            raise SystemExit("gunicorn is not installed (pip install gunicorn)") from None

    deliveries = build_deliveries(args.requests, args.seed)
    with tempfile.TemporaryDirectory(prefix="emac-load-") as tmp:
        queue_path = Path(tmp) / "jobs.sqlite3"
        SqliteJobQueue(queue_path).close()  # create the schema before the workers race to
        port = _free_port()
        server = start_server(args.server, port, queue_path, args.workers, args.threads)
        try:
            wall = time.perf_counter()
            results = send_all(port, deliveries, args.concurrency, args.client_processes)
            wall = time.perf_counter() - wall
        finally:
            server.terminate()
            server.wait(timeout=30)
        valid_ids = {d.delivery_id for d in deliveries if d.expect == "valid"}
        handled = drain(queue_path, len(valid_ids), timeout=120)

    latencies = sorted(elapsed for _, _, elapsed in results)
    statuses = Counter(status for _, status, _ in results)
    by_kind = Counter((d.expect, status) for d, status, _ in results)
    forged_ok = all(status == 401 for d, status, _ in results if d.expect == "forged")
    # Each id sent twice must be answered once with 202 and once with 200 "duplicate".
    replays = Counter(d.delivery_id for d in deliveries if d.expect != "forged")
    answers: dict[str, list[int]] = {}
    for d, status, _ in results:
        if d.expect != "forged":
            answers.setdefault(d.delivery_id, []).append(status)
    dedupe_ok = all(
        sorted(answers[i]) == ([200, 202] if n == 2 else [202]) for i, n in replays.items()
    )
    exactly_once = set(handled) == valid_ids and all(n == 1 for n in handled.values())
    lost = len(valid_ids - set(handled))
    doubled = sum(1 for n in handled.values() if n > 1)

    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"server: {args.server}"
        + (
            f" ({args.workers} workers x {args.threads} threads)"
            if args.server == "gunicorn"
            else ""
        )
        + f", SQLite queue, {args.requests} deliveries at concurrency {args.concurrency}"
        + f" from {args.client_processes} client processes"
    )
    print(f"sent: {len(valid_ids)} unique valid, {sum(replays.values()) - len(valid_ids)} replays, "
          f"{sum(1 for d in deliveries if d.expect == 'forged')} forged")  # fmt: skip
    print(f"statuses: {dict(sorted(statuses.items()))}")
    print(f"by kind: {dict(sorted(by_kind.items()))}")
    print(
        "ack latency ms: "
        + ", ".join(
            f"{name} {percentile(latencies, q) * 1000:.1f}"
            for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
        )
    )
    print(f"throughput: {len(results) / wall:.0f} requests/s over {wall:.2f} s")
    print(f"forged all 401: {forged_ok}; replays answered 202 once and 200 once: {dedupe_ok}")
    print(f"processed exactly once: {exactly_once} (lost {lost}, doubled {doubled}, "
          f"handled {sum(handled.values())} of {len(valid_ids)})")  # fmt: skip
    p99_ok = percentile(latencies, 0.99) <= 0.050
    print(f"goal p99 <= 50 ms: {'met' if p99_ok else 'NOT met'}")
    return 0 if (forged_ok and dedupe_ok and exactly_once) else 1


if __name__ == "__main__":
    raise SystemExit(main())
