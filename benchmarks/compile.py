"""Compile-time benchmark: large generated journeys, peak memory, and p99 accuracy vs Monte Carlo.

Run: python benchmarks/compile.py   (prints a table; nothing is asserted here)
"""

from __future__ import annotations

import platform
import random
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from specgen import group_step  # benchmarks/ is on sys.path when run as a script

from bot.compile.latency_mc import simulate_latency
from bot.compile.pipeline import compile_model, compile_paths, compile_texts, models_from_documents
from bot.spec.loader import parse_texts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _leaf_block(name: str, rng: random.Random, latency: bool) -> str:
    a = round(rng.uniform(0.995, 0.99999), 5)
    text = (
        f"    {name}:\n      availability: {a}\n      failureDomains: [zone-{rng.randint(1, 3)}]\n"
    )
    if latency:
        p50 = round(rng.uniform(0.002, 0.02), 4)
        text += (
            f"      latency:\n        percentiles: {{p50: {p50}, p90: {round(p50 * 2.5, 4)}, "
            f"p99: {round(p50 * 6, 4)}}}\n        max: {round(p50 * 12, 4)}\n"
        )
    return text


def generated_spec(leaves: int, *, latency: bool, group: int = 10, seed: int = 7) -> str:
    """A series of groups; each group is a parallel, race, fallback or branch of `group` leaves."""
    rng = random.Random(seed)
    steps, comps = [], []
    kinds = ["parallel", "race", "fallback", "branch"]
    for g in range(leaves // group):
        kind = kinds[g % len(kinds)]
        names = [f"s{g}-{i}" for i in range(group)]
        comps += [_leaf_block(n, rng, latency) for n in names]
        steps.append(group_step(kind, names))
    objective = "    latency:\n      objective: {metric: p99, threshold: 5}\n" if latency else ""
    return (
        "apiVersion: emac.dev/v1alpha1\nkind: JourneyIntent\nmetadata:\n  name: big\nspec:\n"
        "  objectives:\n    availability:\n      target: 0.99\n"
        + objective
        + "  operator:\n    type: series\n    steps:\n"
        + "".join(steps)
        + "  components:\n"
        + "".join(comps)
        + "  failureDomains:\n    rules: [{name: zone-1}, {name: zone-2}, {name: zone-3}]\n"
    )


def best_of(fn: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_mib(fn: Callable[[], object]) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def compile_text(text: str) -> None:
    """What `emac compile` does for one spec file: parse, build, compile."""
    (_journey,) = compile_texts({"big.yaml": text})


def main() -> None:
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"python {platform.python_version()}, numpy {np.__version__}"
    )
    print("\n| case | leaves | compile (best of 3) | peak memory (tracemalloc) |")
    print("|---|---|---|---|")
    for label, leaves, latency in [
        ("with latency", 1000, True),
        ("availability only", 10_000, False),
    ]:
        text = generated_spec(leaves, latency=latency)
        seconds = best_of(lambda text=text: compile_text(text))
        mib = peak_mib(lambda text=text: compile_text(text))
        print(f"| {label} | {leaves} | {seconds:.3f} s | {mib:.1f} MiB |")

    print(
        "\n| journey | p99 estimate | bracket | MC p99 (10^6, independent) | rel. error |"
        " upper | MC p99 comonotone |"
    )
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(20261203)
    for path in ["journeys/feed", "journeys/search"]:
        (cj,) = compile_paths([FIXTURES / path])
        assert cj.latency is not None
        q = cj.latency["p99"]
        model = cj.model
        ind = np.quantile(simulate_latency(model.root, model.components, 1_000_000, rng), 0.99)
        com = np.quantile(
            simulate_latency(model.root, model.components, 1_000_000, rng, coupling="comonotone"),
            0.99,
        )
        print(
            f"| {model.name} | {q.estimate:.4f} s | [{q.bracket[0]:.4f}, {q.bracket[1]:.4f}] "
            f"| {ind:.4f} s | {abs(q.estimate - ind) / ind:.2%} | {q.upper:.4f} s | {com:.4f} s |"
        )
    big = generated_spec(1000, latency=True)
    (model,) = models_from_documents(parse_texts({"big.yaml": big}))
    cj = compile_model(model)
    assert cj.latency is not None
    q = cj.latency["p99"]
    ind = np.quantile(simulate_latency(model.root, model.components, 200_000, rng), 0.99)
    print(
        f"| generated 1,000 leaves (MC 2·10^5) | {q.estimate:.4f} s | [{q.bracket[0]:.4f}, "
        f"{q.bracket[1]:.4f}] | {ind:.4f} s | {abs(q.estimate - ind) / ind:.2%} | "
        f"{q.upper:.4f} s | — |"
    )


if __name__ == "__main__":
    main()
