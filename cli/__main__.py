"""Command-line tools: ``python -m cli <command>``.

- ``prepare-local``: create the container and index on the local emulators, and rebuild the index
  from blob storage when the Cosmos emulator came up empty (it keeps nothing across restarts).
- ``reindex [--partition NAME]``: rebuild the index from blob storage (one data partition's).
- ``verify [--repair] [--partition NAME]``: compare blob storage with the index (one data
  partition's); report (and repair) orphans, ghosts, stale claims and wrong aggregates.
- ``token [--role reader|owner] --local``: print a bearer token of the local issuer of
  ``DICOMWEB_LOCAL_AUTH=1 make run`` (Entra ID tokens come from ``az account get-access-token``).
- ``import PATH... [--url BASE] [--token TOKEN | --local] [--batch N] [--concurrency N]
  [--report FILE]``: store the DICOM files of folders and zip files on any DICOMweb server with
  STOW-RS, with a progress line, retries, a summary and a per-file report (see ``cli.importer``).
- ``download STUDY [--out DIR] [--url BASE] [--token TOKEN | --local]``: write every instance of
  a study on any DICOMweb server as a file in DIR, from a zip where the server offers one and
  from multipart otherwise, with a progress line (see ``cli.download``).

The service's settings come from the environment (see the README); ``--local`` points the command
at the emulators of a running ``make run`` instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from cli import download_command, import_command
from cli.local_auth import LOCAL_DATA, local_token
from cli.progress import ProgressLine
from devhost.settings import Ports, service_env
from shared.clients import Clients, make_clients
from shared.config import load_settings
from shared.provisioning import index_is_empty, provision
from shared.services.rebuild import RebuildSummary, rebuild_index
from shared.services.verify import verify


def _report(summary: RebuildSummary) -> None:
    print(
        f"index rebuilt: {summary.instances} instances, {summary.series} series, "
        f"{summary.studies} studies ({summary.skipped} unreadable sidecars skipped)"
    )


async def _with_clients(action: str, repair: bool, partition: str | None) -> int:
    config = load_settings()
    clients: Clients = make_clients(config)
    try:
        if action == "prepare-local":
            await provision(clients)
            if await index_is_empty(clients):
                summary = await rebuild_index(clients, ProgressLine())
                if summary.instances:
                    _report(summary)
        elif action == "reindex":
            _report(await rebuild_index(clients, ProgressLine(), partition))
        elif action == "verify":
            report = await verify(
                clients, repair=repair, progress=ProgressLine(), partition=partition
            )
            for finding in report.findings:
                print(f"{finding.kind}: {finding.subject} ({finding.detail})")
            kinds = ("orphan", "ghost", "stale-claim", "aggregate")
            counts = ", ".join(f"{report.count(k)} {k}" for k in kinds)
            print(
                f"checked {report.blobs} blobs and {report.instances} instance documents: "
                f"{counts}; repaired {report.repaired}"
            )
            return 1 if report.findings and not repair else 0
        return 0
    finally:
        await clients.close()


def _token(role: str, local: bool) -> int:
    """Mint a token for the issuer and audience the local host trusts, with that host's roles."""
    if not local:
        print(
            "only the local issuer's tokens can be made here (add --local); for a deployed "
            "service: az account get-access-token --resource <audience> (see the README)",
            file=sys.stderr,
        )
        return 2
    print(local_token(role, LOCAL_DATA))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare-local", help="create the local container and index; rebuild if empty")
    rebuild = sub.add_parser("reindex", help="rebuild the index from blob storage")
    check = sub.add_parser("verify", help="compare blob storage with the index")
    check.add_argument("--repair", action="store_true", help="fix every finding")
    for command in (rebuild, check):
        command.add_argument(
            "--partition", metavar="NAME", help="only this data partition (default: all of them)"
        )
    token = sub.add_parser("token", help="print a bearer token of the local issuer")
    token.add_argument("--role", choices=("reader", "owner"), default="owner")
    # Also accepted after the command; SUPPRESS keeps it from resetting a --local given before.
    token.add_argument("--local", action="store_true", default=argparse.SUPPRESS)
    import_command.add_parser(sub)
    download_command.add_parser(sub)
    parser.add_argument(
        "--local",
        action="store_true",
        help="use the local emulators of `make run` (honours its port variables)",
    )
    args = parser.parse_args(argv)
    if args.command == "token":
        return _token(args.role, args.local)
    if args.command == "import":
        return import_command.run(args)
    if args.command == "download":
        return download_command.run(args)
    if args.local:
        os.environ.update(service_env(Ports.from_env()))
    repair, partition = getattr(args, "repair", False), getattr(args, "partition", None)
    return asyncio.run(_with_clients(args.command, repair, partition))


if __name__ == "__main__":
    sys.exit(main())
