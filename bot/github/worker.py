"""The job worker: claim → run the injected handler → complete, retry with backoff, dead-letter."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from types import FrameType

from bot.github.events import Job
from bot.github.queue import ClaimingQueue, JobQueue, SelfWorkingQueue, open_queue
from bot.github.settings import Settings, load_settings

log = logging.getLogger(__name__)

Handler = Callable[[Job], None]


class PermanentJobError(Exception):
    """A failure that trying again cannot fix: the job is dead-lettered at once."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def describe_error(exc: BaseException) -> str:
    """The recorded error: exception type, message and the innermost frame that raised it."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


class _LeaseKeeper:
    """Extends a claimed job's lease while the handler runs, so a long job is not taken back."""

    def __init__(self, queue: ClaimingQueue, job_id: str, worker_id: str, lease: float) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(queue, job_id, worker_id, lease), daemon=True
        )

    def _run(self, queue: ClaimingQueue, job_id: str, worker_id: str, lease: float) -> None:
        while not self._done.wait(lease / 3):
            if not queue.extend_lease(job_id, worker_id, lease):
                log.warning("job %s: lease lost; another worker may run it too", job_id)
                return

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def run_one(queue: ClaimingQueue, handler: Handler, job: Job, worker_id: str, lease: float) -> bool:
    """Run one claimed job to an outcome recorded in the queue; True when it succeeded."""
    try:
        with _LeaseKeeper(queue, job.job_id, worker_id, lease):
            handler(job)
    except PermanentJobError as exc:
        log.error("job %s (%s) failed permanently: %s", job.job_id, job.trigger, exc)
        queue.fail(job.job_id, describe_error(exc), retry=False)
        return False
    except Exception as exc:
        log.warning("job %s (%s) failed, will retry: %s", job.job_id, job.trigger, exc)
        queue.fail(job.job_id, describe_error(exc), retry=True)
        return False
    queue.complete(job.job_id)
    return True


def run_worker(
    queue: JobQueue,
    handler: Handler,
    *,
    stop_event: threading.Event,
    worker_id: str | None = None,
    lease_seconds: float = 300.0,
    poll_seconds: float = 0.5,
    reconcile_seconds: float | None = None,
) -> None:
    """Process jobs until `stop_event` is set. Every worker also runs the reconciler, so jobs
    of a worker that died come back without a separate process."""
    worker_id = worker_id or default_worker_id()
    if isinstance(queue, SelfWorkingQueue):
        queue.work(handler, stop_event=stop_event, worker_name=worker_id)
        return
    if not isinstance(queue, ClaimingQueue):
        raise TypeError(f"{type(queue).__name__} can neither hand out jobs nor run workers")
    reconcile_every = reconcile_seconds if reconcile_seconds is not None else lease_seconds / 2
    next_reconcile = 0.0
    while not stop_event.is_set():
        if time.monotonic() >= next_reconcile:
            if returned := queue.requeue_expired():
                log.warning("reconciler: %d job(s) of stopped workers requeued", returned)
            next_reconcile = time.monotonic() + reconcile_every
        job = queue.claim(worker_id, lease_seconds)
        if job is None:
            stop_event.wait(poll_seconds)
            continue
        run_one(queue, handler, job, worker_id, lease_seconds)


def load_handler(dotted: str) -> Handler:
    """`package.module:function` → the function."""
    module_name, _, attribute = dotted.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"handler must look like package.module:function, found {dotted!r}")
    handler: Handler = getattr(importlib.import_module(module_name), attribute)
    return handler


def serve(
    settings: Settings, handler: Handler, *, stop_event: threading.Event | None = None
) -> None:
    """Run one worker process against the configured queue until SIGTERM or SIGINT."""
    stop = stop_event or threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("worker: signal %d, finishing the current job then stopping", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    run_worker(open_queue(settings), handler, stop_event=stop, lease_seconds=settings.lease_seconds)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run an emac job worker.")
    parser.add_argument("--handler", required=True, help="package.module:function to run per job")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    serve(load_settings(os.environ), load_handler(args.handler))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
