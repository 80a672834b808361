"""The durable job queue: the Job record, the queue protocols, and the embedded SQLite queue."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bot.github.settings import Settings


class JobKind(StrEnum):
    REVIEW = "review"
    MERGE_GROUP = "merge_group"
    ACCEPT_MODEL = "accept_model"
    REGENERATE_ARTIFACTS = "regenerate_artifacts"
    COMMAND = "command"
    INSTALLATION = "installation"


# Merge-queue checks go first so a busy review backlog never stalls a merge queue.
PRIORITY = {
    JobKind.MERGE_GROUP: 0,
    JobKind.COMMAND: 1,
    JobKind.ACCEPT_MODEL: 1,
    JobKind.REGENERATE_ARTIFACTS: 1,
    JobKind.REVIEW: 2,
    JobKind.INSTALLATION: 3,
}


@dataclass(frozen=True)
class Job:
    """One unit of work decided from one delivery; small and JSON-serialisable.

    `trigger` is `event.action` of the delivery; `head_updated_at` (the payload's timestamp
    for that head) orders heads of one PR when deliveries arrive out of order.
    """

    kind: JobKind
    delivery_id: str
    trigger: str
    repo: str = ""
    installation_id: int | None = None
    pr_number: int | None = None
    head_sha: str | None = None
    base_sha: str | None = None
    head_updated_at: str | None = None
    command: str | None = None
    sender: str | None = None
    action_identifier: str | None = None
    repos: tuple[str, ...] = field(default=())

    @property
    def is_rerequest(self) -> bool:
        return self.trigger.endswith(".rerequested")

    @property
    def advances_head(self) -> bool:
        """A new head for a PR (push, open): makes older pending reviews of that PR stale."""
        return (
            self.kind is JobKind.REVIEW
            and self.pr_number is not None
            and self.head_sha is not None
            and not self.is_rerequest
        )

    @property
    def idempotency_key(self) -> str:
        if self.kind is JobKind.REVIEW and not self.is_rerequest:
            # opened, synchronize and check_suite.requested of one head are one review.
            return f"review|{self.repo}|{self.pr_number}|{self.head_sha}"
        if self.kind is JobKind.MERGE_GROUP:
            return f"merge_group|{self.repo}|{self.head_sha}"
        # A re-run asked for by a person, a command or bookkeeping: once per delivery.
        return (
            f"{self.kind}|{self.delivery_id}|{self.repo}|{self.pr_number}|{self.head_sha}"
            f"|{self.command}|{self.action_identifier}"
        )

    @property
    def job_id(self) -> str:
        return hashlib.sha256(self.idempotency_key.encode()).hexdigest()[:32]

    def to_json(self) -> str:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["repos"] = list(self.repos)
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Job:
        data: dict[str, Any] = json.loads(text)
        data["kind"] = JobKind(data["kind"])
        data["repos"] = tuple(data.get("repos", ()))
        return cls(**data)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing job is tried and how long to wait between tries."""

    max_attempts: int = 5
    base_delay: float = 5.0
    factor: float = 4.0
    max_delay: float = 600.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th failed try (1-based)."""
        return float(min(self.max_delay, self.base_delay * self.factor ** max(0, attempt - 1)))


@dataclass(frozen=True)
class DeliveryOutcome:
    duplicate: bool
    enqueued: int


@dataclass(frozen=True)
class DeadLetter:
    job: Job
    attempts: int
    error: str


class JobQueue(Protocol):
    """What the webhook service, the reconciler and the job runner need from any queue."""

    def accept_delivery(
        self, delivery_id: str, event: str, action: str | None, jobs: Sequence[Job]
    ) -> DeliveryOutcome: ...

    def enqueue(self, job: Job) -> bool: ...

    def requeue_expired(self) -> int: ...

    def newest_head(self, repo: str, pr_number: int) -> str | None: ...

    def is_current(self, job: Job) -> bool: ...

    def dead_letters(self) -> list[DeadLetter]: ...

    def counts(self) -> dict[str, int]: ...

    def ping(self) -> bool: ...


@runtime_checkable
class ClaimingQueue(JobQueue, Protocol):
    """A queue whose workers claim jobs under a lease (the embedded SQLite queue)."""

    def claim(self, worker_id: str, lease_seconds: float) -> Job | None: ...

    def extend_lease(self, job_id: str, worker_id: str, lease_seconds: float) -> bool: ...

    def complete(self, job_id: str) -> None: ...

    def fail(self, job_id: str, error: str, retry: bool) -> None: ...


@runtime_checkable
class SelfWorkingQueue(JobQueue, Protocol):
    """A queue that brings its own worker loop (Redis: RQ workers claim and retry)."""

    def work(
        self, handler: Callable[[Job], None], *, stop_event: threading.Event, worker_name: str
    ) -> None: ...


def is_current_head(job: Job, newest: str | None) -> bool:
    if job.kind is not JobKind.REVIEW or job.pr_number is None or job.head_sha is None:
        return True
    return newest is None or newest == job.head_sha


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
        # One connection guarded by a lock: writes are serialised by SQLite anyway, and a
        # single connection avoids per-thread connection churn under a threaded server.
        self._conn = sqlite3.connect(
            str(path), timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a delivery acknowledged with 202 must survive a power cut, not only a crash.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._lock_file = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        with self._transaction() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            os.close(self._lock_file)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # Writers from other processes queue on an OS file lock, which wakes the next one the
        # moment it is released; SQLite's own busy handler polls with sleeps of up to 100 ms,
        # which is what a webhook acknowledgement would then wait for under load.
        with self._lock:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            finally:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def accept_delivery(
        self, delivery_id: str, event: str, action: str | None, jobs: Sequence[Job]
    ) -> DeliveryOutcome:
        now = self._clock()
        with self._transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?, ?, ?)",
                (delivery_id, event, action, now, len(jobs)),
            )
            if cur.rowcount == 0:
                return DeliveryOutcome(duplicate=True, enqueued=0)
            enqueued = sum(self._insert(conn, job, now) for job in jobs)
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
            row = self._conn.execute(
                "SELECT head_sha FROM heads WHERE repo = ? AND pr_number = ?", (repo, pr_number)
            ).fetchone()
        return None if row is None else str(row[0])

    def is_current(self, job: Job) -> bool:
        """False when a newer head of the job's PR is known: its results must not be posted."""
        if job.pr_number is None:
            return True
        return is_current_head(job, self.newest_head(job.repo, job.pr_number))

    def dead_letters(self) -> list[DeadLetter]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT body, attempts, last_error FROM jobs WHERE state = 'dead' ORDER BY seq"
            ).fetchall()
        return [
            DeadLetter(Job.from_json(body), attempts, error or "") for body, attempts, error in rows
        ]

    def counts(self) -> dict[str, int]:
        """Jobs per state (pending, running, done, dead, superseded)."""
        with self._lock:
            rows = self._conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return {str(state): int(n) for state, n in rows}

    def ping(self) -> bool:
        try:
            with self._lock:
                self._conn.execute("SELECT 1 FROM deliveries LIMIT 1").fetchall()
        except sqlite3.Error:
            return False
        return True


def open_queue(settings: Settings) -> JobQueue:
    """The queue the settings ask for: Redis + RQ when a Redis URL is set, else SQLite."""
    policy = RetryPolicy(max_attempts=settings.max_attempts, base_delay=settings.retry_base_seconds)
    if settings.redis_url:
        # Imported here: redis and rq are only needed by deployments that use them.
        from bot.github.redis_queue import RedisJobQueue

        return RedisJobQueue.from_url(
            settings.redis_url, retry=policy, lease_seconds=settings.lease_seconds
        )
    return SqliteJobQueue(settings.queue_path, retry=policy)
