"""Latency engine benchmark: a 1,000-leaf journey's compile time and peak memory, and p99
accuracy against a seeded 10^6-sample Monte Carlo on a few journeys.

Run: python benchmarks/latency_engine.py   (prints tables; nothing is asserted here)
"""

from __future__ import annotations

import itertools
import platform
import statistics
import time
import tracemalloc

import numpy as np

from bot.compile.latency import compile_latency, timeout_factors
from bot.compile.latency_mc import simulate_latency
from bot.spec.domain import ComponentModel, LatencyCurve, Node, OpKind, Provenance

HERE = Provenance("benchmark", 0, 0, "x")
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}
_ids = itertools.count()


def leaf(name: str, timeout: float | None = None) -> Node:
    return Node("leaf", f"n{next(_ids)}", HERE, component=name, timeout=timeout)


def op(kind: OpKind, *children: Node, **params: float | int | tuple[float, ...]) -> Node:
    return Node(kind, f"n{next(_ids)}", HERE, tuple(children), **params)  # type: ignore[arg-type]


def service(
    name: str, availability: float, p50: float, p90: float, p99: float, top: float
) -> ComponentModel:
    knots = ((0.0, 0.0), (p50, 0.5), (p90, 0.9), (p99, 0.99), (top, 1.0))
    return ComponentModel(
        name, "service", availability, HERE, frozenset(), HERE, LatencyCurve(knots, HERE)
    )


def mixed_journey(leaves: int, seed: int = 0) -> tuple[Node, dict[str, ComponentModel]]:
    """A series of groups cycling through parallel, hedged race, series, fallback with per-try
    timeout, retry with per-try timeout, weighted branch and 2-of-3 quorum."""
    rng = np.random.default_rng(seed)
    comps: dict[str, ComponentModel] = {}

    def new() -> Node:
        name = f"s{len(comps)}"
        m = float(rng.uniform(0.005, 0.05))
        a = 1.0 - 10 ** float(rng.uniform(-4, -2))
        comps[name] = service(name, a, m, 2.5 * m, 6 * m, 15 * m)
        return leaf(name)

    groups: list[Node] = []
    for i in itertools.count():
        if len(comps) >= leaves:
            break
        kind = i % 7
        if kind == 0:
            groups.append(op("parallel", *(new() for _ in range(5))))
        elif kind == 1:
            groups.append(op("race", new(), new(), new(), hedge_delay=0.02))
        elif kind == 2:
            groups.append(op("series", *(new() for _ in range(4))))
        elif kind == 3:
            groups.append(op("fallback", op("series", new(), new()), new(), timeout=0.3))
        elif kind == 4:
            groups.append(op("retry", new(), attempts=3, timeout=0.2))
        elif kind == 5:
            groups.append(op("branch", op("parallel", new(), new()), new(), weights=(0.6, 0.4)))
        else:
            groups.append(op("quorum", new(), new(), new(), required=2))
    return op("series", *groups), comps


PAPER = {
    "front": service("front", 0.9995, 0.02, 0.05, 0.1, 0.2),
    "cart": service("cart", 0.999, 0.03, 0.06, 0.12, 0.25),
    "pricing": service("pricing", 0.999, 0.01, 0.04, 0.08, 0.15),
    "paya": service("paya", 0.995, 0.05, 0.1, 0.2, 0.4),
    "payb": service("payb", 0.995, 0.06, 0.12, 0.25, 0.5),
}


def accuracy_cases() -> list[tuple[str, Node, dict[str, ComponentModel]]]:
    checkout = op(
        "series",
        leaf("front"),
        op("parallel", leaf("cart"), leaf("pricing")),
        op("race", leaf("paya"), leaf("payb")),
    )
    hedged = op("series", leaf("front"), op("race", leaf("paya"), leaf("payb"), hedge_delay=0.1))
    retry = op("series", leaf("front"), op("retry", leaf("paya"), attempts=3, timeout=0.15))
    fallback = op(
        "fallback", op("series", leaf("cart"), leaf("paya", timeout=0.2)), leaf("payb"), timeout=0.3
    )
    quorum = op(
        "branch",
        leaf("front"),
        op("quorum", leaf("cart"), leaf("paya"), leaf("payb"), required=2),
        weights=(0.7, 0.3),
    )
    twenty = mixed_journey(20, seed=3)
    return [
        ("checkout series/parallel/race", checkout, PAPER),
        ("hedged race (100 ms)", hedged, PAPER),
        ("retry x3, per-try 150 ms", retry, PAPER),
        ("fallback with timeouts", fallback, PAPER),
        ("branch into 2-of-3 quorum", quorum, PAPER),
        ("20-leaf mixed journey", *twenty),
    ]


def timing(leaves: int) -> None:
    root, comps = mixed_journey(leaves)
    compile_latency(root, comps, QUANTILES)  # warm-up: numpy's FFT plans, imports
    runs, cpu = [], []
    for _ in range(5):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = compile_latency(root, comps, QUANTILES)
        runs.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    start = time.perf_counter()
    factors = timeout_factors(root, comps)
    factor_time = time.perf_counter() - start
    tracemalloc.start()
    compile_latency(root, comps, QUANTILES)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result is not None
    p99 = result["p99"]
    print(f"{len(root.leaves())} leaves, {len(root.walk())} nodes, {len(factors)} timeouts")
    print(
        f"  compile_latency: median {statistics.median(runs):.3f} s "
        f"(min {min(runs):.3f}, max {max(runs):.3f}), CPU median {statistics.median(cpu):.3f} s; "
        f"timeout_factors {factor_time:.3f} s"
    )
    print(f"  peak traced memory {peak / 2**20:.1f} MiB")
    print(
        f"  p99 estimate {p99.estimate:.3f} s, bracket [{p99.bracket[0]:.3f}, "
        f"{p99.bracket[1]:.3f}], upper {p99.upper:.3f} s"
    )


def accuracy(samples: int) -> None:
    print(f"\np99 against a seeded {samples:,}-sample Monte Carlo (seconds)")
    header = (
        f"{'journey':32} {'estimate':>9} {'MC':>9} {'rel.err':>8} {'bracket':>8} "
        f"{'upper':>8} {'MC como.':>9} {'MC time':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, root, comps in accuracy_cases():
        bound = compile_latency(root, comps, QUANTILES)
        assert bound is not None
        p99 = bound["p99"]
        rng = np.random.default_rng(20240601)
        start = time.perf_counter()
        independent = simulate_latency(root, comps, samples, rng)
        mc_time = time.perf_counter() - start
        comonotone = simulate_latency(root, comps, samples, rng, coupling="comonotone")
        mc = float(np.quantile(independent, 0.99))
        como = float(np.quantile(comonotone, 0.99))
        width = (p99.bracket[1] - p99.bracket[0]) / p99.estimate
        print(
            f"{name:32} {p99.estimate:9.4f} {mc:9.4f} {(p99.estimate - mc) / mc:+8.2%} "
            f"{width:8.2%} {p99.upper:8.4f} {como:9.4f} {mc_time:7.2f}s"
        )


def main() -> None:
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    timing(1000)
    accuracy(10**6)


if __name__ == "__main__":
    main()
