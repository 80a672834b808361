"""Shared helpers for the queue tests: job builders, a manual clock, a real redis-server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.github.events import Job, JobKind
from bot.github.queue import JobQueue
from bot.github.worker import Handler, run_worker
from tests.conftest import free_port

REPO = "octo-org/shop"


def review(
    pr: int,
    head: str,
    delivery: str,
    *,
    stamp: str | None = None,
    trigger: str = "pull_request.synchronize",
    repo: str = REPO,
) -> Job:
    return Job(
        kind=JobKind.REVIEW,
        delivery_id=delivery,
        trigger=trigger,
        repo=repo,
        installation_id=7,
        pr_number=pr,
        head_sha=head,
        head_updated_at=stamp,
    )


def command(pr: int, delivery: str, word: str = "recompute") -> Job:
    return Job(
        kind=JobKind.COMMAND,
        delivery_id=delivery,
        trigger="issue_comment.created",
        repo=REPO,
        installation_id=7,
        pr_number=pr,
        command=word,
        sender="octocat",
    )


def merge_group(head: str, delivery: str) -> Job:
    return Job(
        kind=JobKind.MERGE_GROUP,
        delivery_id=delivery,
        trigger="merge_group.checks_requested",
        repo=REPO,
        installation_id=7,
        head_sha=head,
    )


class ManualClock:
    """A clock the test moves by hand, so lease expiry and backoff need no sleeping."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    """A handler that records the jobs it ran (thread-safe) and can fail on demand."""

    def __init__(self, fail: Callable[[Job, int], BaseException | None] | None = None) -> None:
        self.calls: list[Job] = []
        self._fail = fail
        self._lock = threading.Lock()

    def __call__(self, job: Job) -> None:
        with self._lock:
            self.calls.append(job)
            tries = sum(1 for j in self.calls if j == job)
        if self._fail is not None and (exc := self._fail(job, tries)) is not None:
            raise exc

    def count(self, job: Job) -> int:
        with self._lock:
            return sum(1 for j in self.calls if j == job)


def drained(queue: JobQueue) -> bool:
    """Nothing left to run: no job pending (or waiting to retry) and none running."""
    counts = queue.counts()
    return counts.get("pending", 0) == 0 and counts.get("running", 0) == 0


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what or condition}")
        time.sleep(0.02)


@contextmanager
def worker_thread(queue: JobQueue, handler: Handler, **options: float) -> Iterator[None]:
    """Run `run_worker` in a thread for the duration of the block."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker,
        args=(queue, handler),
        kwargs={"stop_event": stop, "poll_seconds": 0.02, **options},
        daemon=True,
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive(), "worker did not stop"


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def redis_server_binary() -> str:
    """Path of redis-server; in CI a missing one is a failure, not a skip."""
    path = shutil.which("redis-server")
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail("redis-server is required in CI (Debian package redis-server)")
    pytest.skip("redis-server not installed")
    raise AssertionError("unreachable")


@contextmanager
def running_redis(directory: Path) -> Iterator[RedisServer]:
    """A private redis-server on a free loopback port, data in `directory`, no persistence."""
    binary = redis_server_binary()
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {port}")
            time.sleep(0.05)
        yield RedisServer(process, port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
