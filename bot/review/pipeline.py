"""The review: read base and head from git, find affected journeys, compile both, diff, decide."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

from bot.compile.pipeline import compile_model, models_from_documents
from bot.compile.result import Decision
from bot.emit.artifacts import all_artifacts
from bot.emit.writer import stale_against
from bot.gcpause import without_gc
from bot.review.diff import causes_for, journey_inputs, review_journey
from bot.review.discovery import config_deltas, is_config_document
from bot.review.gitread import FileChange, changed_files, open_repo, read_file, read_tree, resolve
from bot.review.model import Cause, Conclusion, JourneyReview, ReviewResult
from bot.spec.domain import JourneyModel
from bot.spec.errors import SpecError
from bot.spec.loader import parse_texts
from bot.spec.repoconfig import CONFIG_FILE, RepoConfig, parse_repo_config
from bot.spec.yamlpos import YamlDocument


def _matches(path: str, globs: Sequence[str]) -> bool:
    pure = PurePosixPath(path)
    return any(fnmatch.fnmatch(path, g) or pure.match(g) for g in globs)


def select_files(files: Mapping[str, str], config: RepoConfig) -> dict[str, str]:
    """The files the configuration lets the review read (all YAML unless narrowed)."""
    wanted = [
        *config.paths.specs,
        *config.paths.openslo,
        *config.paths.models,
        *config.paths.routing,
        *config.paths.evidence,
    ]
    return {
        p: t
        for p, t in files.items()
        if not _matches(p, config.paths.ignore) and (not wanted or _matches(p, wanted))
    }


def review_revisions(
    repo_dir: str, base_rev: str, head_rev: str, config: RepoConfig | None = None
) -> ReviewResult:
    """Review a pull request offline: base and head are any revisions present in the clone."""
    repo = open_repo(repo_dir)
    base, head = resolve(repo, base_rev), resolve(repo, head_rev)
    cfg = config or parse_repo_config(read_file(head, CONFIG_FILE))
    changes = [c for c in changed_files(repo, base, head) if not _matches(c.path, cfg.paths.ignore)]
    return review_trees(
        base.hexsha,
        head.hexsha,
        select_files(read_tree(base), cfg),
        select_files(read_tree(head), cfg),
        changes,
        cfg,
    )


def _models(files: Mapping[str, str]) -> tuple[dict[str, list[YamlDocument]], list[JourneyModel]]:
    docs = parse_texts(files)
    return docs, models_from_documents(docs)


@without_gc
def review_trees(
    base_sha: str,
    head_sha: str,
    base_files: Mapping[str, str],
    head_files: Mapping[str, str],
    changes: Sequence[FileChange],
    config: RepoConfig,
) -> ReviewResult:
    """The pure part of a review, on file contents already read from both revisions."""
    changed = {c.path for c in changes} | {c.old_path for c in changes if c.old_path}
    try:
        head_docs, head_models = _models(head_files)
    except SpecError as exc:
        return ReviewResult(
            base_sha,
            head_sha,
            [],
            sorted(changed),
            "failure",
            "FAIL",
            config=config,
            errors=[str(p) for p in exc.problems],
        )
    try:
        base_docs, base_models = _models(base_files)
    except SpecError:
        # A broken base cannot be compared against: every head journey is reviewed as new.
        base_docs, base_models = {}, []
    by_name_head = {m.name: m for m in head_models}
    by_name_base = {m.name: m for m in base_models}
    config_changed = any(
        is_config_document(d)
        for name in changed
        for d in (*head_docs.get(name, ()), *base_docs.get(name, ()))
    )
    pending = config_deltas(head_docs, head_files, head_models) if config_changed else {}
    reviews: list[JourneyReview] = []
    for name in sorted(set(by_name_head) | set(by_name_base)):
        hm, bm = by_name_head.get(name), by_name_base.get(name)
        inputs = (journey_inputs(hm) if hm else set()) | (journey_inputs(bm) if bm else set())
        implied = pending.get(name)
        if not inputs & changed and implied is None:
            continue
        causes: list[Cause] = []
        for change in changes:
            if change.path in inputs or change.old_path in inputs:
                causes.extend(
                    causes_for(
                        change,
                        base_docs.get(change.old_path or change.path),
                        head_docs.get(change.path),
                    )
                )
        if implied is not None:
            causes.extend(implied.causes)
        head = None
        if hm is not None:
            head = compile_model(hm, implied.pending if implied else None)
        reviews.append(
            review_journey(
                name,
                compile_model(bm) if bm else None,
                head,
                causes,
                tolerance=config.regression.tolerance,
                gate=config.regression.gate,
                pending=implied.impact if implied else None,
            )
        )
    decision, conclusion = overall(reviews, config)
    fresh = regenerated_artifacts(reviews, config)
    stale = stale_against({p: head_files.get(p) for p in fresh}, fresh)
    return ReviewResult(
        base_sha,
        head_sha,
        reviews,
        sorted(changed),
        conclusion,
        decision,
        config=config,
        artifacts={s.path: fresh[s.path] for s in stale},
        model_updates={p.accepted_file: p.accepted_after for p in pending.values()},
        stale_artifacts=[s.path for s in stale],
    )


def regenerated_artifacts(reviews: Sequence[JourneyReview], config: RepoConfig) -> dict[str, str]:
    """Fresh artifacts of the affected journeys at head (the follow-up PR's content)."""
    heads = [r.head for r in reviews if r.head is not None]
    try:
        return all_artifacts(
            heads,
            rules_format=config.artifacts.rules_format,
            default_dir=config.artifacts.default_dir,
        )
    except SpecError:
        return {}  # colliding output paths are reported by `emac compile`; no follow-up then


def overall(
    reviews: Sequence[JourneyReview], config: RepoConfig
) -> tuple[Decision | None, Conclusion]:
    decisions = {r.decision for r in reviews}
    if not reviews:
        return None, "success"
    if "FAIL" in decisions:
        return "FAIL", "failure"
    if "REVIEW" in decisions:
        return "REVIEW", "action_required" if config.regression.review == "blocking" else "neutral"
    return "PASS", "success"
