"""The arguments every command that talks to a DICOMweb server shares: where it is, how to sign in.

``--url BASE`` with ``--token`` (or the token in ``DICOMWEB_TOKEN``, which keeps it out of the
process list), or ``--local`` for the server of ``make run`` (which brings its own token when
``DICOMWEB_LOCAL_AUTH=1``).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from cli.local_auth import local_base_url, local_token
from devhost.settings import local_auth_requested

TOKEN_VARIABLE = "DICOMWEB_TOKEN"


@dataclass(frozen=True)
class Server:
    base_url: str
    token: str | None


class UsageError(Exception):
    """The arguments do not name a server; the message says what to give."""


def add_server_arguments(parser: argparse.ArgumentParser, role: str) -> None:
    """``--url``, and ``--token`` or ``--local``; ``role`` is the local token's (reader, owner)."""
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
    parser.set_defaults(local_role=role)


def server_of(args: argparse.Namespace) -> Server:
    """The server the arguments name; UsageError when they name none, or two ways to sign in."""
    local = bool(getattr(args, "local", False))
    token = args.token or os.environ.get(TOKEN_VARIABLE) or None
    if local and args.token:
        raise UsageError("--local and --token exclude each other")
    url = args.url or (local_base_url() if local else None)
    if url is None:
        raise UsageError("give the server's base URL with --url BASE, or --local for `make run`")
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise UsageError("--url must be an http:// or https:// URL")
    if local and local_auth_requested():
        token = local_token(args.local_role)
    return Server(url, token)
