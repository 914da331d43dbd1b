"""The UI's typed client for the platform's three HTTP services.

The Streamlit pages never call HTTP themselves: they ask a `LakehouseClient` built from the
deployment's settings (`LAKEHOUSE_API_URL`, `LAKEHOUSE_API_ML_URL`, `LAKEHOUSE_SOURCES_API_URL`;
a visitor cannot change them). An API key is sent only to the services and routes that need
one — today the datamarts API's reads — never elsewhere. Answers come back as plain dicts and
lists, exactly the JSON the
services document; every failure — service down, timeout, 4xx/5xx, non-JSON body — leaves as
one `ServiceError` whose message says which service failed and what to do, so a page can show
it instead of a stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from lakehouse.client_keys import client_headers
from lakehouse.config import Settings, get_settings

# Services by the key the UI uses: (label shown to the analyst, command that starts it,
# the setting holding its URL).
SERVICES: dict[str, tuple[str, str, str]] = {
    "api_ml": ("scoring API", "lakehouse serve api-ml", "LAKEHOUSE_API_ML_URL"),
    "api": ("datamarts API", "lakehouse serve api", "LAKEHOUSE_API_URL"),
    "sources_api": ("source system", "lakehouse serve sources-api", "LAKEHOUSE_SOURCES_API_URL"),
}
DATAMART_ROUTES = ("client_features", "card_features", "velocity", "mcc_risk",
                   "time_distribution")


class ServiceError(RuntimeError):
    """A service did not give a usable answer; `str()` is the message for the analyst."""

    def __init__(self, service: str, message: str, status: int | None = None) -> None:
        self.service = service
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class Endpoints:
    """Base URLs of the three services (no trailing slash)."""

    api_url: str
    api_ml_url: str
    sources_api_url: str

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Endpoints:
        """The URLs the deployment configures (`LAKEHOUSE_API_URL` and its siblings).

        Args:
            settings: the settings to read (default: the process's settings).

        Returns:
            The three services' base URLs.
        """
        settings = settings or get_settings()
        return cls(settings.api_url, settings.api_ml_url, settings.sources_api_url)

    def url_of(self, service: str) -> str:
        """The base URL of one service, without a trailing slash.

        Args:
            service: a key of `SERVICES` ("api", "api_ml" or "sources_api").

        Returns:
            Its configured base URL.

        Raises:
            KeyError: `service` is not one of the three.
        """
        return {"api": self.api_url, "api_ml": self.api_ml_url,
                "sources_api": self.sources_api_url}[service].rstrip("/")


@dataclass(frozen=True)
class ServiceHealth:
    """One line of the sidebar: is the service up, and if not, why."""

    service: str
    label: str
    url: str
    ok: bool
    message: str


def _error_text(response: httpx.Response) -> str:
    """The service's own JSON message (`{"error": ...}`), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    return str(body)[:300]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class LakehouseClient:
    """Blocking HTTP calls to the platform's services, with analyst-readable errors."""

    def __init__(self, endpoints: Endpoints, timeout: float = 10.0,
                 read_headers: dict[str, str] | None = None) -> None:
        self.endpoints = endpoints
        self.timeout = timeout
        # The read key's header, sent on protected reads only (the datamarts), nowhere else.
        self.read_headers = read_headers or {}

    @classmethod
    def from_settings(cls, settings: Settings | None = None, timeout: float = 10.0
                      ) -> LakehouseClient:
        """The client of the deployment: configured URLs, the read key only for the datamarts API.

        The datamarts API is the one protected service the UI reads.

        Args:
            settings: the settings to read (default: the process's settings).
            timeout: seconds to wait for each answer.

        Returns:
            A client carrying the configured URLs and the read key's header.
        """
        settings = settings or get_settings()
        return cls(Endpoints.from_settings(settings), timeout, client_headers(settings, "read"))

    def _request(self, service: str, method: str, path: str, http: httpx.Client | None = None,
                 protected: bool = False, **kwargs: Any) -> Any:
        label, start_command, setting = SERVICES[service]
        if not self.endpoints.url_of(service).startswith(("http://", "https://")):
            raise ServiceError(service, f"The {label} URL must start with http:// or https://, "
                               f"not {self.endpoints.url_of(service)!r}; fix {setting}.")
        url = f"{self.endpoints.url_of(service)}{path}"
        headers = {**(self.read_headers if protected else {}), **kwargs.pop("headers", {})}
        try:
            if http is None:
                response = httpx.request(method, url, timeout=self.timeout,
                                         headers=headers, **kwargs)
            else:
                response = http.request(method, url, headers=headers, **kwargs)
        except httpx.InvalidURL as exc:
            raise ServiceError(service, f"The {label} URL is not valid ({exc}).") from exc
        except httpx.HTTPError as exc:
            raise ServiceError(
                service,
                f"The {label} does not answer at {self.endpoints.url_of(service)} "
                f"({exc.__class__.__name__}). Start it with `{start_command}` or fix "
                f"{setting}.",
            ) from exc
        if response.status_code >= 400:
            raise ServiceError(
                service, f"The {label} answered {response.status_code}: {_error_text(response)}",
                response.status_code,
            )
        try:
            return response.json()
        except ValueError as exc:
            raise ServiceError(
                service, f"The {label} at {url} did not answer JSON; is the URL right?"
            ) from exc

    # -- health -------------------------------------------------------------------------
    def health_of(self, service: str) -> ServiceHealth:
        """`GET /health` of one service; a 503 body's reason becomes the message.

        Args:
            service: a key of `SERVICES`.

        Returns:
            Its sidebar line: up with the reported status, or down with the error message.
        """
        label = SERVICES[service][0]
        url = self.endpoints.url_of(service)
        try:
            body = self._request(service, "GET", "/health")
        except ServiceError as exc:
            return ServiceHealth(service, label, url, False, str(exc))
        status = body.get("status", "ok") if isinstance(body, dict) else "ok"
        return ServiceHealth(service, label, url, True, str(status))

    def health(self) -> list[ServiceHealth]:
        """`GET /health` of every service.

        Returns:
            One `ServiceHealth` per service of `SERVICES`, in that order.
        """
        return [self.health_of(service) for service in SERVICES]

    # -- scoring API --------------------------------------------------------------------
    def model_info(self) -> dict[str, Any]:
        """`GET /model/info` of the scoring API.

        Returns:
            The served models' description, as the API documents it.

        Raises:
            ServiceError: the scoring API is down or refused the call.
        """
        return dict(self._request("api_ml", "GET", "/model/info"))

    def predict(self, transaction: dict[str, Any], reasons: str | None = None) -> dict[str, Any]:
        """`POST /predict`: score one transaction.

        Args:
            transaction: the request body (the seed fields and optional ids).
            reasons: which answers carry SHAP reasons (`flagged`, `all`, `none`); None: the
                service's default (reviews and declines only).

        Returns:
            The API's answer: `fraud_probability`, `is_fraud`, `confidence`, and which model
            answered and why.

        Raises:
            ServiceError: the scoring API is down or refused the transaction (e.g. a 422).
        """
        params = {} if reasons is None else {"reasons": reasons}
        return dict(self._request("api_ml", "POST", "/predict", json=transaction, params=params))

    def predict_each(self, transactions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`POST /predict` once per transaction, each scored alone, over one connection.

        Not `/predict/batch`: there the batch's rows are part of each other's card history,
        which changes the full model's behavioural features.

        Args:
            transactions: the request bodies, in scoring order.

        Returns:
            One answer per transaction, in the same order.

        Raises:
            ServiceError: the first call that failed.
        """
        with httpx.Client(timeout=self.timeout) as http:
            return [dict(self._request("api_ml", "POST", "/predict", http=http, json=t))
                    for t in transactions]

    def predict_batch(self, transactions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`POST /predict/batch`: score transactions together, as one card history.

        Args:
            transactions: the request bodies, in time order.

        Returns:
            The answer's `data`: one score per transaction, in the same order.

        Raises:
            ServiceError: the scoring API is down or refused the batch.
        """
        body = self._request("api_ml", "POST", "/predict/batch", json=transactions)
        return list(body["data"])

    # -- case queue (scoring API; every call but login carries the analyst's token) -------
    def login(self, username: str, password: str) -> dict[str, Any]:
        """`POST /auth/token`: the bearer token and who it belongs to.

        Args:
            username: the analyst's or lead's name.
            password: their password (sent in the body only).

        Returns:
            The token answer: `access_token`, `expires_at`, `username` and `role`.

        Raises:
            ServiceError: wrong credentials (401) or the scoring API is down.
        """
        body = {"username": username, "password": password}
        return dict(self._request("api_ml", "POST", "/auth/token", json=body))

    def cases(self, token: str, **params: Any) -> dict[str, Any]:
        """`GET /cases`: the queue, filtered by `params`.

        Args:
            token: the analyst's bearer token.
            **params: the route's query parameters (e.g. `state`, `limit`).

        Returns:
            The queue: `data`, `count`, `by_state`, `oldest_active_age_seconds`.

        Raises:
            ServiceError: an expired token (401) or the scoring API is down.
        """
        return dict(self._request("api_ml", "GET", "/cases", params=params,
                                  headers=_bearer(token)))

    def case(self, token: str, case_id: str) -> dict[str, Any]:
        """`GET /cases/{case_id}`: one case with its score, reasons, features, notes and history.

        Args:
            token: the analyst's bearer token.
            case_id: the case to read.

        Returns:
            The case detail as the API documents it.

        Raises:
            ServiceError: an unknown case (404), an expired token, or the API is down.
        """
        return dict(self._request("api_ml", "GET", f"/cases/{case_id}", headers=_bearer(token)))

    def case_action(self, token: str, case_id: str, action: str,
                    body: dict[str, Any]) -> dict[str, Any]:
        """`POST /cases/{id}/{assign|decision|notes}` with its JSON body.

        Args:
            token: the analyst's bearer token.
            case_id: the case acted on.
            action: "assign", "decision" or "notes".
            body: the action's JSON body (assignee, outcome or note).

        Returns:
            The API's answer: the case after the action.

        Raises:
            ServiceError: the action is forbidden (403), invalid (4xx), or the API is down.
        """
        return dict(self._request("api_ml", "POST", f"/cases/{case_id}/{action}", json=body,
                                  headers=_bearer(token)))

    def audit(self, token: str, case_id: str | None = None) -> list[dict[str, Any]]:
        """`GET /audit`: the append-only log of case actions, newest first.

        Args:
            token: the analyst's or lead's bearer token.
            case_id: only this case's entries (default: all the API returns).

        Returns:
            The answer's `data`: one dict per logged action.

        Raises:
            ServiceError: an expired token (401) or the scoring API is down.
        """
        params = {"case_id": case_id} if case_id else {}
        body = self._request("api_ml", "GET", "/audit", params=params, headers=_bearer(token))
        return list(body["data"])

    # -- datamarts API ------------------------------------------------------------------
    def datamart(self, route: str, **params: Any) -> list[dict[str, Any]]:
        """One page of a datamart (`limit`, `offset`, `sort`, `min_*` / `max_*`).

        Sent with the read key: the datamarts API is protected.

        Args:
            route: one of `DATAMART_ROUTES`.
            **params: the route's query parameters.

        Returns:
            The answer's `data`: the page's rows.

        Raises:
            ValueError: `route` is not a datamart route (checked before any call).
            ServiceError: the datamarts API is down or refused the call.
        """
        if route not in DATAMART_ROUTES:
            raise ValueError(f"unknown datamart route {route!r}; one of {DATAMART_ROUTES}")
        body = self._request("api", "GET", f"/{route}", protected=True, params=params)
        return list(body["data"])

    def summary(self, top: int = 10, min_labeled: int = 20) -> dict[str, Any]:
        """`GET /summary` of the datamarts API (with the read key).

        Args:
            top: rows per riskiest list.
            min_labeled: the fewest labelled purchases a group needs to enter a riskiest list.

        Returns:
            The summary as the API documents it.

        Raises:
            ServiceError: the datamarts API is down or refused the call.
        """
        return dict(self._request("api", "GET", "/summary", protected=True,
                                  params={"top": top, "min_labeled": min_labeled}))

    # -- source system ------------------------------------------------------------------
    def source_stats(self) -> dict[str, Any]:
        """`GET /transactions/stats` of the source system.

        Returns:
            The source database's transaction counts, as the service documents them.

        Raises:
            ServiceError: the source system is down.
        """
        return dict(self._request("sources_api", "GET", "/transactions/stats"))
