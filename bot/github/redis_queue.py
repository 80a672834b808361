"""The Redis queue: idempotency keys, newest-head coalescing, and RQ workers on any machine.

Same semantics as the SQLite queue. RQ does the claiming: a worker moves a job into RQ's
StartedJobRegistry with a lease (our heartbeat TTL) and keeps extending it while the handler
runs; when a worker dies the lease runs out and the registry's cleanup (the reconciler)
retries the job once per remaining attempt. Failures retry with backoff through RQ's
`Retry`; a job out of attempts lands in RQ's FailedJobRegistry, our dead-letter list.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

from redis import Redis
from redis.exceptions import RedisError, WatchError
from rq import Queue, Retry, SimpleWorker
from rq.exceptions import NoSuchJobError, StopRequested
from rq.executions import Execution
from rq.job import Job as RQJob
from rq.registry import (
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty
from rq.worker import WorkerStatus

from bot.github.events import Job, JobKind
from bot.github.queue import DeadLetter, DeliveryOutcome, RetryPolicy, is_current_head
from bot.github.worker import PermanentJobError, describe_error

QUEUE_NAME = "emac"
# Delivery ids and idempotency keys are kept a month: GitHub redelivers for days, not months.
KEY_TTL_SECONDS = 30 * 24 * 3600
PERFORM = "bot.github.redis_queue.perform_job"

# Compare-and-set of a PR's newest head: an older head (by payload timestamp) never wins.
_ADVANCE_HEAD = """
local current = redis.call('HGET', KEYS[1], 'version')
if current and current ~= '' and ARGV[2] ~= '' and ARGV[2] < current then return 0 end
redis.call('HSET', KEYS[1], 'sha', ARGV[1], 'version', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


class _WorkerContext(threading.local):
    """What `perform_job` needs from the worker running it (one worker per thread)."""

    handler: Callable[[Job], None] | None = None
    queue: RedisJobQueue | None = None
    worker: _EmacRQWorker | None = None
    execution: Execution | None = None
    rq_job: RQJob | None = None
    permanent: bool = False


_context = _WorkerContext()


class RedisJobQueue:
    """Jobs in one Redis (one RQ queue); producers and workers may run on any machine."""

    def __init__(
        self,
        connection: Redis,
        *,
        retry: RetryPolicy | None = None,
        lease_seconds: int = 300,
        job_timeout: int = 1800,
        name: str = QUEUE_NAME,
    ) -> None:
        self.connection = connection
        self.retry = retry or RetryPolicy()
        self.lease_seconds = max(1, int(lease_seconds))
        self.job_timeout = job_timeout
        self.rq_queue = Queue(name, connection=connection)
        self._prefix = f"emac:{name}:"
        self._advance_head = connection.register_script(_ADVANCE_HEAD)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisJobQueue:
        return cls(Redis.from_url(url), **options)

    def _rq_retry(self) -> Retry | None:
        if self.retry.max_attempts <= 1:
            return None
        delays = [
            math.ceil(self.retry.delay(attempt)) for attempt in range(1, self.retry.max_attempts)
        ]
        return Retry(max=self.retry.max_attempts - 1, interval=delays)

    def _head_key(self, repo: str, pr_number: int) -> str:
        return f"{self._prefix}head:{repo}#{pr_number}"

    def accept_delivery(
        self, delivery_id: str, event: str, action: str | None, jobs: Sequence[Job]
    ) -> DeliveryOutcome:
        key = f"{self._prefix}delivery:{delivery_id}"
        if self.connection.exists(key):
            return DeliveryOutcome(duplicate=True, enqueued=0)
        # Jobs first, then the delivery mark: a crash in between loses nothing, because a
        # redelivery enqueues again and the jobs' idempotency keys drop the copies.
        enqueued = sum(self.enqueue(job) for job in jobs)
        if not self.connection.set(key, event, nx=True, ex=KEY_TTL_SECONDS):
            return DeliveryOutcome(duplicate=True, enqueued=0)
        return DeliveryOutcome(duplicate=False, enqueued=enqueued)

    def enqueue(self, job: Job) -> bool:
        idem = f"{self._prefix}idem:{job.idempotency_key}"
        with self.connection.pipeline() as pipe:
            try:
                pipe.watch(idem)  # type: ignore[no-untyped-call]
                if pipe.exists(idem):
                    return False
                pipe.multi()
                pipe.set(idem, job.job_id, ex=KEY_TTL_SECONDS)
                if job.advances_head and job.pr_number is not None:
                    self._advance_head(
                        keys=[self._head_key(job.repo, job.pr_number)],
                        args=[job.head_sha or "", job.head_updated_at or "", KEY_TTL_SECONDS],
                        client=pipe,
                    )
                self.rq_queue.enqueue_call(
                    func=PERFORM,
                    args=(job.to_json(),),
                    job_id=job.job_id,
                    timeout=self.job_timeout,
                    result_ttl=KEY_TTL_SECONDS,
                    failure_ttl=KEY_TTL_SECONDS,
                    retry=self._rq_retry(),
                    meta={"attempts": 0},
                    # Merge-queue checks jump the line so they never wait behind reviews.
                    at_front=job.kind is JobKind.MERGE_GROUP,
                    pipeline=pipe,
                )
                pipe.execute()
            except WatchError:
                return False  # an equal job was enqueued between our check and our write
        return True

    def newest_head(self, repo: str, pr_number: int) -> str | None:
        value = self.connection.hget(self._head_key(repo, pr_number), "sha")
        return None if value is None else cast(bytes, value).decode()

    def is_current(self, job: Job) -> bool:
        """False when a newer head of the job's PR is known: its results must not be posted."""
        if job.pr_number is None:
            return True
        return is_current_head(job, self.newest_head(job.repo, job.pr_number))

    def requeue_expired(self) -> int:
        """The reconciler: started jobs whose lease ran out (their worker died) are retried."""
        registry = StartedJobRegistry(queue=self.rq_queue)
        expired = registry.get_expired_job_ids()
        registry.cleanup()
        return len(expired)

    def dead_letters(self) -> list[DeadLetter]:
        registry = FailedJobRegistry(queue=self.rq_queue)
        letters = []
        for job_id in registry.get_job_ids():
            try:
                rq_job = RQJob.fetch(job_id, connection=self.connection)
            except NoSuchJobError:
                continue
            result = rq_job.latest_result()
            error = rq_job.meta.get("last_error") or (result.exc_string if result else "") or ""
            letters.append(
                DeadLetter(
                    Job.from_json(rq_job.args[0]), int(rq_job.meta.get("attempts", 0)), error
                )
            )
        return letters

    def counts(self) -> dict[str, int]:
        scheduled = ScheduledJobRegistry(queue=self.rq_queue)  # type: ignore[no-untyped-call]
        return {
            "pending": self.rq_queue.count + scheduled.count,
            # Dequeued but not yet registered as started: in RQ's intermediate list.
            "running": StartedJobRegistry(queue=self.rq_queue).count
            + int(self.connection.llen(self.rq_queue.intermediate_queue_key)),
            "done": FinishedJobRegistry(queue=self.rq_queue).count,
            "dead": FailedJobRegistry(queue=self.rq_queue).count,
        }

    def ping(self) -> bool:
        try:
            return bool(self.connection.ping())
        except RedisError:
            return False

    def rq_worker(self, *, stop_event: threading.Event, worker_name: str) -> SimpleWorker:
        """An RQ worker on this queue that stops when `stop_event` is set."""
        return _EmacRQWorker(
            [self.rq_queue],
            name=worker_name.replace(":", "-"),
            connection=self.connection,
            lease_seconds=self.lease_seconds,
            stop_event=stop_event,
            # Maintenance promotes due retries and reaps dead workers' jobs: keep it frequent.
            maintenance_interval=max(1, min(self.lease_seconds, 5)),
            worker_ttl=max(60, 2 * self.lease_seconds),
        )

    def work(
        self, handler: Callable[[Job], None], *, stop_event: threading.Event, worker_name: str
    ) -> None:
        """Run one RQ worker in this thread until `stop_event` is set."""
        worker = self.rq_worker(stop_event=stop_event, worker_name=worker_name)
        _context.handler, _context.queue = handler, self
        try:
            worker.work(logging_level="WARNING")
        finally:
            _context.handler = _context.queue = None


class _EmacRQWorker(SimpleWorker):
    """An RQ worker that runs jobs in its own thread (no fork), under a short renewable lease."""

    # A timer thread, not SIGALRM: the worker may run in any thread.
    death_penalty_class = TimerDeathPenalty

    def __init__(
        self, *args: Any, lease_seconds: int, stop_event: threading.Event, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._lease_seconds = lease_seconds
        self._stop_event = stop_event
        self._scheduler = RQScheduler(self.queues, connection=self.connection)

    @property
    def dequeue_timeout(self) -> int:
        return 1  # wake every second to notice stop_event and run maintenance

    def get_heartbeat_ttl(self, job: RQJob, working_time: float = 0.0) -> int:
        return self._lease_seconds

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is threading.main_thread():
            super()._install_signal_handlers()  # type: ignore[no-untyped-call]

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[RQJob, Queue] | None:
        # RQ's own loop waits for a job forever; give up every second to look at stop_event.
        while not self._stop_event.is_set():
            found = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time=1)
            if found is not None:
                return found
        raise StopRequested()

    def subscribe(self) -> None:
        # RQ listens for commands on a pub/sub thread that blocks up to 60 s per read, and
        # redis-py ≥ 8 waits for that thread without a bound when RQ stops it at teardown:
        # a stopping worker could hang for a minute, past a container's grace period.
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]  # RQ: None
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
        )

    def check_for_suspension(self, burst: bool) -> None:
        if self._stop_event.is_set():
            raise StopRequested()
        super().check_for_suspension(burst)

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        # Retries with backoff wait in RQ's ScheduledJobRegistry; promote the due ones here
        # rather than forking RQ's scheduler process from every worker.
        due = ScheduledJobRegistry(queue=self.queues[0])  # type: ignore[no-untyped-call]
        if not due.count:
            return
        self._scheduler.acquire_locks()  # type: ignore[no-untyped-call]
        if self._scheduler.acquired_locks:
            try:
                self._scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
            finally:
                self._scheduler.release_locks()  # type: ignore[no-untyped-call]

    def execute_job(self, job: RQJob, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        _context.worker, _context.execution, _context.rq_job = self, execution, job
        _context.permanent = False
        try:
            self.perform_job(job, queue, execution)
        finally:
            _context.worker = _context.execution = _context.rq_job = None
        self.set_state(WorkerStatus.IDLE)

    def handle_job_failure(self, job: RQJob, queue: Queue, *args: Any, **kwargs: Any) -> None:
        if _context.permanent:
            job.retries_left = 0  # trying again cannot fix it: straight to the dead letters
        super().handle_job_failure(job, queue, *args, **kwargs)


class _Heartbeat:
    """Extends the running job's lease in RQ's StartedJobRegistry while the handler runs."""

    def __init__(self, worker: _EmacRQWorker, job: RQJob, execution: Execution) -> None:
        self._done = threading.Event()
        period = max(0.2, worker.get_heartbeat_ttl(job) / 3)

        def beat() -> None:
            while not self._done.wait(period):
                worker.maintain_heartbeats(job, execution)

        self._thread = threading.Thread(target=beat, daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def perform_job(job_json: str) -> str:
    """What RQ runs for each job: skip a superseded review, else call the injected handler."""
    handler, queue = _context.handler, _context.queue
    worker, execution, rq_job = _context.worker, _context.execution, _context.rq_job
    if handler is None or queue is None or worker is None or execution is None or rq_job is None:
        raise RuntimeError("emac jobs must be run by an emac worker (it injects the handler)")
    job = Job.from_json(job_json)
    rq_job.meta["attempts"] = int(rq_job.meta.get("attempts", 0)) + 1
    rq_job.save_meta()  # type: ignore[no-untyped-call]
    if not queue.is_current(job):
        return "superseded"
    try:
        with _Heartbeat(worker, rq_job, execution):
            handler(job)
    except Exception as exc:
        _context.permanent = isinstance(exc, PermanentJobError)
        rq_job.meta["last_error"] = describe_error(exc)
        rq_job.save_meta()  # type: ignore[no-untyped-call]
        raise
    return "done"
