"""``python -m cli import``: the command line of the importer (arguments, output, exit status)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from cli.batching import DEFAULT_BATCH
from cli.importer import DEFAULT_CONCURRENCY, ImportOptions, import_paths
from cli.local_auth import local_base_url, local_token
from cli.progress import ProgressLine
from devhost.settings import local_auth_requested

TOKEN_VARIABLE = "DICOMWEB_TOKEN"
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
    parser.add_argument("--url", help="DICOMweb base URL, e.g. https://host/v2 or .../dicom-web")
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument(
        "--token", help=f"bearer token (default: ${TOKEN_VARIABLE}, which keeps it out of ps)"
    )
    # Also accepted before the command; SUPPRESS keeps it from resetting a --local given there.
    auth.add_argument(
        "--local",
        action="store_true",
        default=argparse.SUPPRESS,
        help="the server of `make run` (a local token when DICOMWEB_LOCAL_AUTH=1)",
    )
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
    local = bool(getattr(args, "local", False))
    token = args.token or os.environ.get(TOKEN_VARIABLE) or None
    if local and args.token:
        return _error("--local and --token exclude each other")
    url = args.url or (local_base_url() if local else None)
    if url is None:
        return _error("give the server's base URL with --url BASE, or --local for `make run`")
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        return _error("--url must be an http:// or https:// URL")
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        return _error(f"no such file or folder: {', '.join(missing)}")
    if local and local_auth_requested():
        token = local_token("owner")
    options = ImportOptions(url, token, batch=args.batch, concurrency=args.concurrency)
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
