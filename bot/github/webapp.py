"""Serve the webhook app with gunicorn from inside `emac serve` (no separate config file)."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from bot.github.webhook import app_from_env


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
