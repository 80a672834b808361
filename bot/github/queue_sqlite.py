"""The embedded SQLite queue: leases, group commit and newest-head coalescing in one local file."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.github.events import Job, JobKind
from bot.github.queue import DeadLetter, DeliveryOutcome, RetryPolicy, is_current_head

# Merge-queue checks go first so a busy review backlog never stalls a merge queue.
PRIORITY = {
    JobKind.MERGE_GROUP: 0,
    JobKind.COMMAND: 1,
    JobKind.ACCEPT_MODEL: 1,
    JobKind.REGENERATE_ARTIFACTS: 1,
    JobKind.REVIEW: 2,
    JobKind.INSTALLATION: 3,
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
  delivery_id TEXT PRIMARY KEY, event TEXT NOT NULL, action TEXT,
  received_at REAL NOT NULL, jobs INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL, repo TEXT NOT NULL, pr_number INTEGER, head_sha TEXT,
  body TEXT NOT NULL, priority INTEGER NOT NULL, state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, not_before REAL NOT NULL,
  worker_id TEXT, lease_until REAL, last_error TEXT,
  enqueued_at REAL NOT NULL, finished_at REAL);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (state, priority, not_before, seq);
CREATE INDEX IF NOT EXISTS jobs_pr ON jobs (repo, pr_number, state);
CREATE TABLE IF NOT EXISTS heads (
  repo TEXT NOT NULL, pr_number INTEGER NOT NULL, head_sha TEXT NOT NULL,
  version TEXT NOT NULL, PRIMARY KEY (repo, pr_number));
"""


@dataclass
class _PendingDelivery:
    """A delivery waiting for the next group commit, and what became of it."""

    delivery_id: str
    event: str
    action: str | None
    jobs: tuple[Job, ...]
    outcome: DeliveryOutcome | None = None
    error: Exception | None = None
    settled: bool = False


class SqliteJobQueue:
    """One SQLite file in WAL mode: survives restarts, shared by any number of local processes.

    Delivery is at-least-once: a job whose worker dies is handed out again once its lease
    expires, so handlers must be idempotent (the review handler is: it edits in place).
    """

    def __init__(
        self,
        path: Path,
        *,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.retry = retry or RetryPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: list[_PendingDelivery] = []
        self._open()
        with self._transaction() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def _open(self) -> None:
        # One connection guarded by a lock: writes are serialised by SQLite anyway, and a
        # single connection avoids per-thread connection churn under a threaded server.
        self._conn = sqlite3.connect(
            str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a delivery acknowledged with 202 must survive a power cut, not only a crash.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._lock_file = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._pid = os.getpid()

    def _connection(self) -> sqlite3.Connection:
        """This process's connection; the caller holds `self._lock`."""
        if self._pid != os.getpid():
            # Opened before a fork (e.g. gunicorn --preload): a SQLite connection must not
            # cross a fork, so the child opens its own and leaves the parent's alone.
            self._open()
        return self._conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            os.close(self._lock_file)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._locked_transaction() as conn:
            yield conn

    @contextmanager
    def _locked_transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; the caller holds `self._lock`."""
        # Writers in other processes queue on an OS file lock, which wakes the next one the
        # moment it is released; SQLite's own busy handler polls with sleeps of up to 100 ms,
        # which is what a webhook acknowledgement would then wait for under load.
        conn = self._connection()
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def accept_delivery(
        self, delivery_id: str, event: str, action: str | None, jobs: Sequence[Job]
    ) -> DeliveryOutcome:
        """Record a delivery and its jobs in one transaction; a known delivery id is a duplicate.

        Group commit: deliveries that arrive while another is being written wait for the
        lock, and the first of them to get it writes them all in one transaction (one fsync).
        """
        mine = _PendingDelivery(delivery_id, event, action, tuple(jobs))
        with self._pending_lock:
            self._pending.append(mine)
        with self._lock:
            if not mine.settled:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._write_batch(batch)
        if mine.error is not None:
            raise mine.error
        assert mine.outcome is not None
        return mine.outcome

    def _write_batch(self, batch: list[_PendingDelivery]) -> None:
        now = self._clock()
        try:
            with self._locked_transaction() as conn:
                for item in batch:
                    item.outcome = self._record(conn, item, now)
        except Exception as exc:
            for item in batch:
                item.outcome, item.error = None, exc
        for item in batch:
            item.settled = True

    def _record(
        self, conn: sqlite3.Connection, item: _PendingDelivery, now: float
    ) -> DeliveryOutcome:
        cur = conn.execute(
            "INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?, ?, ?)",
            (item.delivery_id, item.event, item.action, now, len(item.jobs)),
        )
        if cur.rowcount == 0:
            return DeliveryOutcome(duplicate=True, enqueued=0)
        enqueued = sum(self._insert(conn, job, now) for job in item.jobs)
        return DeliveryOutcome(duplicate=False, enqueued=enqueued)

    def enqueue(self, job: Job) -> bool:
        with self._transaction() as conn:
            return self._insert(conn, job, self._clock())

    def _insert(self, conn: sqlite3.Connection, job: Job, now: float) -> bool:
        state = "pending"
        if job.advances_head and not self._advance_head(conn, job):
            state = "superseded"  # a newer head of this PR is already known
        cur = conn.execute(
            "INSERT OR IGNORE INTO jobs (job_id, kind, repo, pr_number, head_sha, body,"
            " priority, state, not_before, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.job_id,
                job.kind.value,
                job.repo,
                job.pr_number,
                job.head_sha,
                job.to_json(),
                PRIORITY[job.kind],
                state,
                now,
                now,
            ),
        )
        return cur.rowcount == 1

    def _advance_head(self, conn: sqlite3.Connection, job: Job) -> bool:
        row = conn.execute(
            "SELECT head_sha, version FROM heads WHERE repo = ? AND pr_number = ?",
            (job.repo, job.pr_number),
        ).fetchone()
        version = job.head_updated_at or ""
        if row is not None and version and row[1] and version < row[1]:
            return False
        conn.execute(
            "INSERT INTO heads VALUES (?, ?, ?, ?) ON CONFLICT (repo, pr_number)"
            " DO UPDATE SET head_sha = excluded.head_sha, version = excluded.version",
            (job.repo, job.pr_number, job.head_sha, version),
        )
        conn.execute(
            "UPDATE jobs SET state = 'superseded' WHERE repo = ? AND pr_number = ?"
            " AND kind = 'review' AND state = 'pending' AND head_sha != ?",
            (job.repo, job.pr_number, job.head_sha),
        )
        return True

    def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        now = self._clock()
        with self._transaction() as conn:
            while True:
                row = conn.execute(
                    "SELECT job_id, body FROM jobs WHERE state = 'pending' AND not_before <= ?"
                    " ORDER BY priority, not_before, seq LIMIT 1",
                    (now,),
                ).fetchone()
                if row is None:
                    return None
                job = Job.from_json(row[1])
                if not is_current_head(job, self._newest(conn, job)):
                    conn.execute("UPDATE jobs SET state = 'superseded' WHERE job_id = ?", (row[0],))
                    continue
                conn.execute(
                    "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker_id = ?,"
                    " lease_until = ? WHERE job_id = ?",
                    (worker_id, now + lease_seconds, row[0]),
                )
                return job

    def extend_lease(self, job_id: str, worker_id: str, lease_seconds: float) -> bool:
        with self._transaction() as conn:
            cur = conn.execute(
                "UPDATE jobs SET lease_until = ? WHERE job_id = ? AND state = 'running'"
                " AND worker_id = ?",
                (self._clock() + lease_seconds, job_id, worker_id),
            )
            return cur.rowcount == 1

    def complete(self, job_id: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE jobs SET state = 'done', finished_at = ?, lease_until = NULL"
                " WHERE job_id = ? AND state = 'running'",
                (self._clock(), job_id),
            )

    def fail(self, job_id: str, error: str, retry: bool) -> None:
        now = self._clock()
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT attempts FROM jobs WHERE job_id = ? AND state = 'running'", (job_id,)
            ).fetchone()
            if row is not None:
                self._retry_or_bury(conn, job_id, row[0], error, retry, now)

    def _retry_or_bury(
        self,
        conn: sqlite3.Connection,
        job_id: str,
        attempts: int,
        error: str,
        retry: bool,
        now: float,
        *,
        backoff: bool = True,
    ) -> None:
        if retry and attempts < self.retry.max_attempts:
            delay = self.retry.delay(attempts) if backoff else 0.0
            conn.execute(
                "UPDATE jobs SET state = 'pending', not_before = ?, last_error = ?,"
                " worker_id = NULL, lease_until = NULL WHERE job_id = ?",
                (now + delay, error, job_id),
            )
        else:
            conn.execute(
                "UPDATE jobs SET state = 'dead', last_error = ?, finished_at = ?,"
                " lease_until = NULL WHERE job_id = ?",
                (error, now, job_id),
            )

    def requeue_expired(self) -> int:
        """The reconciler: jobs whose worker died (lease ran out) go back to pending."""
        now = self._clock()
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT job_id, attempts, worker_id FROM jobs"
                " WHERE state = 'running' AND lease_until < ?",
                (now,),
            ).fetchall()
            for job_id, attempts, worker_id in rows:
                error = f"lease expired: worker {worker_id} stopped before finishing"
                # Re-run at once: a dead worker is no reason to back off, but it does use up
                # an attempt so a job that kills its worker every time ends as a dead letter.
                self._retry_or_bury(conn, job_id, attempts, error, True, now, backoff=False)
            return len(rows)

    def _newest(self, conn: sqlite3.Connection, job: Job) -> str | None:
        if job.pr_number is None:
            return None
        row = conn.execute(
            "SELECT head_sha FROM heads WHERE repo = ? AND pr_number = ?",
            (job.repo, job.pr_number),
        ).fetchone()
        return None if row is None else str(row[0])

    def newest_head(self, repo: str, pr_number: int) -> str | None:
        with self._lock:
            row = (
                self._connection()
                .execute(
                    "SELECT head_sha FROM heads WHERE repo = ? AND pr_number = ?", (repo, pr_number)
                )
                .fetchone()
            )
        return None if row is None else str(row[0])

    def is_current(self, job: Job) -> bool:
        """False when a newer head of the job's PR is known: its results must not be posted."""
        if job.pr_number is None:
            return True
        return is_current_head(job, self.newest_head(job.repo, job.pr_number))

    def dead_letters(self) -> list[DeadLetter]:
        with self._lock:
            rows = (
                self._connection()
                .execute(
                    "SELECT body, attempts, last_error FROM jobs WHERE state = 'dead' ORDER BY seq"
                )
                .fetchall()
            )
        return [
            DeadLetter(Job.from_json(body), attempts, error or "") for body, attempts, error in rows
        ]

    def counts(self) -> dict[str, int]:
        """Jobs per state (pending, running, done, dead, superseded)."""
        with self._lock:
            rows = (
                self._connection()
                .execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .fetchall()
            )
        return {str(state): int(n) for state, n in rows}

    def ping(self) -> bool:
        try:
            with self._lock:
                self._connection().execute("SELECT 1 FROM deliveries LIMIT 1").fetchall()
        except sqlite3.Error:
            return False
        return True
