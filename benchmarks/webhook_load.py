"""Webhook load benchmark: signed deliveries at concurrency against the real service on loopback.

Starts the service as `emac serve` runs it (gunicorn with its default workers and threads, or
werkzeug's threaded server with --server werkzeug) on a free loopback port with the SQLite
queue, sends N signed pull_request deliveries over C client connections (10% replays of an
earlier delivery id, 5% bad signatures), reports acknowledgement latency, then drains the queue
with a worker and checks that every valid delivery was processed exactly once and none was
lost.

Run: python benchmarks/webhook_load.py [--requests 2000] [--concurrency 32]
                                      [--connections per-delivery|keep-alive]
(prints the figures; the goal is p99 ack latency <= 50 ms, a new connection per delivery)
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
import selectors
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
from bot.github.queue_sqlite import SqliteJobQueue
from bot.github.settings import DEFAULT_THREADS, default_workers
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
    if kind == "emac":
        # The service exactly as `emac serve` runs it (gunicorn, access log on), minus the
        # in-process worker: the benchmark drains the queue itself afterwards.
        command = [
            sys.executable, "-m", "bot", "serve", "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "--threads", str(threads), "--no-worker",
        ]  # fmt: skip
    else:
        command = [
            sys.executable, "-c",
            "import sys; from werkzeug.serving import run_simple; "
            "from bot.github.webhook import app_from_env; "
            "run_simple('127.0.0.1', int(sys.argv[1]), app_from_env(), threaded=True)",
            str(port),
        ]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
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


@dataclass(frozen=True)
class Answer:
    """What one request got back, and how long after it was sent."""

    key: str  # delivery id + "/" + expectation
    status: int  # -1 when the connection failed
    reply: str  # the "status" field of the JSON reply ("" when there was none)
    seconds: float


def _raw_request(delivery: Delivery, port: int, keep_alive: bool) -> bytes:
    """The whole HTTP request, built before the clock starts so the client spends its time on
    the wire and not on formatting (it shares the cores with the service it measures)."""
    head = (
        f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
        "Content-Type: application/json\r\nUser-Agent: GitHub-Hookshot/load\r\n"
        f"X-GitHub-Event: pull_request\r\nX-GitHub-Delivery: {delivery.delivery_id}\r\n"
        f"X-Hub-Signature-256: {delivery.signature}\r\nContent-Length: {len(delivery.body)}\r\n"
        "\r\n"
    )
    return head.encode() + delivery.body


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _Connection:
    """One client slot: one request in flight, its response read as bytes arrive. With
    `keep_alive` the slot reuses its connection; without, each delivery connects anew (as a
    sender that does not pool connections does), and the connect counts in its latency."""

    def __init__(self, port: int, keep_alive: bool) -> None:
        self.port = port
        self.keep_alive = keep_alive
        self.sock = _connect(port) if keep_alive else socket.socket()
        self.buffer = bytearray()
        self.key = ""
        self.started = 0.0

    def send(self, key: str, raw: bytes) -> None:
        self.key, self.buffer = key, bytearray()
        self.started = time.perf_counter()
        if not self.keep_alive:
            self.sock.close()
            self.sock = _connect(self.port)
        self.sock.sendall(raw)

    def response(self) -> tuple[int, bytes] | None:
        """(status, body) once the whole response is in the buffer, else None."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        length = next(
            (
                int(line.split(":", 1)[1])
                for line in head
                if line.lower().startswith("content-length:")
            ),
            None,
        )
        if length is None:
            raise OSError(f"response without Content-Length: {head[0]}")
        if len(self.buffer) < end + 4 + length:
            return None
        return int(head[0].split(" ", 2)[1]), bytes(self.buffer[end + 4 : end + 4 + length])

    def reopen(self) -> None:
        self.sock.close()
        self.sock = _connect(self.port)


def _reply_status(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return str(data.get("status", "")) if isinstance(data, dict) else ""


def _send_on_connections(
    port: int, deliveries: list[Delivery], connections: int, keep_alive: bool
) -> list[Answer]:
    """Closed loop on `connections` client slots from one thread: each sends its next request
    the moment the previous response is complete. A response's time is taken when the event
    loop has read all of it, so client-side delay can only add to the recorded latency."""
    work = iter(
        [(d.delivery_id + "/" + d.expect, _raw_request(d, port, keep_alive)) for d in deliveries]
    )
    selector = selectors.DefaultSelector()
    answers: list[Answer] = []
    in_flight = min(connections, len(deliveries))

    def send(conn: _Connection, key: str, raw: bytes) -> None:
        if not keep_alive:
            selector.unregister(conn.sock)
        conn.send(key, raw)
        if not keep_alive:
            selector.register(conn.sock, selectors.EVENT_READ, conn)

    for _ in range(in_flight):
        conn = _Connection(port, keep_alive)
        selector.register(conn.sock, selectors.EVENT_READ, conn)
        send(conn, *next(work))
    while in_flight:
        for key, _ in selector.select(timeout=30):
            conn = key.data
            try:
                chunk = conn.sock.recv(65536)
                if not chunk:
                    raise OSError("connection closed by the server")
                conn.buffer += chunk
                done = conn.response()
            except OSError:
                done = (-1, b"")
                selector.unregister(conn.sock)
                conn.reopen()
                selector.register(conn.sock, selectors.EVENT_READ, conn)
            if done is None:
                continue
            finished = time.perf_counter()
            status, body = done
            answers.append(Answer(conn.key, status, _reply_status(body), finished - conn.started))
            item = next(work, None)
            if item is None:
                in_flight -= 1
                selector.unregister(conn.sock)
                conn.sock.close()
            else:
                send(conn, *item)
    selector.close()
    return answers


def _client_process(
    port: int, deliveries: list[Delivery], connections: int, keep_alive: bool, out: Connection
) -> None:
    out.send(_send_on_connections(port, deliveries, connections, keep_alive))
    out.close()


def send_all(
    port: int, deliveries: list[Delivery], concurrency: int, processes: int, keep_alive: bool
) -> list[tuple[Delivery, Answer]]:
    """`concurrency` connections spread over client processes (one event loop each)."""
    context = multiprocessing.get_context("fork")
    parts = [deliveries[i::processes] for i in range(processes)]
    children = []
    for i, part in enumerate(parts):
        receive, send = context.Pipe(duplex=False)
        connections = concurrency // processes + (1 if i < concurrency % processes else 0)
        child = context.Process(
            target=_client_process, args=(port, part, connections, keep_alive, send)
        )
        child.start()
        children.append((child, receive))
    by_key = {d.delivery_id + "/" + d.expect: d for d in deliveries}
    results: list[tuple[Delivery, Answer]] = []
    for child, receive in children:
        results.extend((by_key[answer.key], answer) for answer in receive.recv())
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
    parser.add_argument("--client-processes", type=int, default=1)
    parser.add_argument("--server", choices=("emac", "werkzeug"), default="emac")
    parser.add_argument(
        "--workers", type=int, default=default_workers(), help="gunicorn worker processes"
    )
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, help="threads per gunicorn worker"
    )
    parser.add_argument(
        "--connections",
        choices=("per-delivery", "keep-alive"),
        # GitHub sends each delivery as a request of its own: connecting anew is what the
        # service sees in production, and what the goal is measured on.
        default="per-delivery",
        help="connect anew for every delivery (default), or reuse each client connection",
    )
    parser.add_argument("--seed", type=int, default=20240501)
    args = parser.parse_args()

    deliveries = build_deliveries(args.requests, args.seed)
    with tempfile.TemporaryDirectory(prefix="emac-load-") as tmp:
        queue_path = Path(tmp) / "jobs.sqlite3"
        SqliteJobQueue(queue_path).close()  # create the schema before the workers race to
        port = _free_port()
        server = start_server(args.server, port, queue_path, args.workers, args.threads)
        try:
            wall = time.perf_counter()
            results = send_all(
                port,
                deliveries,
                args.concurrency,
                args.client_processes,
                keep_alive=args.connections == "keep-alive",
            )
            wall = time.perf_counter() - wall
        finally:
            server.terminate()
            server.wait(timeout=30)
        valid_ids = {d.delivery_id for d in deliveries if d.expect == "valid"}
        handled = drain(queue_path, len(valid_ids), timeout=120)

    latencies = sorted(answer.seconds for _, answer in results)
    statuses = Counter(answer.status for _, answer in results)
    by_kind = Counter((d.expect, answer.status) for d, answer in results)
    forged_ok = all(answer.status == 401 for d, answer in results if d.expect == "forged")
    # Each id sent twice must be answered once with 202 "queued" and once with 200 "duplicate".
    replays = Counter(d.delivery_id for d in deliveries if d.expect != "forged")
    answers: dict[str, list[tuple[int, str]]] = {}
    for d, answer in results:
        if d.expect != "forged":
            answers.setdefault(d.delivery_id, []).append((answer.status, answer.reply))
    once, twice = [(202, "queued")], [(200, "duplicate"), (202, "queued")]
    dedupe_ok = all(sorted(answers[i]) == (twice if n == 2 else once) for i, n in replays.items())
    exactly_once = set(handled) == valid_ids and all(n == 1 for n in handled.values())
    lost = len(valid_ids - set(handled))
    doubled = sum(1 for n in handled.values() if n > 1)

    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"server: {args.server}"
        + (f" ({args.workers} workers x {args.threads} threads)" if args.server == "emac" else "")
        + f", SQLite queue, {args.requests} deliveries at concurrency {args.concurrency}"
        + f" from {args.client_processes} client processes, {args.connections} connections"
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
    print(f"forged all 401: {forged_ok}; replays answered 202 once and 200 duplicate once: "
          f"{dedupe_ok}")  # fmt: skip
    print(f"processed exactly once: {exactly_once} (lost {lost}, doubled {doubled}, "
          f"handled {sum(handled.values())} of {len(valid_ids)})")  # fmt: skip
    p99_ok = percentile(latencies, 0.99) <= 0.050
    print(f"goal p99 <= 50 ms: {'met' if p99_ok else 'NOT met'}")
    return 0 if (forged_ok and dedupe_ok and exactly_once) else 1


if __name__ == "__main__":
    raise SystemExit(main())
