"""Fetching reference files from sources_api, conditionally.

sources_api answers every `GET /files/{name}` with an ETag (a digest of the file's content)
and Last-Modified, and answers 304 without a body when the request's If-None-Match or
If-Modified-Since names the current file (`lakehouse.sources.files`). The feeder keeps the
validators of the copy bronze holds (`lakehouse.pipeline.reference_feed`) and sends them back,
so a run with nothing new does not download the files again (at full scale the labels file
is 160 MB).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakehouse.config import Settings
from lakehouse.retry import call_with_retries

if TYPE_CHECKING:
    import httpx


class SourceUnavailableError(RuntimeError):
    """The source system could not be reached; transient, so the orchestrator retries it."""


@dataclass(frozen=True)
class Validators:
    """What sources_api said identifies one version of a file (either may be empty)."""

    etag: str = ""
    last_modified: str = ""

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Validators:
        """The validators of an HTTP answer.

        Args:
            headers: the response headers (case-insensitive mapping).

        Returns:
            Its ETag and Last-Modified, empty when absent.
        """
        return cls(headers.get("etag", ""), headers.get("last-modified", ""))

    def conditional_headers(self) -> dict[str, str]:
        """The request headers that ask for the file only if it changed.

        Returns:
            If-None-Match and/or If-Modified-Since; empty when no validator is known.
        """
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True)
class FetchedFile:
    """A reference file as fetched: its bytes (None: unchanged, 304) and its validators."""

    data: bytes | None
    validators: Validators


def fetch_reference_file(
    base_url: str,
    name: str,
    settings: Settings,
    *,
    known: Validators | None = None,
    client: httpx.Client | None = None,
    timeout: float = 120.0,
    headers: dict[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchedFile:
    """GET `{base_url}/files/{name}` from sources_api, retrying connection errors and 5xx.

    Args:
        base_url: sources_api's base URL.
        name: one of the reference file names.
        settings: the retry policy's attempts and deadline (`lakehouse.retry`); inside a
            stage retry the fetch shares the stage's deadline.
        known: the validators of the copy the caller holds: when sources_api says it is
            current (304), no bytes are transferred. None: fetch unconditionally.
        client: an HTTP client to reuse across files (building one loads the CA
            certificates, ~0.1 CPU s); None: one for this request.
        timeout: seconds per request.
        headers: the API key (card and client files need one when sources_api has keys).
        sleep: how to wait between attempts (replaced in tests).

    Returns:
        The file's bytes (None when `known` is current) and the validators of the answer.

    Raises:
        SourceUnavailableError: sources_api unreachable (or 5xx) after the retries.
        RuntimeError: any other answer than 200, or 304 to an unconditional request.
    """
    import httpx

    url = f"{base_url.rstrip('/')}/files/{name}"
    conditional = known.conditional_headers() if known is not None else {}
    request_headers = {**(headers or {}), **conditional}

    def unavailable(reason: object) -> SourceUnavailableError:
        return SourceUnavailableError(
            f"sources_api not reachable at {url} ({reason}); start it with "
            "`lakehouse serve sources-api` or point LAKEHOUSE_SOURCES_API_URL at it"
        )

    def get_once() -> FetchedFile:
        try:
            if client is None:
                response = httpx.get(url, timeout=timeout, headers=request_headers)
            else:
                response = client.get(url, timeout=timeout, headers=request_headers)
        except httpx.TransportError as exc:
            raise unavailable(exc) from exc
        if response.status_code >= 500:
            raise unavailable(f"HTTP {response.status_code}")
        if response.status_code == 304 and known is not None and conditional:
            return FetchedFile(None, known)
        if response.status_code != 200:
            raise RuntimeError(
                f"sources_api answered {response.status_code} for {url}: "
                f"{response.text[:200]}; check that the raw folder holds {name}"
            )
        return FetchedFile(response.content, Validators.from_headers(response.headers))

    return call_with_retries(
        get_once, settings, retry_on=(SourceUnavailableError,), what=f"GET {url}", sleep=sleep
    )
