"""Masking of credentials in URLs before they reach a log line or a message.

Tracking, search and database URLs may carry a password in their user part; services log
where they send data (`lakehouse ml info`, the prediction audit) through `redact_url`.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """`url` with the password of its user part masked, for logs and messages.

    Args:
        url: any URL, e.g. `http://user:password@host:9200` or a database URL.

    Returns:
        The same URL with `***` instead of the password (unchanged when it has none).
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
