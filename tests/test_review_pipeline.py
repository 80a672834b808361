"""Offline reviews on real git repositories: deltas, causes, decisions, clone shapes, config."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest

from bot.review.demo import SPEC, build_demo_repo
from bot.review.gitread import MissingCommitError
from bot.review.pipeline import review_revisions
from bot.spec.errors import SpecError
from tests.conftest import emac


@pytest.fixture
def demo(tmp_path: Path):  # type: ignore[no-untyped-def]
    return build_demo_repo(tmp_path / "shop")


def _commit(repo_dir: Path, files: dict[str, str], message: str) -> str:
    repo = git.Repo(repo_dir)
    for rel, text in files.items():
        (repo_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo_dir / rel).write_text(text)
    repo.git.add(A=True)
    return repo.index.commit(message).hexsha


def test_sharing_the_payment_domain_fails_with_the_papers_delta(demo) -> None:  # type: ignore[no-untyped-def]
    result = review_revisions(str(demo.path), demo.base, demo.head)
    (journey,) = result.journeys
    assert journey.name == "checkout" and journey.decision == "FAIL"
    assert journey.availability["pessimistic"].delta == pytest.approx(-0.00496257, abs=5e-9)
    assert journey.availability["optimistic"].delta == pytest.approx(0.0, abs=1e-15)
    assert result.conclusion == "failure" and result.exit_code == 1
    fields = {(c.file, c.field, c.before, c.after) for c in journey.causes}
    assert (
        SPEC,
        "spec.components.card-provider-west.failureDomains[0]",
        "card-network-west",
        "card-network",
    ) in fields
    assert any(
        r.startswith("pessimistic regressed 0.99747706 → 0.99251449") for r in journey.reasons
    )


def test_raising_a_leaf_target_passes_and_shows_the_positive_delta(demo) -> None:  # type: ignore[no-untyped-def]
    slo = demo.path / "checkout/slos/card-west-success.yaml"
    new = _commit(
        demo.path,
        {
            "checkout/slos/card-west-success.yaml": slo.read_text().replace(
                "target: 0.995", "target: 0.9999"
            )
        },
        "The west provider signs a better SLA",
    )
    result = review_revisions(str(demo.path), demo.head, new)
    (journey,) = result.journeys
    assert journey.decision == "PASS"
    delta = journey.availability["pessimistic"].delta
    # Pessimistic race = max(0.995, 0.9999): 0.9975019995 × (0.9999 − 0.995).
    assert delta == pytest.approx(0.9975019995 * (0.9999 - 0.995), abs=1e-12)
    (cause,) = journey.causes
    assert (cause.file, cause.line, cause.field, cause.kind) == (
        "checkout/slos/card-west-success.yaml",
        32,
        "spec.objectives[0].target",
        "openslo",
    )
    assert (cause.before, cause.after) == ("0.995", "0.9999")
    assert result.conclusion == "success" and result.exit_code == 0


def test_a_docs_only_change_affects_no_journey(demo) -> None:  # type: ignore[no-untyped-def]
    new = _commit(demo.path, {"README.md": "More docs.\n"}, "docs")
    result = review_revisions(str(demo.path), demo.head, new)
    assert result.journeys == [] and not result.affected
    assert result.conclusion == "success"


def test_a_broken_spec_at_head_fails_with_its_location(demo) -> None:  # type: ignore[no-untyped-def]
    spec = demo.path / SPEC
    new = _commit(
        demo.path, {SPEC: spec.read_text().replace("target: 0.995", "target: 1.5")}, "typo"
    )
    result = review_revisions(str(demo.path), demo.head, new)
    assert result.conclusion == "failure"
    assert result.errors == [
        f"{SPEC}:15:15: spec.objectives.availability.target: Input should "
        "be less than or equal to 1 (got 1.5)"
    ]


def test_works_from_a_bare_clone(demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bare = git.Repo.clone_from(str(demo.path), tmp_path / "bare.git", bare=True)
    result = review_revisions(bare.git_dir, demo.base, demo.head)
    assert result.journeys[0].decision == "FAIL"


def test_works_from_a_shallow_clone_that_has_both_commits(demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shallow = tmp_path / "shallow"
    git.Repo.clone_from(f"file://{demo.path}", shallow, depth=2, branch="move-west-provider")
    result = review_revisions(str(shallow), demo.base, demo.head)
    assert result.journeys[0].decision == "FAIL"


def test_a_missing_commit_is_named(demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shallow = tmp_path / "shallow"
    git.Repo.clone_from(f"file://{demo.path}", shallow, depth=1, branch="move-west-provider")
    with pytest.raises(MissingCommitError) as info:
        review_revisions(str(shallow), demo.base, demo.head)
    assert f"commit '{demo.base}' is not in the repository" in str(info.value)


def test_ignored_paths_are_not_reviewed(demo) -> None:  # type: ignore[no-untyped-def]
    config = "version: 1\npaths:\n  ignore: ['checkout/**']\n"
    base = _commit(demo.path, {".emac.yml": config}, "ignore checkout")
    spec = demo.path / SPEC
    new = _commit(
        demo.path, {SPEC: spec.read_text().replace("target: 0.995", "target: 0.99")}, "relax"
    )
    assert review_revisions(str(demo.path), base, new).journeys == []


def test_a_bad_repo_config_is_reported_with_its_line(demo) -> None:  # type: ignore[no-untyped-def]
    new = _commit(demo.path, {".emac.yml": "version: 1\nregression:\n  tolerence: 0.01\n"}, "cfg")
    with pytest.raises(SpecError) as info:
        review_revisions(str(demo.path), demo.head, new)
    assert str(info.value) == (
        ".emac.yml:3:3: regression.tolerence: unknown key 'tolerence' (did you mean \"tolerance\"?)"
    )


def test_tolerance_lets_a_small_regression_through(demo) -> None:  # type: ignore[no-untyped-def]
    slo = demo.path / "checkout/slos/basket-success.yaml"
    base = _commit(
        demo.path,
        {
            ".emac.yml": "regression: {tolerance: 0.0001}\n",
            SPEC: (demo.path / SPEC).read_text().replace("target: 0.995", "target: 0.99"),
        },
        "policy",
    )
    new = _commit(
        demo.path,
        {
            "checkout/slos/basket-success.yaml": slo.read_text().replace(
                "target: 0.999", "target: 0.99899"
            )
        },
        "slightly worse basket",
    )
    (journey,) = review_revisions(str(demo.path), base, new).journeys
    assert -0.0001 < (journey.regression or 0) < 0
    assert journey.decision == "PASS"


def test_cli_review_prints_the_comment_and_exits_with_the_conclusion(demo) -> None:  # type: ignore[no-untyped-def]
    proc = emac("review", "--repo", str(demo.path), "--base", demo.base, "--head", demo.head)
    assert proc.returncode == 1
    assert proc.stdout.startswith("<!-- emac-bot:sticky -->\n")
    assert 'check run "EmaC journey bounds": failure' in proc.stdout
    revisions = ("--repo", str(demo.path), "--base", demo.base, "--head", demo.head)
    proc = emac("review", *revisions, "--format", "json")
    doc = json.loads(proc.stdout)
    assert doc["journeys"]["checkout"]["availability"]["pessimistic"]["delta"] == pytest.approx(
        -0.00496257, abs=5e-9
    )


def test_cli_review_names_a_missing_revision(demo) -> None:  # type: ignore[no-untyped-def]
    proc = emac("review", "--repo", str(demo.path), "--base", "deadbeef", "--head", demo.head)
    assert proc.returncode == 2
    assert "commit 'deadbeef' is not in the repository" in proc.stderr


def test_emac_demo_runs_from_the_installed_package(tmp_path: Path) -> None:
    proc = emac("demo", "--dir", str(tmp_path / "d"))
    assert proc.returncode == 0, proc.stderr
    assert "## ❌ EmaC journey bounds: 1 FAIL" in proc.stdout


DISCOVERY = Path(__file__).resolve().parents[1] / "fixtures" / "discovery" / "checkout"


def test_a_manifest_change_proposes_a_model_delta_for_review(tmp_path: Path) -> None:
    """Deployments move both payment providers onto one network: discovery at head proposes
    reassigning their domains; the delta is high impact and unconfirmed by traffic → REVIEW,
    and `/emac accept` would write the accepted model that makes the journey FAIL."""
    repo_dir = tmp_path / "shop"
    repo = git.Repo.init(repo_dir, initial_branch="main")
    files = {
        "spec/checkout.yaml": (DISCOVERY / "spec/checkout.yaml").read_text(),
        "slos/checkout-slos.yaml": (DISCOVERY / "slos/checkout-slos.yaml").read_text(),
        "model/accepted.checkout.yaml": (DISCOVERY / "model/accepted.checkout.yaml").read_text(),
        "k8s/payments.yaml": (DISCOVERY / "k8s/networks-distinct.yaml").read_text(),
    }
    base = _commit(repo_dir, files, "shop with distinct payment networks")
    head = _commit(
        repo_dir,
        {"k8s/payments.yaml": (DISCOVERY / "k8s/networks-shared.yaml").read_text()},
        "consolidate payment networks",
    )
    del repo
    result = review_revisions(str(repo_dir), base, head)
    (journey,) = result.journeys
    assert journey.decision == "REVIEW"
    assert result.conclusion == "action_required" and result.exit_code == 3
    # Configs alone are unconfirmed by traffic: the delta's confidence is 0 and flagged.
    assert journey.reasons[:2] == [
        "evidence confidence 0 < autoAcceptConfidence 0.8",
        "evidence flag: low-coverage",
    ]
    assert journey.pending is not None and journey.pending.high_impact
    assert journey.pending.delta == pytest.approx(-0.00496257, abs=5e-9)
    assert journey.pending.pessimistic_after == pytest.approx(0.99251449, abs=5e-9)
    config_causes = [c for c in journey.causes if c.kind == "config"]
    assert config_causes and all(c.file == "k8s/payments.yaml" for c in config_causes)
    # The compiled numbers do not move until the delta is accepted.
    assert journey.availability["pessimistic"].delta == pytest.approx(0.0, abs=1e-15)
    (accepted_file, accepted_after) = next(iter(result.model_updates.items()))
    assert accepted_file == "model/accepted.checkout.yaml"
    assert "failureDomains" in accepted_after
