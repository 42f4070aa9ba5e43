"""Bearer tokens of the local issuer that ``DICOMWEB_LOCAL_AUTH=1 make run`` trusts."""

from __future__ import annotations

import os
from pathlib import Path

from devhost.local_issuer import LocalIssuer
from devhost.settings import Ports, base_url, local_auth_env
from shared.config import LOCAL_ISSUER_KEY, load_auth_settings

LOCAL_DATA = Path(__file__).resolve().parent.parent / ".local"


def local_token(role: str, data_dir: Path = LOCAL_DATA) -> str:
    """A token for the issuer and audience the local host trusts, with that host's role names.

    ``data_dir`` holds the issuer's signing key (``.local`` of ``make run``). The settings are put
    in the environment because the role names are read from there, as the local host reads them.
    """
    ports = Ports.from_env()
    settings = local_auth_env(ports, data_dir)
    os.environ.update(settings)
    auth = load_auth_settings()
    roles = [auth.owner_role if role == "owner" else auth.reader_role]
    issuer = LocalIssuer(settings["DICOMWEB_AUTH_ISSUER"], Path(settings[LOCAL_ISSUER_KEY]))
    return issuer.mint(auth.audiences[0], roles)


def local_base_url() -> str:
    """The v2 base URL of a running ``make run`` (honours ``DICOMWEB_PORT``)."""
    return f"{base_url(Ports.from_env())}/v2"
