"""The `emac` command line: argument parsing and exit codes; the work happens in library calls."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from bot.compile.availability import AvailabilityError
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
    except AvailabilityError as exc:
        print(f"emac: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
