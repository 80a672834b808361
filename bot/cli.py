"""The `emac` command line: argument parsing and exit codes; the work happens in library calls."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from bot.compile.availability import AvailabilityError
from bot.discover import commands as discovery
from bot.emit.artifacts import RULES_FORMATS
from bot.github.settings import DEFAULT_THREADS, SettingsError, default_workers
from bot.review.gitread import MissingCommitError
from bot.review.model import ReviewResult
from bot.spec.errors import SpecError

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_REVIEW = 0, 1, 2, 3


def _cmd_compile(args: argparse.Namespace) -> int:
    from bot.compile.pipeline import compile_paths
    from bot.emit.contract import compile_document
    from bot.emit.report import derivation_report
    from bot.emit.text import render

    journeys = compile_paths([Path(p) for p in args.paths], args.journey or None)
    if not journeys:
        print("emac: no JourneyIntent found under " + ", ".join(args.paths), file=sys.stderr)
        return EXIT_USAGE
    if args.out:
        from bot.emit.artifacts import all_artifacts
        from bot.emit.writer import write_artifacts

        files = all_artifacts(journeys, rules_format=args.rules_format)
        written = write_artifacts(Path(args.out), files)
        print(
            f"emac: wrote {written} of {len(files)} artifact(s) under {args.out} "
            f"({len(files) - written} unchanged)",
            file=sys.stderr,
        )
    if args.format == "json":
        sys.stdout.write(json.dumps(compile_document(journeys), indent=2) + "\n")
    elif args.format == "yaml":
        docs = [derivation_report(cj) for cj in journeys]
        sys.stdout.write(yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True))
    else:
        sys.stdout.write(render(journeys))
    return EXIT_OK


def _print_review(result: ReviewResult, fmt: str) -> None:
    from bot.review.jsondoc import review_document
    from bot.review.render import render_check, render_comment

    if fmt == "json":
        sys.stdout.write(json.dumps(review_document(result), indent=2) + "\n")
        return
    sys.stdout.write(render_comment(result))
    check = render_check(result)
    sys.stdout.write(
        f'\n---\ncheck run "EmaC journey bounds": {check.conclusion} '
        f"({check.title}); {len(check.annotations)} annotation(s)\n"
    )


def _cmd_review(args: argparse.Namespace) -> int:
    from bot.review.pipeline import review_revisions

    result = review_revisions(args.repo, args.base, args.head)
    _print_review(result, args.format)
    return result.exit_code


def _cmd_demo(args: argparse.Namespace) -> int:
    import tempfile

    from bot.review.demo import build_demo_repo
    from bot.review.pipeline import review_revisions

    where = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="emac-demo-"))
    demo = build_demo_repo(where)
    print(f"# emac demo: {demo.story}", file=sys.stderr)
    print(
        f"# repository {demo.path} · base {demo.base[:7]} · head {demo.head[:7]}", file=sys.stderr
    )
    print(
        f"# (the same as: emac review --repo {demo.path} --base {demo.base[:7]} "
        f"--head {demo.head[:7]})\n",
        file=sys.stderr,
    )
    result = review_revisions(str(demo.path), demo.base, demo.head)
    _print_review(result, args.format)
    return EXIT_OK


def _cmd_check_artifacts(args: argparse.Namespace) -> int:
    from bot.compile.pipeline import compile_paths
    from bot.emit.artifacts import all_artifacts
    from bot.emit.writer import stale_artifacts
    from bot.spec.loader import display_root

    paths = [Path(p) for p in args.paths]
    files = all_artifacts(compile_paths(paths), rules_format=args.rules_format)
    root = Path(args.root) if args.root else display_root(paths)
    stale = stale_artifacts(root, files)
    for item in stale:
        sys.stdout.write(item.diff)
    if stale:
        print(
            f"emac: {len(stale)} of {len(files)} artifact(s) are stale: run "
            f"`emac compile {' '.join(args.paths)} --out {root}`",
            file=sys.stderr,
        )
        return EXIT_FAIL
    print(f"emac: all {len(files)} artifact(s) are up to date", file=sys.stderr)
    return EXIT_OK


def _cmd_guard(args: argparse.Namespace) -> int:
    from bot.compile.pipeline import compile_paths
    from bot.compile.whatif import rebound_for
    from bot.emit.guards import UnknownActionError, evaluate_guard

    (cj,) = compile_paths([Path(p) for p in args.paths], [args.journey])
    try:
        verdict = evaluate_guard(cj, args.action, rebound_for(cj))
    except UnknownActionError as exc:
        print(f"emac: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{verdict.action}: {verdict.verdict} ({verdict.reason})")
    for check in verdict.conditions:
        mark = "ok " if check.holds else "NO "
        observed = "" if check.observed is None else f" (observed {check.observed})"
        print(
            f"  {mark} {check.expression}{observed}" + ("" if check.holds else f" → {check.effect}")
        )
    return verdict.exit_code


def _cmd_worker(args: argparse.Namespace) -> int:
    import logging
    import os

    from bot.github.handlers import make_handlers
    from bot.github.queue import open_queue
    from bot.github.settings import load_settings
    from bot.github.worker import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_settings(os.environ)
    handlers = make_handlers(
        settings, open_queue(settings), Path(args.cache_dir), os.environ.get("EMAC_BOT_LOGIN")
    )
    serve(settings, handlers)
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    import os

    from bot.github.appauth import GitHubAppAuth
    from bot.github.settings import load_settings
    from bot.github.webapp import serve_with_worker

    # Fail at start with what to set, not per delivery or in the worker's log.
    settings = load_settings(os.environ)
    settings.require_webhook_secret()
    worker_command = None
    if not args.no_worker:
        # One worker beside the service so a single machine needs nothing else.
        GitHubAppAuth.from_settings(settings)
        worker_command = [sys.executable, "-m", "bot", "worker", "--cache-dir", args.cache_dir]
    return serve_with_worker(args.bind, args.workers, args.threads, worker_command)


def _cmd_action(args: argparse.Namespace) -> int:
    from bot.github.action import main as action_main

    return action_main()


def _cmd_schema(args: argparse.Namespace) -> int:
    from bot.spec.schema import schema_for

    sys.stdout.write(json.dumps(schema_for(args.kind), indent=2, sort_keys=True) + "\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emac", description="Compile Emergence-as-Code journey specs into bounded SLOs."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compile", help="compile journey specs and print their bounds")
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="spec files or folders (searched for JourneyIntent, OpenSLO, models)",
    )
    p.add_argument("--format", choices=("text", "json", "yaml"), default="text")
    p.add_argument(
        "--journey", action="append", metavar="NAME", help="only this journey (repeatable)"
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="write every artifact (rules, gates, guards, report) under DIR, laid out "
        "as the specs say relative to their own files",
    )
    p.add_argument("--rules-format", choices=RULES_FORMATS, default="prometheus-operator")
    p.set_defaults(func=_cmd_compile)

    p = sub.add_parser(
        "check-artifacts", help="exit 1 with a diff when committed artifacts are stale"
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument(
        "--root",
        metavar="DIR",
        help="where the committed artifacts live (default: the folder of PATH)",
    )
    p.add_argument("--rules-format", choices=RULES_FORMATS, default="prometheus-operator")
    p.set_defaults(func=_cmd_check_artifacts)

    p = sub.add_parser(
        "guard", help="evaluate one action guard: exit 0 allowed, 1 blocked, 3 needs review"
    )
    p.add_argument("action", help="action name, e.g. promote-canary")
    p.add_argument("--journey", required=True)
    p.add_argument("paths", nargs="*", metavar="PATH", default=["."])
    p.set_defaults(func=_cmd_guard)

    p = sub.add_parser("review", help="review a pull request offline: compile base and head")
    p.add_argument("--repo", default=".", help="git repository (bare and shallow clones work)")
    p.add_argument("--base", required=True, help="base revision")
    p.add_argument("--head", required=True, help="head revision")
    p.add_argument("--format", choices=("markdown", "json"), default="markdown")
    p.set_defaults(func=_cmd_review)

    p = sub.add_parser("demo", help="build a throwaway repo with a PR and review it")
    p.add_argument("--dir", help="where to create the demo repository (default: a temp dir)")
    p.add_argument("--format", choices=("markdown", "json"), default="markdown")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("serve", help="run the GitHub App webhook service (gunicorn) and a worker")
    p.add_argument("--bind", default="0.0.0.0:8080")
    p.add_argument(
        "--workers", type=int, default=default_workers(), help="gunicorn worker processes"
    )
    p.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, help="threads per gunicorn worker"
    )
    p.add_argument(
        "--no-worker",
        action="store_true",
        help="only receive deliveries; run `emac worker` processes elsewhere",
    )
    p.add_argument("--cache-dir", default=".emac-cache", help="git mirrors of reviewed repos")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser(
        "worker",
        help="process queued review jobs (SQLite, or Redis + RQ when EMAC_REDIS_URL is set)",
    )
    p.add_argument("--cache-dir", default=".emac-cache", help="git mirrors of reviewed repos")
    p.set_defaults(func=_cmd_worker)

    p = sub.add_parser("action", help="run as a GitHub Actions step (reads the runner's env)")
    p.set_defaults(func=_cmd_action)

    discovery.register(sub)

    p = sub.add_parser("schema", help="print the JSON Schema of a file format")
    p.add_argument(
        "--kind",
        default="JourneyIntent",
        choices=("JourneyIntent", "AcceptedJourneyModel", "DiscoveredJourneyModel", "ModelDelta"),
    )
    p.set_defaults(func=_cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `emac guard ACTION --journey J PATH...`: argparse fills the optional PATH list before it
    # sees --journey, so paths after the options arrive here.
    if extra and args.command == "guard" and not any(e.startswith("-") for e in extra):
        args.paths = [*(p for p in args.paths if p != "."), *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        code: int = args.func(args)
        return code
    except SpecError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_USAGE
    except SettingsError as exc:
        print(f"emac: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MissingCommitError as exc:
        print(f"emac: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AvailabilityError as exc:
        print(f"emac: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
