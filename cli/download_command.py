"""``python -m cli download``: the command line of a study download (arguments, output, status)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import httpx

from cli.download import TIMEOUT, DownloadError, download_study
from cli.progress import ProgressLine
from cli.server_args import UsageError, add_server_arguments, server_of
from shared.dicom.validation import is_valid_uid

USAGE_ERROR = 2
INTERRUPTED = 130


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "download",
        help="download a study from a DICOMweb server into a folder",
        description="Write every instance of STUDY as a DICOM file in DIR, from a zip where "
        "the server offers one and from multipart otherwise; exit status 1 when it fails.",
    )
    parser.add_argument("study", metavar="STUDY", help="the Study Instance UID")
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="the folder to write to (default: ./STUDY)"
    )
    add_server_arguments(parser, "reader")


def _error(message: str, status: int = USAGE_ERROR) -> int:
    print(f"download: {message}", file=sys.stderr)
    return status


async def _download(base_url: str, token: str | None, study: str, out: Path) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(headers=headers, timeout=TIMEOUT) as http:
        done = await download_study(http, base_url, study, out, ProgressLine())
    megabytes = done.bytes_received / 1e6
    return f"{done.files} files written to {out} ({megabytes:.1f} MB received as {done.packaging})"


def run(args: argparse.Namespace) -> int:
    try:
        server = server_of(args)
    except UsageError as exc:
        return _error(str(exc))
    if not is_valid_uid(args.study):
        return _error("STUDY must be a UID (1-64 digits and dots)")
    out: Path = args.out or Path(args.study)
    try:
        print(asyncio.run(_download(server.base_url, server.token, args.study, out)))
    except DownloadError as exc:
        return _error(str(exc), 1)
    except httpx.TransportError as exc:
        return _error(f"no answer from the server ({type(exc).__name__})", 1)
    except KeyboardInterrupt:
        return _error("interrupted", INTERRUPTED)
    return 0
