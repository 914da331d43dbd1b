"""The one API-key check of every service (sources_api, api, api_ml).

Keys come from the settings: `LAKEHOUSE_API_KEY` opens everything protected (writes, admin,
reads), `LAKEHOUSE_READ_API_KEY` opens the protected reads only (for a reader such as the
pipeline's feeder or the UI, which should not be able to write). With no key configured for
an access level, that level is open (the embedded mode). The client sends its key in the
`X-API-Key` header, and every service answers the same way:

- 401 when the header is missing (a key is configured),
- 403 when it matches no key allowed for the route,
- the comparison is constant-time over bytes, so the answer's timing does not reveal how much
  of a key matched, and any header (non-ASCII included) gets 403, never 500.

Routes use `api_key_dependency(...)`; code that decides per request (sources_api protects
some files, not others) calls `check_api_key` itself. What a client sends is in
`lakehouse.client_keys`, which does not import FastAPI (the pipeline is such a client).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, status

from lakehouse.client_keys import API_KEY_HEADER, Access
from lakehouse.config import Settings

# An optional header parameter, not an OpenAPI security scheme: without configured keys the
# routes are open, and a required scheme would tell clients (and schemathesis) otherwise.
_HEADER_DOC = (
    "Needed on this route when the service runs with LAKEHOUSE_API_KEY (or, for reads, "
    "LAKEHOUSE_READ_API_KEY) set: 401 without it, 403 when it matches no key."
)
# Use as `given: GivenKey = None`.
GivenKey = Annotated[str | None, Header(alias=API_KEY_HEADER, description=_HEADER_DOC)]


def allowed_keys(settings: Settings, access: Access) -> list[bytes]:
    """The configured keys that open `access`: the main key always, the read key for reads.

    Args:
        settings: the service's settings.
        access: "read" or "write" (writes include administrative routes).

    Returns:
        The keys as bytes; empty when that access level is open.
    """
    keys = [settings.api_key]
    if access == "read":
        keys.append(settings.read_api_key)
    return [key.get_secret_value().encode() for key in keys if key is not None]


def check_api_key(settings: Settings, given: str | None, access: Access) -> None:
    """Let the request through, or raise 401 (no key sent) / 403 (no key matches).

    Args:
        settings: the service's settings.
        given: the X-API-Key header as the server decoded it (latin-1), or None.
        access: the access level the route needs.
    """
    keys = allowed_keys(settings, access)
    if not keys:
        return
    if not given:
        settings_named = "LAKEHOUSE_API_KEY" + (
            " or LAKEHOUSE_READ_API_KEY" if access == "read" else ""
        )
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"this route needs the {API_KEY_HEADER} header (the service runs with "
            f"{settings_named} set)",
        )
    # HTTP headers arrive as bytes decoded as latin-1: encoding back gives the bytes sent.
    sent = given.encode("latin-1", errors="replace")
    matched = False
    for key in keys:  # no early exit: every key is compared, whatever matches
        matched |= hmac.compare_digest(sent, key)
    if not matched:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"the {API_KEY_HEADER} header does not match any key allowed to {access} here",
        )


def api_key_dependency(settings_dependency: Callable[..., Settings], access: Access) -> Any:
    """A route dependency (`dependencies=[...]`) that checks the key for `access`.

    Args:
        settings_dependency: how the service gets its settings (`get_settings`, or a function
            reading them from the app), so test overrides apply to the check too.
        access: "read" or "write".

    Returns:
        A `Depends(...)` marker.
    """

    # Defaults, not Annotated: under postponed annotations a closure variable inside an
    # annotation could not be resolved by FastAPI.
    def require_api_key(
        settings: Settings = Depends(settings_dependency),
        given: str | None = Header(None, alias=API_KEY_HEADER, description=_HEADER_DOC),
    ) -> None:
        check_api_key(settings, given, access)

    return Depends(require_api_key)
