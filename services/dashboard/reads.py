"""What the dashboard asks the services, always with the logged-in person's own token: the
services scope a company token to its own commitments and audit every call under its name, as
they would the CLI's. The dashboard never reads a database.

`Apis` is the one seam: `HttpApis` speaks HTTP (httpx), the unit tests hand in a fake."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from services.dashboard import domain
from services.dashboard.settings import DashboardSettings
from shared import clock
from shared.http_access import Caller, Role
from shared.report import build_report

SERVICES = ("registry", "sponsorship", "notifications")


class ApiError(Exception):
    """A service did not answer as it should (down, refused, not JSON)."""

    def __init__(self, service: str, path: str, status: int | None, message: str) -> None:
        super().__init__(f"{service} {path}: {message}")
        self.service = service
        self.path = path
        self.status = status


class NotFound(ApiError):
    """The service's own 404 (nothing it would show this token)."""


class Apis(Protocol):
    async def get(
        self, service: str, path: str, token: str, params: Mapping[str, str] | None = None
    ) -> Any: ...


class HttpApis:
    """The services' GET /api/... over HTTP, one connection pool for all of them."""

    def __init__(
        self, settings: DashboardSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.urls = {
            "registry": settings.registry_url,
            "sponsorship": settings.sponsorship_url,
            "notifications": settings.notifications_url,
        }
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.http_timeout_s),
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "muba-dashboard"},
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(self, service: str, path: str, token: str, params: Mapping[str, str] | None = None) -> Any:
        try:
            response = await self._client.get(
                self.urls[service] + path,
                params=dict(params or {}),
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            raise ApiError(service, path, None, f"no answer ({type(exc).__name__})") from None
        if response.status_code == 404 and response.headers.get("content-type", "").startswith(
            "application/json"
        ):
            raise NotFound(service, path, 404, "not found")
        if response.status_code != 200:
            raise ApiError(service, path, response.status_code, f"HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise ApiError(service, path, 200, "not JSON") from None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


async def office_report(apis: Apis, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """build_report of the same four answers `muba report` joins; and sponsorship's own report
    (for its daily enrollments and ledger, which the joined report leaves out)."""
    registry, sponsorship, notifications, coverage = await asyncio.gather(
        apis.get("registry", "/api/report", token),
        apis.get("sponsorship", "/api/report", token),
        apis.get("notifications", "/api/report", token),
        apis.get("sponsorship", "/api/coverage", token),
    )
    sponsorship = _object(sponsorship)
    report = build_report(_object(registry), sponsorship, _object(notifications), _object(coverage))
    return report, sponsorship


async def office_data(apis: Apis, token: str, caller: Caller) -> dict[str, Any]:
    """The office's page (an auditor's: the same, marked masked; the services mask for it)."""
    (report, sponsorship), invoices = await asyncio.gather(
        office_report(apis, token), apis.get("sponsorship", "/api/invoices", token)
    )
    return domain.office_page(
        report,
        sponsorship,
        _list(invoices),
        today=clock.today_in_jakarta(),
        now=clock.now(),
        masked=caller.role is not Role.OFFICE,
    )


async def _or_none(apis: Apis, service: str, path: str, token: str, params: Mapping[str, str]) -> Any:
    try:
        return await apis.get(service, path, token, params)
    except NotFound:
        return None


async def company_data(
    apis: Apis, token: str, caller: Caller, renewal_notice_days: int, selected: str | None = None
) -> dict[str, Any]:
    """A company's own page. Its company is the token's (never a parameter of the request); a
    `selected` commitment that is not among the token's own is refused as unknown (NotFound),
    before anything else is asked, as sponsorship itself would answer."""
    if caller.role is not Role.COMPANY or not caller.company_id:
        raise PermissionError("a company's page needs a company token")
    company = caller.company_id
    commitments = [
        c
        for c in _list(await apis.get("sponsorship", "/api/commitments", token))
        if c.get("company_id") == company
    ]
    ids = [str(c.get("commitment_id")) for c in commitments]
    if selected is not None and selected not in ids:
        raise NotFound("sponsorship", "/api/enrollments", 404, "no commitment with this id")
    wanted = [selected] if selected is not None else ids
    answers = await asyncio.gather(
        *(_or_none(apis, "sponsorship", "/api/enrollments", token, {"commitment_id": cid}) for cid in wanted),
        _or_none(apis, "sponsorship", "/api/payments", token, {"company_id": company}),
        apis.get("sponsorship", "/api/invoices", token),
    )
    enrollments = {
        cid: _list(_object(answer).get("enrollments"))
        for cid, answer in zip(wanted, answers[: len(wanted)], strict=True)
        if _object(answer).get("company_id") in (None, company)
    }
    payments, invoices = answers[len(wanted)], answers[len(wanted) + 1]
    return domain.company_page(
        company,
        commitments,
        enrollments,
        _object(payments) if payments is not None else None,
        _list(invoices),
        today=clock.today_in_jakarta(),
        now=clock.now(),
        renewal_notice_days=renewal_notice_days,
        selected=selected,
    )
