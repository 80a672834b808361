"""Queue semantics shared by SQLite and Redis + RQ, run through the real worker loop; and a
worker killed with SIGKILL mid-job against a real redis-server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.github.events import Job
from bot.github.queue import JobQueue, RetryPolicy
from bot.github.queue_sqlite import SqliteJobQueue
from bot.github.worker import PermanentJobError
from tests.test_queue_support import (
    REPO,
    Recorder,
    RedisServer,
    command,
    drained,
    merge_group,
    review,
    running_redis,
    wait_until,
    worker_thread,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


def _redis_queue(server: RedisServer, name: str, retry: RetryPolicy, lease: int) -> JobQueue:
    from redis import Redis

    from bot.github.redis_queue import RedisJobQueue

    connection = Redis.from_url(server.url)
    connection.flushdb()
    return RedisJobQueue(connection, retry=retry, lease_seconds=lease, name=name)


@pytest.fixture(params=["sqlite", "redis"])
def make_queue(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(retry: RetryPolicy | None = None, lease: int = 30) -> JobQueue:
        policy = retry or RetryPolicy(max_attempts=3, base_delay=0.0)
        if request.param == "sqlite":
            return SqliteJobQueue(tmp_path / "q.sqlite3", retry=policy)
        server = request.getfixturevalue("redis_server")
        return _redis_queue(server, request.node.name.replace("[", "-").strip("]"), policy, lease)

    return make


def test_a_delivery_replayed_adds_no_job(make_queue) -> None:  # type: ignore[no-untyped-def]
    queue = make_queue()
    jobs = [review(1, "aaa", "d-1")]
    assert not queue.accept_delivery("d-1", "pull_request", "opened", jobs).duplicate
    assert queue.accept_delivery("d-1", "pull_request", "opened", jobs).duplicate
    assert not queue.enqueue(review(1, "aaa", "d-2", trigger="check_suite.requested"))
    assert queue.enqueue(review(1, "aaa", "d-3", trigger="check_run.rerequested"))


def test_only_the_newest_head_of_a_pr_is_reviewed(make_queue) -> None:  # type: ignore[no-untyped-def]
    queue = make_queue()
    for i, head in enumerate(["h1", "h2", "h3"]):
        queue.enqueue(review(5, head, f"d-{i}", stamp=f"2024-05-01T10:00:0{i}Z"))
    queue.enqueue(review(5, "h0", "d-late", stamp="2024-05-01T09:59:59Z"))  # arrives last
    queue.enqueue(review(6, "x1", "d-other"))
    handler = Recorder()
    with worker_thread(queue, handler):
        wait_until(lambda: drained(queue), what="queue drained")
    assert sorted((j.pr_number, j.head_sha) for j in handler.calls) == [(5, "h3"), (6, "x1")]
    assert queue.newest_head(REPO, 5) == "h3"
    assert not queue.is_current(review(5, "h1", "d-0"))


def test_failures_are_retried_then_dead_lettered_with_the_error(make_queue) -> None:  # type: ignore[no-untyped-def]
    queue = make_queue(RetryPolicy(max_attempts=3, base_delay=0.0))
    flaky, broken, doomed = review(1, "a", "d-1"), review(2, "b", "d-2"), command(3, "d-3")

    def fail(job: Job, tries: int) -> BaseException | None:
        if job == flaky and tries < 3:
            return ConnectionError("GitHub answered 502")
        if job == broken:
            return ValueError("always broken")
        if job == doomed:
            return PermanentJobError("no spec in this repository")
        return None

    handler = Recorder(fail)
    for job in (flaky, broken, doomed):
        queue.enqueue(job)
    with worker_thread(queue, handler):
        wait_until(lambda: len(queue.dead_letters()) == 2, what="two dead letters")
        wait_until(lambda: handler.count(flaky) == 3, what="flaky job retried")
    assert (handler.count(flaky), handler.count(broken), handler.count(doomed)) == (3, 3, 1)
    letters = {d.job.delivery_id: d for d in queue.dead_letters()}
    assert sorted(letters) == ["d-2", "d-3"]
    assert letters["d-2"].error.startswith("ValueError: always broken")
    assert letters["d-3"].error.startswith("PermanentJobError: no spec in this repository")
    assert letters["d-2"].attempts == 3 and letters["d-3"].attempts == 1


def test_merge_queue_checks_run_before_a_review_backlog(make_queue) -> None:  # type: ignore[no-untyped-def]
    queue = make_queue()
    for pr in range(20):
        queue.enqueue(review(pr, f"h{pr}", f"d-{pr}"))
    queue.enqueue(merge_group("mq", "d-mq"))
    handler = Recorder()
    with worker_thread(queue, handler):
        wait_until(lambda: len(handler.calls) == 21, what="all jobs")
    assert handler.calls[0].delivery_id == "d-mq"


def test_readiness_reflects_the_backend(make_queue) -> None:  # type: ignore[no-untyped-def]
    assert make_queue().ping()


WORKER_SCRIPT = textwrap.dedent(
    """
    import os, sys, threading, time
    from pathlib import Path
    from bot.github.queue import RetryPolicy
    from bot.github.redis_queue import RedisJobQueue
    from bot.github.worker import run_worker

    url, name, log = sys.argv[1], sys.argv[2], Path(sys.argv[3])

    def note(line):
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, (line + "\\n").encode())
        os.close(fd)

    def handler(job):
        note(f"start {job.delivery_id} {os.getpid()}")
        if job.delivery_id == "slow":
            while not (log.parent / "release").exists():
                time.sleep(0.02)
        note(f"done {job.delivery_id} {os.getpid()}")

    queue = RedisJobQueue.from_url(
        url, retry=RetryPolicy(max_attempts=3, base_delay=0.0), lease_seconds=2, name=name)
    run_worker(queue, handler, stop_event=threading.Event(), worker_id=f"w{os.getpid()}")
    """
)


def _log_lines(log: Path) -> list[tuple[str, str, int]]:
    if not log.exists():
        return []
    return [
        (kind, delivery, int(pid))
        for kind, delivery, pid in (line.split() for line in log.read_text().splitlines())
    ]


def test_a_job_whose_worker_is_killed_runs_to_completion_exactly_once_more(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    queue = _redis_queue(redis_server, "sigkill", RetryPolicy(max_attempts=3, base_delay=0), 2)
    log = tmp_path / "events.log"
    queue.enqueue(review(1, "slow-head", "slow"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, redis_server.url, "sigkill", str(log)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        wait_until(lambda: any(k == "start" for k, _, _ in _log_lines(log)), 60, "slow job start")
        [(_, _, victim)] = _log_lines(log)
        os.kill(victim, signal.SIGKILL)
        survivor = next(w for w in workers if w.pid != victim)
        fast = [review(pr, f"f{pr}", f"fast-{pr}") for pr in range(10, 15)]
        for job in fast:
            queue.enqueue(job)
        (tmp_path / "release").touch()
        wait_until(
            lambda: sum(k == "done" for k, _, _ in _log_lines(log)) == 6, 60, "all jobs done"
        )
        wait_until(lambda: drained(queue), 60, "queue drained")
        lines = _log_lines(log)
        starts = [(d, pid) for k, d, pid in lines if k == "start"]
        dones = [(d, pid) for k, d, pid in lines if k == "done"]
        assert starts.count(("slow", victim)) == 1
        assert starts.count(("slow", survivor.pid)) == 1, "re-run exactly once, by the survivor"
        assert dones.count(("slow", survivor.pid)) == 1
        assert sorted(d for d, _ in dones) == sorted(["slow", *(j.delivery_id for j in fast)])
        assert sorted(d for d, _ in starts) == sorted([*(d for d, _ in dones), "slow"])
        assert queue.counts() == {"pending": 0, "running": 0, "done": 6, "dead": 0}
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def test_a_job_longer_than_its_lease_keeps_it_and_runs_once(make_queue) -> None:  # type: ignore[no-untyped-def]
    # Leases of 2 s (heartbeats every 2/3 s): on a busy 2-core CI machine a 1 s lease left too
    # little room for a heartbeat delayed by the scheduler, and the job ran twice.
    queue = make_queue(lease=2)
    slow = review(1, "slow", "d-slow")
    release = threading.Event()

    def handler(job: Job) -> None:
        calls.append(job)
        release.wait(30)

    calls: list[Job] = []
    queue.enqueue(slow)
    with (
        worker_thread(queue, handler, lease_seconds=2),
        worker_thread(queue, handler, lease_seconds=2),
    ):
        wait_until(lambda: len(calls) == 1, what="slow job started")
        # Three leases pass while the job runs; the other worker keeps reconciling meanwhile.
        time.sleep(6.5)
        release.set()
        wait_until(lambda: drained(queue), what="slow job finished")
    assert calls == [slow]


def test_a_redis_worker_stops_soon_after_its_command_channel_went_quiet(
    redis_server: RedisServer,
) -> None:
    # RQ's teardown unsubscribes, then waits for its pub/sub thread. When that thread has
    # already read the unsubscribe reply it is back in a blocking read, and only the read's
    # own timeout ends the wait: that must be short, or `emac worker` outlives SIGTERM.
    from redis import Redis

    from bot.github.redis_queue import RedisJobQueue

    queue = RedisJobQueue(Redis.from_url(redis_server.url), name="teardown")
    worker = queue.rq_worker(stop_event=threading.Event(), worker_name="quiet")
    worker.subscribe()
    worker.pubsub.unsubscribe()
    time.sleep(0.5)  # the thread reads the reply and blocks again
    started = time.monotonic()
    worker.unsubscribe()
    worker.pubsub_thread.join(timeout=30)
    assert not worker.pubsub_thread.is_alive()
    assert time.monotonic() - started < 5
