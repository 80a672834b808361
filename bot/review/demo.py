"""`emac demo`: a throwaway git repository with a base commit and a pull-request commit."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import git

from bot.compile.pipeline import compile_paths
from bot.emit.artifacts import all_artifacts
from bot.emit.writer import write_artifacts

DEMO_AUTHOR = git.Actor("EmaC demo", "demo@emac.invalid")
# Fixed dates keep the demo's commit shas identical from run to run.
BASE_DATE = "2026-01-05T09:00:00"
HEAD_DATE = "2026-01-06T09:00:00"
SPEC = "checkout/spec/checkout.yaml"
WEST_ON_ITS_OWN = (
    "      failureDomains: [card-network]\n  failureDomains:",
    "      failureDomains: [card-network-west]\n  failureDomains:",
)
EXTRA_RULE = (
    "        description: both providers settle over the same card network\n",
    "        description: both providers settle over the same card network\n"
    "      - name: card-network-west\n"
    "        kind: declared\n"
    "        description: the west provider's own acquiring network\n",
)


@dataclass(frozen=True)
class DemoRepo:
    path: Path
    base: str
    head: str
    story: str


def _copy_tree(src: Traversable, dest: Path) -> None:
    for item in src.iterdir():
        if item.is_dir():
            _copy_tree(item, dest / item.name)
        elif item.name.endswith((".yaml", ".yml")):
            (dest).mkdir(parents=True, exist_ok=True)
            (dest / item.name).write_bytes(item.read_bytes())


def _commit(repo: git.Repo, message: str, date: str) -> str:
    repo.git.add(A=True)
    commit = repo.index.commit(
        message, author=DEMO_AUTHOR, committer=DEMO_AUTHOR, author_date=date, commit_date=date
    )
    return commit.hexsha


def build_demo_repo(dest: Path) -> DemoRepo:
    """Base: the card providers on separate networks. PR: both on one network (shared fate)."""
    fixtures = resources.files("bot") / "fixtures"
    repo = git.Repo.init(dest, initial_branch="main")
    _copy_tree(fixtures / "checkout", dest / "checkout")
    _copy_tree(fixtures / "journeys", dest / "journeys")
    (dest / "README.md").write_text("Shop journeys, reviewed by emac-bot.\n")
    spec = dest / SPEC
    head_text = spec.read_text()
    base_text = head_text.replace(*WEST_ON_ITS_OWN).replace(*EXTRA_RULE)
    if base_text == head_text:
        raise RuntimeError("demo fixture changed: cannot derive the base commit")
    spec.write_text(base_text)
    # The base commit carries its generated artifacts, as a repository using emac would; the
    # pull request changes only the spec, so they go stale and a follow-up PR is due.
    write_artifacts(dest, all_artifacts(compile_paths([dest])))
    base = _commit(repo, "Shop journeys with independent card networks", BASE_DATE)
    repo.git.checkout("-b", "move-west-provider")
    spec.write_text(head_text)
    head = _commit(repo, "Route the west provider through the shared card network", HEAD_DATE)
    story = (
        "A pull request moves the west card provider onto the same card network as the "
        "east one: the payment race now shares fate."
    )
    return DemoRepo(dest, base, head, story)
