"""The API key a client of the platform's own services sends (`X-API-Key`).

The services check keys with `lakehouse.api_keys`, which needs FastAPI; clients — the
pipeline's feeder, the UI, the case queue — only need the header, so it lives here and a
pipeline run does not import a web framework.
"""

from __future__ import annotations

from typing import Literal

from lakehouse.config import Settings

Access = Literal["read", "write"]
API_KEY_HEADER = "X-API-Key"


def client_headers(settings: Settings, access: Access) -> dict[str, str]:
    """The header a client of the platform's own services sends for `access`.

    The least powerful key that works: the read key for reads when one is set, else the
    main key; no header when no key is configured.

    Args:
        settings: the client's settings.
        access: "read" or "write".

    Returns:
        `{"X-API-Key": key}` or `{}`.
    """
    key = settings.read_api_key if access == "read" else None
    key = key or settings.api_key
    return {API_KEY_HEADER: key.get_secret_value()} if key is not None else {}
