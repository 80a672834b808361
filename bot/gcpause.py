"""Pause the cyclic garbage collector around allocation-heavy, acyclic work."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def without_gc(fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` with the cyclic garbage collector paused.

    A large spec allocates hundreds of thousands of small, acyclic objects (YAML nodes, marks,
    model nodes); the collector's generational passes over them cost as much as the compile
    itself (0.9 s of 2.2 s on a 10,000-leaf journey). Reference counting still frees them;
    the collector resumes afterwards.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()

    return wrapper
