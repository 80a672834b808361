"""The `emac` command line: argument parsing and exit codes; the work happens in library calls."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from bot.compile.availability import AvailabilityError
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
    sys.stdout.write(f"\n---\ncheck run \"EmaC journey bounds\": {check.conclusion} "
                     f"({check.title}); {len(check.annotations)} annotation(s)\n")


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
    print(f"# repository {demo.path} · base {demo.base[:7]} · head {demo.head[:7]}",
          file=sys.stderr)
    print(f"# (the same as: emac review --repo {demo.path} --base {demo.base[:7]} "
          f"--head {demo.head[:7]})\n", file=sys.stderr)
    result = review_revisions(str(demo.path), demo.base, demo.head)
    _print_review(result, args.format)
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    from bot.spec.schema import schema_for

    sys.stdout.write(json.dumps(schema_for(args.kind), indent=2, sort_keys=True) + "\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emac", description="Compile Emergence-as-Code journey specs into bounded SLOs.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compile", help="compile journey specs and print their bounds")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="spec files or folders (searched for JourneyIntent, OpenSLO, models)")
    p.add_argument("--format", choices=("text", "json", "yaml"), default="text")
    p.add_argument("--journey", action="append", metavar="NAME",
                   help="only this journey (repeatable)")
    p.set_defaults(func=_cmd_compile)

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

    p = sub.add_parser("schema", help="print the JSON Schema of a file format")
    p.add_argument("--kind", default="JourneyIntent",
                   choices=("JourneyIntent", "AcceptedJourneyModel", "DiscoveredJourneyModel"))
    p.set_defaults(func=_cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except SpecError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_USAGE
    except MissingCommitError as exc:
        print(f"emac: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AvailabilityError as exc:
        print(f"emac: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
