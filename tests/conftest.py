"""Shared test helpers: where the reference data and our fixtures live, and model builders."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"
PAPER_CHECKOUT = REFERENCE / "emac-artifact" / "checkout"
FIXTURES = ROOT / "fixtures"


def emac(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the `emac` command line as a user would (a separate process, output captured)."""
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_binary(name: str, env_var: str | None = None) -> str:
    """Path of a real binary the test needs; in CI a missing one is a failure, not a skip."""
    path = os.environ.get(env_var) if env_var else None
    path = path or shutil.which(name)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required in CI but was not found on PATH")
    pytest.skip(f"{name} not installed")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def paper_checkout() -> Path:
    if not PAPER_CHECKOUT.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"reference data missing: {PAPER_CHECKOUT}")
        pytest.skip("reference data not present")
    return PAPER_CHECKOUT
