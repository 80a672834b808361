"""Seeded Monte Carlo reference for journey latency: simulate requests, keep successful journeys.

It follows the operator semantics documented in `bot.compile.latency` sample by sample, so it
checks the grid engine independently. Couplings: "independent" draws every leaf occurrence and
every attempt on its own; "comonotone" drives every leaf latency by one shared uniform per journey
(the strongest positive dependence). Success coin flips are independent in both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from bot.compile.latency_estimate import retriable_share
from bot.compile.latency_grid import Knots
from bot.spec.domain import ComponentModel, Node

Coupling = Literal["independent", "comonotone"]
Bools = NDArray[np.bool_]
Floats = NDArray[np.float64]


def simulate_latency(
    root: Node,
    components: Mapping[str, ComponentModel],
    n: int,
    rng: np.random.Generator,
    coupling: Coupling = "independent",
) -> Floats:
    """Latencies (seconds) of the successful journeys among n simulated ones."""
    shared = rng.random(n) if coupling == "comonotone" else None
    ok, t = _Simulation(components, n, rng, shared).run(root)
    result: Floats = t[ok]
    return result


@dataclass
class _Simulation:
    components: Mapping[str, ComponentModel]
    n: int
    rng: np.random.Generator
    shared: Floats | None

    def run(self, node: Node) -> tuple[Bools, Floats]:
        """(succeeded, latency) of every sample for one evaluation of the subtree."""
        n, op = self.n, node.op
        if op == "leaf":
            return self._leaf(node)
        if op == "async":
            return np.ones(n, dtype=bool), np.zeros(n)
        if op == "optional":
            return np.ones(n, dtype=bool), self.run(node.children[0])[1]
        if op == "fallback":
            return self._sequence(
                [node.children[i] for i in range(len(node.children))], node.timeout, 1.0
            )
        if op == "retry":
            return self._sequence(
                [node.children[0]] * node.attempts,
                node.timeout,
                retriable_share(node, self.components),
            )
        runs = [self.run(child) for child in node.children]
        oks = np.stack([r[0] for r in runs])
        ts = np.stack([r[1] for r in runs])
        every: Bools = np.all(oks, axis=0)
        if op == "series":  # stops at the first failing step
            reached = np.vstack([np.ones((1, n), dtype=bool), np.cumprod(oks, axis=0)[:-1] > 0])
            return every, (ts * reached).sum(axis=0)
        if op == "parallel":
            return every, ts.max(axis=0)
        if op == "race":
            ts = ts + node.hedge_delay * np.arange(len(runs))[:, None]
            ok: Bools = np.any(oks, axis=0)
            return ok, np.where(ok, np.where(oks, ts, np.inf).min(axis=0), ts.max(axis=0))
        if op == "branch":
            w = np.asarray(node.weights, dtype=np.float64)
            pick = self.rng.choice(len(runs), size=n, p=w / w.sum())
            cols = np.arange(n)
            return oks[pick, cols], ts[pick, cols]
        if op == "quorum":
            k = node.required
            ok = oks.sum(axis=0) >= k
            kth = np.partition(np.where(oks, ts, np.inf), k - 1, axis=0)[k - 1]
            return ok, np.where(ok, kth, ts.max(axis=0))
        raise ValueError(f"unknown operator {op}")

    def _leaf(self, node: Node) -> tuple[Bools, Floats]:
        comp = self.components[node.component or ""]
        ok = self.rng.random(self.n) < comp.availability
        if comp.latency is None:
            return ok, np.zeros(self.n)
        u = self.shared if self.shared is not None else self.rng.random(self.n)
        t = Knots.of(comp.latency).quantiles(u)  # inverse-transform sampling
        if node.timeout is not None:
            ok &= t <= node.timeout
            t = np.minimum(t, node.timeout)
        return ok, t

    def _sequence(
        self, attempts: list[Node], timeout: float | None, share: float
    ) -> tuple[Bools, Floats]:
        """Attempts in order until one succeeds; a failure goes on with probability `share`."""
        n = self.n
        total = np.zeros(n)
        ok = np.zeros(n, dtype=bool)
        stopped = np.zeros(n, dtype=bool)
        for node in attempts:
            attempt_ok, t = self.run(node)
            if timeout is not None:
                attempt_ok = attempt_ok & (t <= timeout)
                t = np.minimum(t, timeout)
            total += np.where(stopped, 0.0, t)
            ok |= ~stopped & attempt_ok
            retried = self.rng.random(n) < share
            stopped |= attempt_ok | ~retried
        return ok, total
