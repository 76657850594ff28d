"""The services' APIs (GET /api/..., and PUT /api/tariffs for the office), as the operator's token
allows. Never the databases."""

from __future__ import annotations

from typing import Any, cast

import httpx

from muba.config import Config
from muba.errors import CliError, DataError, NotRunning, not_running


class NotFound(CliError):
    """The API answered 404 for a lookup (e.g. no worker with this NIK)."""


class Api:
    """One HTTP client for the three services; every request carries the operator's bearer token."""

    def __init__(self, config: Config, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self._client = httpx.Client(
            headers={
                "Authorization": f"Bearer {config.operator_token}",
                "Accept": "application/json",
                "User-Agent": "muba-cli",
            },
            timeout=httpx.Timeout(config.http_timeout_s),
            transport=transport,
            follow_redirects=False,
        )

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # --- transport ------------------------------------------------------------------------------

    def get(self, service: str, base_url: str, path: str, params: dict[str, str] | None = None) -> Any:
        """GET base_url + path and return the JSON body; map every failure to a CliError."""
        return self.request("GET", service, base_url, path, params)

    def request(
        self,
        method: str,
        service: str,
        base_url: str,
        path: str,
        params: dict[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        """`method` base_url + path (a JSON body, if any) and return the JSON answer; every failure
        is a CliError."""
        url = base_url + path
        try:
            response = self._client.request(method, url, params=params, json=body)
        except httpx.TimeoutException:
            raise not_running(
                base_url, f"{service} did not answer within {self.config.http_timeout_s:g} s"
            ) from None
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise not_running(base_url, f"{service}: {exc or type(exc).__name__}") from None
        except httpx.InvalidURL as exc:
            raise DataError(f"the {service} URL {base_url!r} is not valid: {exc}") from None
        except httpx.HTTPError as exc:
            raise not_running(base_url, f"{service}: {exc or type(exc).__name__}") from None
        error = _error_text(response)
        if response.status_code == 401:
            raise DataError(
                f"{service} refused the operator token (HTTP 401): {error}",
                hint="set MUBA_OPERATOR_TOKEN (or MUBA_OPERATOR_TOKEN_FILE) to an office token the"
                " services were started with",
            )
        if response.status_code == 403:
            raise DataError(
                f"{service} refused the request (HTTP 403): {error}",
                hint="the CLI needs an office token (MUBA_OPERATOR_TOKEN); this one has another role",
            )
        if response.status_code == 404:
            if not _is_api_error(response):
                # Not the API's own "not found" (a JSON {"error": ...}): the route itself is missing.
                raise NotRunning(
                    f"{service} at {base_url} does not offer {method} {path} (HTTP 404); "
                    f"is {base_url} the {service} service, and a version with the operator API?"
                )
            raise NotFound(error)
        if 400 <= response.status_code < 500:
            raise DataError(f"{service} refused the request (HTTP {response.status_code}): {error}")
        if response.status_code >= 500:
            raise NotRunning(
                f"{service} at {base_url} failed (HTTP {response.status_code}): {error}",
                hint="see the service's log; `curl <url>/readyz` shows whether Kafka and PostgreSQL answer",
            )
        try:
            return response.json()
        except ValueError:
            raise NotRunning(
                f"{service} at {base_url} did not answer with JSON (HTTP {response.status_code}); "
                f"is {base_url} really the {service} service?"
            ) from None

    # --- registry -------------------------------------------------------------------------------

    def registry_worker(self, nik: str) -> dict[str, Any] | None:
        try:
            body = self.get("registry", self.config.registry_url, "/api/workers", {"nik": nik})
        except NotFound:
            return None
        return _object(body, "registry /api/workers")

    def submission_ids(self, source: str) -> set[str]:
        body = _object(
            self.get("registry", self.config.registry_url, "/api/submissions", {"source": source}),
            "registry /api/submissions",
        )
        ids = body.get("submission_ids")
        if not isinstance(ids, list):
            raise NotRunning("registry /api/submissions answered without a submission_ids list")
        return {str(i) for i in ids}

    def registry_report(self) -> dict[str, Any]:
        return _object(self.get("registry", self.config.registry_url, "/api/report"), "registry /api/report")

    # The funder lists (services/registry/domain/funders.py): who another payer already funds.

    def import_funders(self, body: dict[str, Any]) -> dict[str, Any]:
        """Replace a funder's list (PUT /api/funders, office); a refusal names the field."""
        answer = self.request("PUT", "registry", self.config.registry_url, "/api/funders", body=body)
        return _object(answer, "registry /api/funders")

    def funders(self) -> dict[str, Any]:
        return _object(
            self.get("registry", self.config.registry_url, "/api/funders"), "registry /api/funders"
        )

    def funders_check(self, nik: str) -> dict[str, Any]:
        return _object(
            self.get("registry", self.config.registry_url, "/api/funders/check", {"nik": nik}),
            "registry /api/funders/check",
        )

    # --- sponsorship ----------------------------------------------------------------------------

    def sponsorship_worker(self, worker_id: str) -> dict[str, Any] | None:
        try:
            body = self.get(
                "sponsorship", self.config.sponsorship_url, "/api/workers", {"worker_id": worker_id}
            )
        except NotFound:
            return None
        return _object(body, "sponsorship /api/workers")

    def worker_months(self, worker_id: str) -> dict[str, Any] | None:
        """A worker's contribution months (None: none yet, or not this token's to see)."""
        try:
            body = self.get(
                "sponsorship", self.config.sponsorship_url, "/api/months", {"worker_id": worker_id}
            )
        except NotFound:
            return None
        return _object(body, "sponsorship /api/months")

    def payments(self, company_id: str) -> dict[str, Any] | None:
        """A company's payments and the months they paid (None: none recorded)."""
        try:
            body = self.get(
                "sponsorship", self.config.sponsorship_url, "/api/payments", {"company_id": company_id}
            )
        except NotFound:
            return None
        return _object(body, "sponsorship /api/payments")

    def commitments(self) -> list[dict[str, Any]]:
        body = self.get("sponsorship", self.config.sponsorship_url, "/api/commitments")
        return _list_of_objects(body, "sponsorship /api/commitments")

    def commitment_quote(self, package: str, months: int, slots: int) -> dict[str, Any]:
        """The budget sponsorship would give such a commitment today (its tariffs, its discount setting)."""
        params = {"package": package, "months": str(months), "slots": str(slots)}
        body = self.get("sponsorship", self.config.sponsorship_url, "/api/commitment-quote", params)
        return _object(body, "sponsorship /api/commitment-quote")

    def tariffs(self) -> dict[str, Any]:
        """The tariff table sponsorship prices from (GET /api/tariffs): version, table, setting."""
        body = self.get("sponsorship", self.config.sponsorship_url, "/api/tariffs")
        return _object(body, "sponsorship /api/tariffs")

    def load_tariffs(self, document: Any) -> dict[str, Any]:
        """Replace the tariff table (PUT /api/tariffs, office); a refusal names the rows and why."""
        body = self.request("PUT", "sponsorship", self.config.sponsorship_url, "/api/tariffs", body=document)
        return _object(body, "sponsorship /api/tariffs")

    def sponsorship_report(self) -> dict[str, Any]:
        return _object(
            self.get("sponsorship", self.config.sponsorship_url, "/api/report"), "sponsorship /api/report"
        )

    def coverage(self) -> dict[str, Any]:
        """The coverage job's days, their totals and each commitment's budget burn."""
        return _object(
            self.get("sponsorship", self.config.sponsorship_url, "/api/coverage"), "sponsorship /api/coverage"
        )

    # --- notifications --------------------------------------------------------------------------

    def notifications(self, worker_id: str) -> list[dict[str, Any]]:
        try:
            body = self.get(
                "notifications",
                self.config.notifications_url,
                "/api/notifications",
                {"worker_id": worker_id},
            )
        except NotFound:
            return []
        return _list_of_objects(body, "notifications /api/notifications")

    def notifications_report(self) -> dict[str, Any]:
        return _object(
            self.get("notifications", self.config.notifications_url, "/api/report"),
            "notifications /api/report",
        )

    # --- every service ------------------------------------------------------------------------

    def service_url(self, service: str) -> str:
        return {
            "registry": self.config.registry_url,
            "sponsorship": self.config.sponsorship_url,
            "notifications": self.config.notifications_url,
        }[service]

    def parked_outbox_rows(self, service: str, topic: str | None = None) -> dict[str, Any]:
        """The service's parked outbox rows (GET /api/outbox/parked): {"parked": n, "rows": [...]}."""
        params = {"limit": "1000"} | ({"topic": topic} if topic else {})
        body = _object(
            self.get(service, self.service_url(service), "/api/outbox/parked", params),
            f"{service} /api/outbox/parked",
        )
        if not isinstance(body.get("rows"), list):
            raise NotRunning(f"{service} /api/outbox/parked answered without a rows list")
        return body


def _error_text(response: httpx.Response) -> str:
    if response.is_success:
        return ""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return cast(str, body["error"])
    return str(body)[:200]


def _is_api_error(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "error" in body


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise NotRunning(f"{what} answered {type(body).__name__}, expected a JSON object")
    return cast(dict[str, Any], body)


def _list_of_objects(body: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise NotRunning(f"{what} answered {type(body).__name__}, expected a JSON list of objects")
    return cast(list[dict[str, Any]], body)
