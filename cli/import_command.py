"""``python -m cli import``: the command line of the importer (arguments, output, exit status)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from cli.batching import DEFAULT_BATCH
from cli.importer import DEFAULT_CONCURRENCY, ImportOptions, import_paths
from cli.progress import ProgressLine
from cli.server_args import UsageError, add_server_arguments, server_of

USAGE_ERROR = 2
INTERRUPTED = 130


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "import",
        help="store the DICOM files of folders and zip files on a DICOMweb server",
        description="Store every DICOM file found in PATHs (folders are walked, zip files "
        "read in place) with STOW-RS; exit status 1 when any instance failed.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    add_server_arguments(parser, "owner")
    parser.add_argument(
        "--batch", type=_positive, default=DEFAULT_BATCH, help="instances per request"
    )
    parser.add_argument(
        "--concurrency",
        type=_positive,
        default=DEFAULT_CONCURRENCY,
        help="requests in flight at once",
    )
    parser.add_argument(
        "--report", type=Path, help="write one row per file here (CSV for .csv, else JSON)"
    )


def _error(message: str) -> int:
    print(f"import: {message}", file=sys.stderr)
    return USAGE_ERROR


def run(args: argparse.Namespace) -> int:
    try:
        server = server_of(args)
    except UsageError as exc:
        return _error(str(exc))
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        return _error(f"no such file or folder: {', '.join(missing)}")
    options = ImportOptions(
        server.base_url, server.token, batch=args.batch, concurrency=args.concurrency
    )
    try:
        tally = asyncio.run(import_paths(args.paths, options, ProgressLine(piped_summary=False)))
    except KeyboardInterrupt:
        print("import: interrupted", file=sys.stderr)
        return INTERRUPTED
    for line in tally.summary_lines():
        print(line)
    if args.report is not None:
        tally.write_report(args.report)
    return 1 if tally.failed else 0
