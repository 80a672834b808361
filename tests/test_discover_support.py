"""Builders for the discovery tests: the fixture paths, the CLI parser and a fixed clock."""

from __future__ import annotations

import argparse
import shutil
from datetime import UTC, datetime
from pathlib import Path

from bot.discover.commands import DiscoverRun, discover_files, register

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
NETWORKING = REFERENCE / "istio" / "bookinfo" / "networking"
TRACES = ROOT / "fixtures" / "traces"
MESH = ROOT / "fixtures" / "mesh"
DISCOVERY = ROOT / "fixtures" / "discovery"
CHECKOUT = DISCOVERY / "checkout"
BOOKINFO = DISCOVERY / "bookinfo"

# The paper's checkout bounds: paya/payb on separate payment networks, then on a shared one.
SEPARATE_PESSIMISTIC = 0.99747706
SHARED_PESSIMISTIC = 0.99251449
DELTA_PESSIMISTIC = -0.00496257
PRINTED = 5e-9  # the numbers above are printed to 8 decimals

# The three checkout scenarios: trace file and config for each.
SCENARIOS: dict[str, tuple[Path, Path]] = {
    "a": (
        TRACES / "checkout-a-distinct-networks.json",
        CHECKOUT / "k8s" / "networks-distinct.yaml",
    ),
    "b": (TRACES / "checkout-b-shared-network.json", CHECKOUT / "k8s" / "networks-shared.yaml"),
    "c": (TRACES / "checkout-c-missing-payb.json", MESH / "checkout-payments-separate.yaml"),
}

WHEN = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)


def fixed_clock() -> datetime:
    return WHEN


def copy_fixture(name: str, into: Path) -> Path:
    """A writable copy of fixtures/discovery/<name> (accept rewrites the accepted model)."""
    target = into / name
    shutil.copytree(DISCOVERY / name, target)
    return target


def checkout_run(scenario: str, journey_dir: Path = CHECKOUT) -> DiscoverRun:
    traces, config = SCENARIOS[scenario]
    return discover_files(
        "checkout",
        [traces],
        [config],
        journey_dir / "model" / "accepted.checkout.yaml",
        [journey_dir / "spec" / "checkout.yaml"],
    )


def bookinfo_run(
    *configs: str,
    journey_dir: Path = BOOKINFO,
    rule_shares: dict[tuple[str, int], float] | None = None,
) -> DiscoverRun:
    return discover_files(
        "bookinfo",
        [],
        [NETWORKING / "destination-rule-all.yaml", *(NETWORKING / c for c in configs)],
        journey_dir / "model" / "accepted.bookinfo.yaml",
        [journey_dir / "spec" / "bookinfo.yaml"],
        rule_shares=rule_shares,
    )


def parser() -> argparse.ArgumentParser:
    """The `emac` parser with discovery's commands, as bot.cli composes them."""
    out = argparse.ArgumentParser(prog="emac")
    register(out.add_subparsers(dest="command", required=True))
    return out
