"""The embedded SQLite queue: idempotency, coalescing, leases, backoff, restarts, concurrency."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from bot.github.events import Job
from bot.github.queue import RetryPolicy
from bot.github.queue_sqlite import SqliteJobQueue
from tests.test_queue_support import ManualClock, command, merge_group, review


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def queue(tmp_path: Path, clock: ManualClock) -> SqliteJobQueue:
    return SqliteJobQueue(
        tmp_path / "q.sqlite3", retry=RetryPolicy(max_attempts=3, base_delay=10.0), clock=clock
    )


def test_a_job_round_trips_through_json() -> None:
    job = review(4, "abc", "d-1", stamp="2024-01-01T00:00:00Z")
    assert Job.from_json(job.to_json()) == job


def test_equal_idempotency_keys_enqueue_once(queue: SqliteJobQueue) -> None:
    assert queue.enqueue(review(1, "aaa", "d-1"))
    # check_suite.requested for the same head comes in its own delivery: still one review
    assert not queue.enqueue(review(1, "aaa", "d-2", trigger="check_suite.requested"))
    assert queue.counts() == {"pending": 1}


def test_a_replayed_delivery_is_a_duplicate_and_adds_no_job(queue: SqliteJobQueue) -> None:
    jobs = [command(3, "d-9")]
    first = queue.accept_delivery("d-9", "issue_comment", "created", jobs)
    again = queue.accept_delivery("d-9", "issue_comment", "created", jobs)
    assert (first.duplicate, first.enqueued) == (False, 1)
    assert (again.duplicate, again.enqueued) == (True, 0)
    assert queue.counts() == {"pending": 1}


def test_each_rerequest_by_a_person_runs_again(queue: SqliteJobQueue) -> None:
    assert queue.enqueue(review(1, "aaa", "d-1"))
    assert queue.enqueue(review(1, "aaa", "d-2", trigger="check_run.rerequested"))
    assert queue.enqueue(review(1, "aaa", "d-3", trigger="check_suite.rerequested"))
    assert not queue.enqueue(review(1, "aaa", "d-3", trigger="check_suite.rerequested"))


def test_a_newer_head_supersedes_pending_reviews_of_that_pr(queue: SqliteJobQueue) -> None:
    queue.enqueue(review(1, "old", "d-1"))
    queue.enqueue(review(2, "other-pr", "d-2"))
    queue.enqueue(review(1, "new", "d-3"))
    assert queue.newest_head("octo-org/shop", 1) == "new"
    claimed = [queue.claim("w", 60), queue.claim("w", 60), queue.claim("w", 60)]
    assert [j.head_sha if j else None for j in claimed] == ["other-pr", "new", None]
    assert queue.counts() == {"running": 2, "superseded": 1}


def test_a_late_delivery_of_an_older_head_does_not_win(queue: SqliteJobQueue) -> None:
    queue.enqueue(review(1, "new", "d-2", stamp="2024-05-01T10:00:05Z"))
    queue.enqueue(
        review(1, "old", "d-1", stamp="2024-05-01T10:00:00Z", trigger="pull_request.opened")
    )
    assert queue.newest_head("octo-org/shop", 1) == "new"
    job = queue.claim("w", 60)
    assert job is not None and job.head_sha == "new"
    assert queue.claim("w", 60) is None


def test_a_worker_holding_an_older_head_learns_it_must_not_post(queue: SqliteJobQueue) -> None:
    queue.enqueue(review(1, "old", "d-1"))
    running = queue.claim("w", 60)
    assert running is not None and queue.is_current(running)
    queue.enqueue(review(1, "new", "d-2"))
    assert not queue.is_current(running)
    assert queue.is_current(command(1, "d-3")), "commands are not tied to a head"


def test_merge_queue_checks_are_claimed_before_older_reviews(queue: SqliteJobQueue) -> None:
    queue.enqueue(review(1, "aaa", "d-1"))
    queue.enqueue(merge_group("mmm", "d-2"))
    first = queue.claim("w", 60)
    assert first is not None and first.delivery_id == "d-2"


def test_an_expired_lease_puts_the_job_back_for_another_worker(
    queue: SqliteJobQueue, clock: ManualClock
) -> None:
    queue.enqueue(review(1, "aaa", "d-1"))
    job = queue.claim("dies", 30)
    assert job is not None
    clock.advance(20)
    assert queue.requeue_expired() == 0, "lease still valid"
    assert queue.claim("other", 30) is None
    clock.advance(11)
    assert queue.requeue_expired() == 1
    assert queue.claim("other", 30) == job
    queue.complete(job.job_id)
    assert queue.counts() == {"done": 1}


def test_a_renewed_lease_keeps_a_long_job(queue: SqliteJobQueue, clock: ManualClock) -> None:
    queue.enqueue(review(1, "aaa", "d-1"))
    job = queue.claim("slow", 30)
    assert job is not None
    for _ in range(5):
        clock.advance(20)
        assert queue.extend_lease(job.job_id, "slow", 30)
    assert queue.requeue_expired() == 0
    assert not queue.extend_lease(job.job_id, "someone-else", 30)


def test_failures_back_off_then_land_in_the_dead_letters(
    queue: SqliteJobQueue, clock: ManualClock
) -> None:
    queue.enqueue(review(1, "aaa", "d-1"))
    job = queue.claim("w", 60)
    assert job is not None
    queue.fail(job.job_id, "HTTP 502 from GitHub", retry=True)
    assert queue.claim("w", 60) is None, "first retry waits base_delay"
    clock.advance(10)
    assert queue.claim("w", 60) == job
    queue.fail(job.job_id, "HTTP 502 from GitHub", retry=True)
    clock.advance(39)
    assert queue.claim("w", 60) is None, "second retry waits base_delay * 4"
    clock.advance(1)
    assert queue.claim("w", 60) == job
    queue.fail(job.job_id, "HTTP 500 from GitHub", retry=True)
    assert queue.claim("w", 10_000) is None
    [letter] = queue.dead_letters()
    assert (letter.job, letter.attempts, letter.error) == (job, 3, "HTTP 500 from GitHub")


def test_a_permanent_failure_is_dead_lettered_at_once(queue: SqliteJobQueue) -> None:
    queue.enqueue(command(2, "d-1"))
    job = queue.claim("w", 60)
    assert job is not None
    queue.fail(job.job_id, "spec file is not valid YAML", retry=False)
    assert [d.error for d in queue.dead_letters()] == ["spec file is not valid YAML"]


def test_a_job_that_keeps_killing_its_worker_ends_as_a_dead_letter(
    queue: SqliteJobQueue, clock: ManualClock
) -> None:
    queue.enqueue(review(1, "aaa", "d-1"))
    for _ in range(3):
        assert queue.claim("w", 30) is not None
        clock.advance(31)
        queue.requeue_expired()
    [letter] = queue.dead_letters()
    assert letter.attempts == 3 and "lease expired" in letter.error


def test_jobs_and_deliveries_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    first = SqliteJobQueue(path)
    first.accept_delivery("d-1", "pull_request", "opened", [review(1, "aaa", "d-1")])
    first.close()
    second = SqliteJobQueue(path)
    assert second.accept_delivery("d-1", "pull_request", "opened", []).duplicate
    job = second.claim("w", 60)
    assert job == review(1, "aaa", "d-1")
    assert second.newest_head("octo-org/shop", 1) == "aaa"


def test_concurrent_workers_on_one_file_claim_each_job_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    producer = SqliteJobQueue(path)
    for pr in range(200):
        producer.enqueue(review(pr, f"h{pr}", f"d-{pr}"))
    claimed: list[str] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        own = SqliteJobQueue(path)  # its own connection, as a separate process would have
        while (job := own.claim(name, 60)) is not None:
            own.complete(job.job_id)
            with lock:
                claimed.append(job.delivery_id)
        own.close()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(f"d-{pr}" for pr in range(200))
    assert producer.counts() == {"done": 200}


def test_the_queue_reports_ready(queue: SqliteJobQueue) -> None:
    assert queue.ping()
    queue.close()
    assert not queue.ping()


def _enqueue_in_child(queue: SqliteJobQueue) -> None:
    queue.enqueue(review(9, "forked", "d-child"))


def test_a_queue_opened_before_a_fork_reconnects_in_the_child(tmp_path: Path) -> None:
    queue = SqliteJobQueue(tmp_path / "q.sqlite3")  # as under gunicorn --preload
    queue.enqueue(review(8, "parent", "d-parent"))
    child = multiprocessing.get_context("fork").Process(target=_enqueue_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert queue.counts() == {"pending": 2}
    assert {queue.newest_head("octo-org/shop", pr) for pr in (8, 9)} == {"parent", "forked"}
