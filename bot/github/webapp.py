"""Serve the webhook app with gunicorn from inside `emac serve` (no separate config file),
with the job worker beside it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from typing import Any

from gunicorn.app.base import BaseApplication

from bot.github.webhook import app_from_env

log = logging.getLogger(__name__)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return app_from_env()


def run_gunicorn(bind: str, workers: int, threads: int) -> None:
    """Blocks until gunicorn stops (SIGTERM/SIGINT)."""
    _Gunicorn(
        {
            "bind": bind,
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": "-",
            "timeout": 30,
        }
    ).run()


def serve_with_worker(
    bind: str, workers: int, threads: int, worker_command: Sequence[str] | None
) -> int:
    """gunicorn in this process and, unless `worker_command` is None, a job worker beside it;
    the exit status. A worker that exits on its own stops the service too (status 1): the
    deliveries stay queued, and whatever supervises `emac serve` restarts both, where a service
    left running would keep acknowledging deliveries that nobody processes."""
    master = os.getpid()
    stopping = threading.Event()
    worker_lost = threading.Event()
    worker = subprocess.Popen(list(worker_command)) if worker_command is not None else None

    def watch(process: subprocess.Popen[bytes]) -> None:
        # The arbiter reaps every child it sees exit, this one too (`wait` then reports 0):
        # only that the worker is gone is known for certain, not its status.
        process.wait()
        if stopping.is_set():
            return
        log.error("the job worker (pid %d) exited: stopping the service with it", process.pid)
        worker_lost.set()
        os.kill(master, signal.SIGTERM)  # the arbiter stops gracefully

    if worker is not None:
        threading.Thread(
            target=watch, args=(worker,), name="emac-worker-watch", daemon=True
        ).start()
    status = 0
    try:
        run_gunicorn(bind, workers, threads)
    except SystemExit as exc:  # the arbiter leaves by sys.exit
        if os.getpid() != master:
            # A gunicorn worker: forked inside run_gunicorn, it leaves through these frames
            # too, and must not touch the job worker (its copy of the Popen may even hold the
            # watcher's lock, taken at fork time, forever).
            raise
        status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        if os.getpid() == master:
            stopping.set()
            if worker is not None:
                _stop_process(worker)
    return 1 if worker_lost.is_set() else status


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
