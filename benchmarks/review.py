"""Benchmark: review a 5-file pull request in a 200-file repository with 20 journeys.

Builds a throwaway git repository: 20 journey specs (10 leaves each: parallel, hedged race,
retried fallback, weighted branch and a best-effort step, every leaf with latency evidence),
80 OpenSLO SLOs, and 100 files of unrelated YAML and Markdown. The pull request changes a
journey's objective target, an OpenSLO target and a journey's failure domains (pointing one
leaf at a new SLO), edits a doc and adds the new SLO. Times `review_revisions` end to end
(git reads, parsing both trees, compiling the affected journeys at base and head, diffing,
regenerating their artifacts). Goal: ≤ 3 s, best of 3.

    python benchmarks/review.py [--runs 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import re
import tempfile
import time
from pathlib import Path

import git
from specgen import SLO_TEMPLATE, governance, machine

from bot.review.pipeline import review_revisions

JOURNEYS = 20
GOAL_SECONDS = 3.0
AUTHOR = git.Actor("EmaC benchmark", "bench@emac.invalid")
SLO_LEAVES = ("api", "search", "db-a", "pay-x")

SPEC = """\
apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata:
  name: {name}
spec:
  objectives:
    availability:
      window: 30d
      target: {target}
      sli:
        goodEventQuery: sum(rate(journey_requests_total{{journey="{name}",result="ok"}}[5m]))
        totalEventQuery: sum(rate(journey_requests_total{{journey="{name}"}}[5m]))
    latency:
      window: 30d
      objective: {{metric: p99, threshold: 2.5}}
  operator:
    type: series
    steps:
      - ref: {name}-edge
        timeout: 3s
      - type: parallel
        join: all
        branches:
          - ref: {name}-api
          - ref: {name}-search
      - type: race
        semantics: hedged
        hedgeDelay: 30ms
        branches:
          - ref: {name}-cache-a
          - ref: {name}-cache-b
      - type: retry
        attempts: 2
        retryOn: ["503"]
        target:
          type: fallback
          perTryTimeout: 500ms
          alternatives:
            - ref: {name}-db-a
            - ref: {name}-db-b
      - type: branch
        routes:
          - weight: 0.7
            target: {{ref: {name}-pay-x}}
          - weight: 0.3
            target: {{ref: {name}-pay-y}}
      - type: optional
        target: {{ref: {name}-audit}}
  components:
{components}  failureDomains:
    rules:
      - {{name: zone-1, kind: inferred, source: kubernetes, key: topology.kubernetes.io/zone}}
      - {{name: zone-2, kind: inferred, source: kubernetes, key: topology.kubernetes.io/zone}}
      - {{name: zone-3, kind: inferred, source: kubernetes, key: topology.kubernetes.io/zone}}
      - {{name: db-cluster, kind: declared, description: both databases share one cluster}}
"""


def _component(name: str, leaf: str, rng: random.Random) -> str:
    comp = f"{name}-{leaf}"
    if leaf in SLO_LEAVES:
        availability = f'atomicSLORef: "openslo:{comp}-success"'
    else:
        availability = f"availability: {round(rng.uniform(0.998, 0.99999), 5)}"
    domain = "db-cluster" if leaf.startswith("db-") else f"zone-{rng.randint(1, 3)}"
    p50 = round(rng.uniform(0.002, 0.03), 4)
    return (
        f"    {comp}:\n"
        f"      {availability}\n"
        f"      failureDomains: [{domain}]\n"
        f"      latency:\n"
        f"        percentiles: {{p50: {p50}, p90: {round(p50 * 2.5, 4)}, "
        f"p99: {round(p50 * 6, 4)}}}\n"
        f"        max: {round(p50 * 12, 4)}\n"
    )


def journey_files(index: int, rng: random.Random) -> dict[str, str]:
    """One journey's spec and its four OpenSLO SLOs, by repository path."""
    name = f"journey-{index:02d}"
    leaves = ["edge", "api", "search", "cache-a", "cache-b", "db-a", "db-b", "pay-x", "pay-y"]
    components = "".join(_component(name, leaf, rng) for leaf in [*leaves, "audit"])
    files = {
        f"journeys/{name}/spec.yaml": SPEC.format(name=name, target=0.99, components=components)
        + governance(max_p99_seconds=2.5)
    }
    for leaf in SLO_LEAVES:
        comp = f"{name}-{leaf}"
        files[f"journeys/{name}/slos/{leaf}.yaml"] = SLO_TEMPLATE.format(
            slo=f"{comp}-success", component=comp, target=round(rng.uniform(0.999, 0.9999), 5)
        )
    return files


def noise_files(rng: random.Random) -> dict[str, str]:
    """100 files a real repository also holds: deploy values, workflows, configs, docs."""
    files: dict[str, str] = {}
    for i in range(JOURNEYS):
        files[f"deploy/journey-{i:02d}/values.yaml"] = (
            f"replicaCount: {rng.randint(2, 6)}\nimage:\n  repository: shop/journey-{i:02d}\n"
            f"  tag: v1.{rng.randint(0, 40)}.0\n"
            "resources:\n  limits: {cpu: 500m, memory: 256Mi}\n"
        )
        files[f"docs/journey-{i:02d}.md"] = (
            f"# Journey {i:02d}\n\nOwners: team-{i % 5}.\n\nThe journey's spec lives in "
            f"`journeys/journey-{i:02d}/spec.yaml`.\n"
        )
        files[f"docs/runbooks/journey-{i:02d}.md"] = (
            f"# Runbook: journey {i:02d}\n\n1. Check the burn-rate alert.\n2. Roll back.\n"
        )
    for i in range(10):
        files[f".github/workflows/job-{i}.yaml"] = (
            f"name: job-{i}\non: [push]\njobs:\n  run:\n    runs-on: ubuntu-latest\n"
            f"    steps:\n      - uses: actions/checkout@v4\n      - run: make target-{i}\n"
        )
    for i in range(30):
        files[f"config/service-{i:02d}.yaml"] = (
            f"service: svc-{i}\ntimeouts: {{connect: 1s, read: {rng.randint(2, 9)}s}}\n"
            f"features: [{', '.join(f'flag-{k}' for k in range(rng.randint(1, 5)))}]\n"
        )
    return files


def _write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def _commit(repo: git.Repo, message: str) -> str:
    repo.git.add(A=True)
    date = "2026-03-02T12:00:00"
    return repo.index.commit(
        message, author=AUTHOR, committer=AUTHOR, author_date=date, commit_date=date
    ).hexsha


def _replace(root: Path, path: str, old: str, new: str) -> None:
    file = root / path
    text = file.read_text()
    if old not in text:
        raise RuntimeError(f"generated {path} has no '{old}'")
    file.write_text(text.replace(old, new, 1))


def build_repo(root: Path) -> tuple[str, str, int]:
    """The repository at base, then the pull request's 5-file commit; (base, head, file count)."""
    rng = random.Random(20260302)
    repo = git.Repo.init(root, initial_branch="main")
    files: dict[str, str] = {}
    for i in range(JOURNEYS):
        files.update(journey_files(i, rng))
    files.update(noise_files(rng))
    _write(root, files)
    base = _commit(repo, "Twenty journeys")
    # 1. an objective target, 2. an OpenSLO target, 3. failure domains and a new SLO reference,
    # 4. a doc, 5. the new SLO.
    _replace(root, "journeys/journey-03/spec.yaml", "target: 0.99\n", "target: 0.995\n")
    _replace(root, "journeys/journey-11/slos/api.yaml", "      target: 0.99", "      target: 0.999")
    spec7 = "journeys/journey-07/spec.yaml"
    text = (root / spec7).read_text()
    pay_y = re.compile(r"(    journey-07-pay-y:\n)      availability: [0-9.]+\n")
    (root / spec7).write_text(
        pay_y.sub(r'\1      atomicSLORef: "openslo:journey-07-pay-y-success"\n', text, count=1)
    )
    _replace(root, spec7, "failureDomains: [db-cluster]", "failureDomains: [zone-2]")
    _replace(root, "docs/journey-07.md", "Owners: team-2.", "Owners: team-2 and payments.")
    _write(
        root,
        {
            "journeys/journey-07/slos/pay-y.yaml": SLO_TEMPLATE.format(
                slo="journey-07-pay-y-success", component="journey-07-pay-y", target=0.9985
            )
        },
    )
    head = _commit(repo, "Tighter targets, split the databases, pay-y gets an SLO")
    changed = len(repo.commit(head).diff(base))
    if changed != 5:
        raise RuntimeError(f"the pull request should touch 5 files, it touches {changed}")
    return base, head, len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top 20")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="emac-bench-review-") as tmp:
        root = Path(tmp) / "repo"
        base, head, count = build_repo(root)
        times: list[float] = []
        result = None
        for _ in range(args.runs):
            start = time.perf_counter()
            result = review_revisions(str(root), base, head)
            times.append(time.perf_counter() - start)
        assert result is not None
        print(
            f"repository: {count} files, {JOURNEYS} journeys; pull request: "
            f"{len(result.changed_files)} files changed"
        )
        print(
            "affected: "
            + ", ".join(f"{j.name} {j.decision}" for j in result.journeys)
            + f"; {len(result.stale_artifacts)} artifacts regenerated; verdict {result.decision}"
        )
        best = min(times)
        verdict = "met" if best <= GOAL_SECONDS else "MISSED"
        runs = ", ".join(f"{t:.3f}" for t in times)
        print(
            f"review_revisions: best {best:.3f} s of {args.runs} ({runs}); "
            f"goal ≤ {GOAL_SECONDS} s: {verdict}"
        )
        if args.profile or best > GOAL_SECONDS:
            profile = cProfile.Profile()
            profile.runcall(review_revisions, str(root), base, head)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(20)


if __name__ == "__main__":
    main()
