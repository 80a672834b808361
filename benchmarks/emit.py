"""Benchmark: emit every artifact for 100 journeys of 50 leaves each.

Each generated journey is a series of five groups of ten leaves (parallel, hedged race,
fallback, weighted branch, parallel), with journey SLI queries, a latency objective, Argo
progressive delivery, leaf latency evidence and ten leaves backed by OpenSLO ratio SLOs (so
leaf alerts are emitted too). Compiling happens once, outside the timer; the timer covers
`all_artifacts` (recording rules, alerts, leaf alerts, Argo templates, action guards,
derivation reports, all serialised to YAML). Goal: ≤ 2 s, best of 3.

    python benchmarks/emit.py [--journeys 100] [--leaves 50] [--runs 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import time

from specgen import SLO_TEMPLATE, governance, group_step, machine

from bot.compile.pipeline import compile_texts
from bot.emit.artifacts import all_artifacts

GOAL_SECONDS = 2.0
GROUP = 10
KINDS = ("parallel", "race", "fallback", "branch")
SLO_EVERY = 5  # every fifth leaf is backed by an OpenSLO ratio SLO

HEADER = """\
apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata:
  name: {name}
spec:
  objectives:
    availability:
      window: 30d
      target: 0.95
      sli:
        goodEventQuery: sum(rate(journey_requests_total{{journey="{name}",result="ok"}}[5m]))
        totalEventQuery: sum(rate(journey_requests_total{{journey="{name}"}}[5m]))
    latency:
      window: 30d
      objective: {{metric: p99, threshold: 5}}
  operator:
    type: series
    steps:
"""
FOOTER = """\
  failureDomains:
    rules: [{name: zone-1}, {name: zone-2}, {name: zone-3}]
"""


def _component(name: str, index: int, rng: random.Random) -> tuple[str, str]:
    """The component block and, for SLO-backed leaves, its OpenSLO document."""
    slo = ""
    if index % SLO_EVERY == 0:
        availability = f'atomicSLORef: "openslo:{name}-success"'
        slo = "---\n" + SLO_TEMPLATE.format(
            slo=f"{name}-success", component=name, target=rng.uniform(0.999, 0.9999)
        )
    else:
        availability = f"availability: {round(rng.uniform(0.995, 0.99999), 5)}"
    p50 = round(rng.uniform(0.002, 0.02), 4)
    block = (
        f"    {name}:\n      {availability}\n      failureDomains: [zone-{rng.randint(1, 3)}]\n"
        f"      latency:\n        percentiles: {{p50: {p50}, p90: {round(p50 * 2.5, 4)}, "
        f"p99: {round(p50 * 6, 4)}}}\n        max: {round(p50 * 12, 4)}\n"
    )
    return block, slo


def journey_text(journey: int, leaves: int, seed: int = 11) -> str:
    """One journey's spec with its OpenSLO SLOs, as one multi-document YAML file."""
    rng = random.Random(seed * 1000 + journey)
    name = f"j{journey:03d}"
    steps, blocks, slos = [], [], []
    for g in range(leaves // GROUP):
        kind = "parallel" if g == leaves // GROUP - 1 else KINDS[g % len(KINDS)]
        names = [f"{name}-s{g}-{i}" for i in range(GROUP)]
        for i, leaf in enumerate(names):
            block, slo = _component(leaf, g * GROUP + i, rng)
            blocks.append(block)
            slos.append(slo)
        steps.append(group_step(kind, names, hedged=True))
    return (
        HEADER.format(name=name)
        + "".join(steps)
        + "  components:\n"
        + "".join(blocks)
        + FOOTER
        + governance(max_p99_seconds=5)
        + "".join(slos)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=100)
    parser.add_argument("--leaves", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top 25")
    args = parser.parse_args()
    print(machine())
    files = {
        f"journeys/j{j:03d}/spec.yaml": journey_text(j, args.leaves) for j in range(args.journeys)
    }
    start = time.perf_counter()
    journeys = compile_texts(files)
    compiled = time.perf_counter() - start
    print(
        f"compiled {len(journeys)} journeys × {args.leaves} leaves in {compiled:.1f} s "
        "(not timed below)"
    )
    times: list[float] = []
    artifacts: dict[str, str] = {}
    for _ in range(args.runs):
        start = time.perf_counter()
        artifacts = all_artifacts(journeys)
        times.append(time.perf_counter() - start)
    size = sum(len(text.encode()) for text in artifacts.values())
    print(f"artifacts: {len(artifacts)} files, {size / 1e6:.1f} MB")
    best = min(times)
    verdict = "met" if best <= GOAL_SECONDS else "MISSED"
    runs = ", ".join(f"{t:.3f}" for t in times)
    print(
        f"all_artifacts: best {best:.3f} s of {args.runs} ({runs}); "
        f"goal ≤ {GOAL_SECONDS} s: {verdict}"
    )
    if args.profile or best > GOAL_SECONDS:
        profile = cProfile.Profile()
        profile.runcall(all_artifacts, journeys)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
