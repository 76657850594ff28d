"""The dashboard without servers: the pages' figures from the report (the same build_report as
`muba report`), the session cookie and the brake on failed logins, and a company's confinement to
its own data, with the services replaced by an in-memory fake that scopes as they do."""

import asyncio
import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.dashboard import domain, reads, sessions
from services.dashboard.app import CONTENT_SECURITY_POLICY, create_app
from services.dashboard.settings import DashboardSettings
from shared.http_access import AccessConfigError, Caller, Role
from shared.report import build_report

OFFICE = "kantor-" + "o" * 24
AUDITOR = "auditor-" + "a" * 24
ALPHA = "alpha-csr-" + "1" * 24
BETA = "beta-csr-" + "2" * 24
TODAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 3, 5, tzinfo=UTC)  # 10:05 WIB

REGISTRY = {
    "submissions": {"registered": 12, "rejected": 3},
    "registered_by_kecamatan": {"Sekayu": 7, "Sungai Lilin": 5},
    "registered_by_occupation": {"penyadap karet": 7, "buruh kebun sawit": 5},
    "rejected_by_code": {"NIK_FORMAT": 2, "PHONE_INVALID": 1},
    "rejected_by_kecamatan": {"Sekayu": 3},
}
SPONSORSHIP = {
    "target": 10_000,
    "enrolled": 9,
    "requested": 1,
    "waitlisted": 2,
    "failed": 0,
    "by_kecamatan": {
        "Sekayu": {"enrolled": 5, "waitlisted": 2, "failed": 0},
        "Sungai Lilin": {"enrolled": 4},
    },
    "by_company": {
        "PT Alpha Sawit": {
            "enrolled": 5,
            "slots": 10,
            "slots_used": 6,
            "budget_idr": 2_016_000,
            "budget_used_idr": 1_008_000,
        },
        "PT Beta Energi": {
            "enrolled": 4,
            "slots": 10,
            "slots_used": 4,
            "budget_idr": 2_016_000,
            "budget_used_idr": 806_400,
        },
    },
    "by_occupation": {
        "penyadap karet": {"enrolled": 5, "waitlisted": 2},
        "buruh kebun sawit": {"enrolled": 4},
    },
    "enrolled_by_day": [{"day": "2026-11-18", "enrolled": 4}, {"day": "2026-11-19", "enrolled": 5}],
    "ledger": [{"commitment_id": "alpha-2026", "ledger_idr": {"invoiced": 84_000, "paid": 16_800}}],
    "budget_committed_idr": 4_032_000,
    "budget_used_idr": 1_814_400,
}
NOTIFICATIONS = {
    "queued": 0,
    "sent": 3,
    "delivered": 1_210,
    "failed": 1,
    "sms_segments": 2_500,
    "by_channel": {"sms": 1_213},
}
COVERAGE = {
    "days": [
        {
            "day": "2026-11-20",
            "workers_covered": 9,
            "workers_uncovered": 0,
            "unplanned_gaps": 0,
            "members_at_risk": 1,
        }
    ],
    "totals": {"coverage_days_lost": 0, "unplanned_gap_days": 0},
    "commitments": [
        {"commitment_id": "alpha-2026", "company_name": "PT Alpha Sawit", "budget_idr": 2_016_000}
    ],
}
INVOICES = [
    {"invoice_id": "i1", "number": "INV/2026/11/ALPHA", "company_id": "co-alpha", "company_name": "PT Alpha Sawit",
     "month": "2026-11", "total_idr": 84_000, "due_date": "2026-11-25"},
    {"invoice_id": "i0", "number": "INV/2026/10/ALPHA", "company_id": "co-alpha", "company_name": "PT Alpha Sawit",
     "month": "2026-10", "total_idr": 84_000, "due_date": "2026-10-15"},
    {"invoice_id": "i2", "number": "INV/2026/11/BETA", "company_id": "co-beta", "company_name": "PT Beta Energi",
     "month": "2026-11", "total_idr": 67_200, "due_date": "2026-11-25"},
]  # fmt: skip


def _commitment(cid: str, company: str, name: str) -> dict[str, Any]:
    return {
        "commitment_id": cid, "company_id": company, "company_name": name, "kecamatan": ["Sekayu"],
        "slots": 10, "slots_used": 2, "months": 12, "package": "JKK_JKM", "budget_idr": 2_016_000,
        "budget_used_idr": 403_200, "enrolled": 2, "requested": 0,
    }  # fmt: skip


def _enrollment(worker: str, nik: str, name: str, phone: str, end: str) -> dict[str, Any]:
    return {
        "worker_id": worker, "nik_masked": nik, "full_name": name, "phone_masked": phone,
        "kecamatan_name": "Sekayu", "occupation": "penyadap karet", "status": "confirmed",
        "kpj_number": "16*****0001", "coverage_start": "2026-01-01", "coverage_end": end,
    }  # fmt: skip


COMMITMENTS = {
    "co-alpha": _commitment("alpha-2026", "co-alpha", "PT Alpha Sawit"),
    "co-beta": _commitment("beta-2026", "co-beta", "PT Beta Energi"),
}
ENROLLMENTS = {
    # What a careless service might send: names and NIKs in full. The page masks them anyway.
    "alpha-2026": [
        _enrollment("w-a1", "1606015208900003", "Siti Aminah", "+6281234567890", "2026-12-31"),
        _enrollment("w-a2", "160601********11", "B*** S***", "+62812****1111", "2026-12-31"),
    ],
    "beta-2026": [_enrollment("w-b1", "1606074101900021", "Rahmat Hidayat", "+6281399998888", "2027-06-30")],
}
PAYMENTS = {
    "co-alpha": {
        "company_id": "co-alpha",
        "credit_idr": 500,
        "payments": [
            {"reference": "BSB-TRF-0001", "paid_on": "2026-11-10", "amount_idr": 33_600,
             "lines": [{"month": "2026-01", "worker_id": "w-a1", "amount_idr": 16_800, "state": "confirmed",
                        "confirmed_at": "2026-11-10T03:00:00+00:00"},
                       {"month": "2026-01", "worker_id": "w-a2", "amount_idr": 16_800, "state": "paid"}]},
        ],
    },
}  # fmt: skip


class FakeServices:
    """The services' GET /api/... as they answer each token: a company token sees its own
    commitments, enrollments, payments and invoices only (unknown ones: 404), never the report."""

    ROLES: Mapping[str, Caller] = {
        OFFICE: Caller("kantor", Role.OFFICE),
        AUDITOR: Caller("bpk", Role.AUDITOR),
        ALPHA: Caller("alpha-csr", Role.COMPANY, "co-alpha"),
        BETA: Caller("beta-csr", Role.COMPANY, "co-beta"),
    }

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, dict[str, str]]] = []

    async def get(self, service: str, path: str, token: str, params: Mapping[str, str] | None = None) -> Any:
        params = dict(params or {})
        caller = self.ROLES[token]
        self.calls.append((service, path, caller.name, params))
        company = caller.company_id
        if path in ("/api/report", "/api/coverage"):
            if company is not None:
                raise reads.ApiError(service, path, 403, "HTTP 403")
            return {
                ("registry", "/api/report"): REGISTRY,
                ("sponsorship", "/api/report"): SPONSORSHIP,
                ("notifications", "/api/report"): NOTIFICATIONS,
                ("sponsorship", "/api/coverage"): COVERAGE,
            }[(service, path)]
        if path == "/api/commitments":
            return [c for c in COMMITMENTS.values() if company in (None, c["company_id"])]
        if path == "/api/enrollments":
            found = next(
                (c for c in COMMITMENTS.values() if c["commitment_id"] == params.get("commitment_id")), None
            )
            if found is None or company not in (None, found["company_id"]):
                raise reads.NotFound(service, path, 404, "no commitment with this id")
            return {"commitment_id": found["commitment_id"], "company_id": found["company_id"],
                    "enrollments": ENROLLMENTS[found["commitment_id"]]}  # fmt: skip
        if path == "/api/payments":
            wanted = params.get("company_id", "")
            if (company is not None and wanted != company) or wanted not in PAYMENTS:
                raise reads.NotFound(service, path, 404, "no payments of this company")
            return PAYMENTS[wanted]
        if path == "/api/invoices":
            return [i for i in INVOICES if company in (None, i["company_id"])]
        raise AssertionError(f"unexpected {service} {path}")


def settings(**extra: Any) -> DashboardSettings:
    values: dict[str, Any] = {"DASHBOARD_LOGIN_FAILURE_DELAY_S": 0, **extra}
    return DashboardSettings(**values)


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text(
        f"kantor office {OFFICE}\nbpk auditor {AUDITOR}\nalpha-csr company:co-alpha {ALPHA}\n"
        f"beta-csr company:co-beta {BETA}\n"
    )
    return path


@pytest.fixture
def client(tokens_file: Path) -> httpx.AsyncClient:
    app = create_app(settings(MUBA_API_TOKENS_FILE=str(tokens_file)), apis=FakeServices())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


async def login(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/login", data={"token": token})


# --- the office's figures ---------------------------------------------------------------------------


def office() -> dict[str, Any]:
    report = build_report(REGISTRY, SPONSORSHIP, NOTIFICATIONS, COVERAGE)
    return domain.office_page(report, SPONSORSHIP, INVOICES, today=TODAY, now=NOW, masked=False)


def test_the_office_page_carries_the_report_and_writes_its_figures_the_indonesian_way() -> None:
    page = office()
    assert page["report"] == build_report(REGISTRY, SPONSORSHIP, NOTIFICATIONS, COVERAGE)
    figures = page["figures"]
    assert figures["enrolled"] == {"value": 9, "text": "9"}
    assert figures["target"] == {"value": 10_000, "text": "10.000"}
    assert figures["progress_percent"] == {"value": 0.09, "text": "0,09%"}
    assert figures["budget_committed_idr"] == {"value": 4_032_000, "text": "Rp4.032.000"}
    assert figures["budget_used_idr"]["text"] == "Rp1.814.400"
    assert figures["budget_used_percent"]["text"] == "45,0%"
    assert figures["members_at_risk"]["value"] == 1 and figures["unplanned_gaps"]["value"] == 0
    assert figures["coverage_day"]["text"] == "20 November 2026"
    # Due from today on: the two November invoices, not October's.
    assert figures["invoices_due"]["value"] == 2 and figures["invoices_due_idr"]["text"] == "Rp151.200"
    assert [row[0] for row in page["tables"]["invoices"]] == ["INV/2026/11/ALPHA", "INV/2026/11/BETA"]
    assert figures["unpaid_invoiced_idr"]["text"] == "Rp84.000"
    assert page["updated"] == "20 November 2026 10:05 WIB"  # Jakarta time
    # Messages as the providers answered them.
    assert figures["messages_delivered"] == {"value": 1_210, "text": "1.210"}
    assert figures["messages_sent"]["value"] == 3 and figures["messages_failed"]["value"] == 1
    assert figures["messages_sms_segments"]["text"] == "2.500"


def test_the_kecamatan_grid_has_all_fifteen_in_code_order_with_a_shade_by_enrolment() -> None:
    grid = office()["grid"]
    assert len(grid) == 15 and grid[0]["kecamatan"] == "Sekayu" and grid[-1]["kecamatan"] == "Jirak Jaya"
    by_name = {tile["kecamatan"]: tile for tile in grid}
    assert by_name["Sekayu"]["level"] == domain.GRID_LEVELS and by_name["Sekayu"]["enrolled"] == 5
    assert 0 < by_name["Sungai Lilin"]["level"] <= domain.GRID_LEVELS
    assert by_name["Lalan"]["level"] == 0
    assert by_name["Sekayu"]["detail"] == "menunggu 2 · ditolak 3"


def test_progress_over_time_is_the_running_total_of_daily_confirmations() -> None:
    page = office()
    assert [(d["day"], d["cumulative"]) for d in page["timeline"]] == [("2026-11-18", 4), ("2026-11-19", 9)]
    assert page["charts"]["timeline"]["labels"] == ["17 Nov", "18 Nov", "19 Nov"]
    assert page["charts"]["timeline"]["datasets"][0]["data"] == [0, 4, 9]


def test_rejections_are_named_in_bahasa_indonesia_most_frequent_first() -> None:
    page = office()
    assert page["tables"]["rejections"] == [
        ["NIK bukan 16 angka", "NIK_FORMAT", "2"],
        ["Nomor HP tidak valid", "PHONE_INVALID", "1"],
    ]
    assert page["charts"]["rejections"]["labels"][0] == "NIK bukan 16 angka"


def test_an_empty_programme_renders_zeros_not_errors() -> None:
    report = build_report({}, {}, {}, {})
    page = domain.office_page(report, {}, [], today=TODAY, now=NOW, masked=True)
    assert (
        page["figures"]["enrolled"]["text"] == "0"
        and page["figures"]["coverage_day"]["text"] == "belum dihitung"
    )
    assert page["tables"]["companies"] == [] and page["masked"] is True


# --- a company's page -----------------------------------------------------------------------------


def alpha_page(selected: str | None = None) -> dict[str, Any]:
    return domain.company_page(
        "co-alpha",
        list(COMMITMENTS.values()),  # even were another's in the answer: only its own are kept
        ENROLLMENTS,
        PAYMENTS["co-alpha"],
        INVOICES,
        today=TODAY,
        now=NOW,
        renewal_notice_days=60,
        selected=selected,
    )


def test_a_company_page_masks_its_workers_whatever_the_service_sent() -> None:
    page = alpha_page()
    text = repr(page)
    assert "1606015208900003" not in text and "Siti Aminah" not in text and "81234567890" not in text
    workers = page["tables"]["workers"]
    assert workers[0][:3] == ["S*** A***", "160601********03", "+62812****7890"]
    assert workers[1][:3] == ["B*** S***", "160601********11", "+62812****1111"]


def test_a_company_page_holds_nothing_of_another_company() -> None:
    page = alpha_page()
    text = repr(page).lower()
    assert "beta" not in text and "rahmat" not in text
    assert page["commitment_ids"] == ["alpha-2026"]
    assert [row[0] for row in page["tables"]["invoices"]] == ["INV/2026/11/ALPHA", "INV/2026/10/ALPHA"]


def test_each_paid_month_shows_its_payment_reference_and_renewals_come_due() -> None:
    page = alpha_page()
    paid = page["tables"]["paid_months"]
    assert [row[0] for row in paid] == ["Januari 2026", "Januari 2026"]
    assert paid[0][1:6] == ["S*** A***", "160601********03", "Rp16.800", "BSB-TRF-0001", "10 November 2026"]
    assert paid[0][6] == "dibayar, dikonfirmasi BPJS" and paid[0][7] == "10 November 2026 10:00 WIB"
    # Coverage ends 31 December 2026: 42 days from 20 November, within the 60-day notice.
    assert page["tables"]["renewals"] == [["alpha-2026", "31 Desember 2026", "42 hari lagi"]]
    assert page["figures"]["credit_idr"]["text"] == "Rp500"


def test_payments_of_another_company_are_never_shown() -> None:
    page = domain.company_page(
        "co-alpha", list(COMMITMENTS.values()), ENROLLMENTS, {**PAYMENTS["co-alpha"], "company_id": "co-beta"},
        [], today=TODAY, now=NOW, renewal_notice_days=60,
    )  # fmt: skip
    assert page["tables"]["paid_months"] == []


# --- sessions and logins ----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_session_is_a_random_id_that_ends_when_idle_or_old() -> None:
    clock = Clock()
    store = sessions.SessionStore(idle_s=60, max_s=300, clock=clock)
    caller = Caller("kantor", Role.OFFICE)
    sid = store.open(caller, OFFICE)
    assert len(sid) == sessions.SESSION_ID_CHARS and OFFICE not in sid
    assert store.open(caller, OFFICE) != sid  # a new id each time
    found = store.get(sid)
    assert found is not None and found.caller == caller and found.token == OFFICE
    assert OFFICE not in repr(found)  # the token never shows in a log line
    clock.t += 59
    assert store.get(sid) is not None
    clock.t += 61
    assert store.get(sid) is None  # idle too long
    sid = store.open(caller, OFFICE)
    for _ in range(5):
        clock.t += 55
        assert store.get(sid) is not None
    clock.t += 55
    assert store.get(sid) is None  # older than max_s, however busy
    assert store.get("x" * sessions.SESSION_ID_CHARS) is None and store.get(None) is None
    sid = store.open(caller, OFFICE)
    store.close(sid)
    assert store.get(sid) is None


def test_the_store_keeps_only_digests_of_the_ids() -> None:
    store = sessions.SessionStore(idle_s=60, max_s=300)
    sid = store.open(Caller("kantor", Role.OFFICE), OFFICE)
    assert sid not in repr(store.__dict__)
    assert hashlib.sha256(sid.encode()).digest() in store._sessions


def test_the_cookie_is_httponly_samesite_strict_and_secure_off_loopback() -> None:
    cookie = sessions.session_cookie("abc", 3600, secure=False)
    assert cookie == "muba_dashboard=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=3600"
    assert sessions.session_cookie("abc", 3600, secure=True).endswith("; Secure")
    assert sessions.cookie_value("a=1; muba_dashboard=xyz; b=2") == "xyz"
    assert sessions.cookie_value("a=1") is None and sessions.cookie_value(None) is None


def test_failed_logins_are_limited_per_address_for_a_window() -> None:
    clock = Clock()
    throttle = sessions.LoginThrottle(max_failures=3, window_s=100, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
        clock.t += 10
    assert throttle.retry_after("10.0.0.1") == pytest.approx(70)
    assert throttle.retry_after("10.0.0.2") == 0  # another address is not held back
    clock.t += 71
    assert throttle.retry_after("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    throttle.succeeded("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 0


# --- the app, with the fake services ---------------------------------------------------------------


async def test_without_a_session_the_pages_send_to_the_login_and_data_is_401(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert (await client.get("/data")).status_code == 401
    login_page = await client.get("/login")
    assert login_page.status_code == 200 and 'name="token"' in login_page.text
    assert login_page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert (await client.delete("/")).status_code == 405
    assert (await client.get("/nope")).status_code == 404


async def test_an_office_login_opens_the_office_page_and_forwards_the_token(
    client: httpx.AsyncClient,
) -> None:
    answer = await login(client, OFFICE)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and OFFICE not in cookie
    page = await client.get("/")
    assert page.status_code == 200 and 'data-view="office"' in page.text
    assert 'data-figure="enrolled" data-value="9">9<' in page.text
    assert "Rp4.032.000" in page.text and "Sekayu" in page.text
    data = (await client.get("/data")).json()
    assert data["report"] == build_report(REGISTRY, SPONSORSHIP, NOTIFICATIONS, COVERAGE)
    assert not data["masked"]
    fake = client._transport.app.apis  # type: ignore[attr-defined]
    assert {who for _, _, who, _ in fake.calls} == {"kantor"}  # the caller's own token, nobody else's
    out = await client.post("/logout")
    assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]
    assert (await client.get("/data")).status_code == 401


async def test_an_auditor_sees_the_office_page_marked_masked(client: httpx.AsyncClient) -> None:
    await login(client, AUDITOR)
    page = await client.get("/")
    assert "Tampilan auditor: data pribadi disamarkan." in page.text
    assert (await client.get("/data")).json()["masked"] is True


async def test_a_company_sees_its_own_page_and_nothing_by_tampering_with_the_url(
    client: httpx.AsyncClient,
) -> None:
    await login(client, ALPHA)
    page = await client.get("/")
    assert page.status_code == 200 and 'data-view="company"' in page.text
    assert "PT Alpha Sawit" in page.text and "BSB-TRF-0001" in page.text
    assert "beta" not in page.text.lower() and "Rahmat" not in page.text
    assert not re.search(r"(?<!\d)\d{16}(?!\d)", page.text)
    # Another company's commitment: as unknown as one that does not exist.
    for url in ("/?commitment_id=beta-2026", "/data?commitment_id=beta-2026", "/data?commitment_id=nope"):
        refused = await client.get(url)
        assert refused.status_code == 404, url
        assert "beta" not in refused.text.lower()
    # A company id in the URL is not looked at: the token's company is the page's.
    named = (await client.get("/data?company_id=co-beta")).json()
    assert named["company_id"] == "co-alpha" and "beta" not in repr(named).lower()
    one = (await client.get("/data?commitment_id=alpha-2026")).json()
    assert one["selected"] == "alpha-2026" and one["commitment_ids"] == ["alpha-2026"]
    fake = client._transport.app.apis  # type: ignore[attr-defined]
    assert all(who == "alpha-csr" for _, _, who, _ in fake.calls)
    assert ("sponsorship", "/api/enrollments", "alpha-csr", {"commitment_id": "beta-2026"}) not in fake.calls
    assert all(params.get("company_id") in (None, "co-alpha") for _, _, _, params in fake.calls)
    assert not any(path in ("/api/report", "/api/coverage") for _, path, _, _ in fake.calls)


async def test_company_data_refuses_another_role() -> None:
    with pytest.raises(PermissionError):
        await reads.company_data(FakeServices(), OFFICE, Caller("kantor", Role.OFFICE), 60)


async def test_a_wrong_token_is_refused_delayed_and_then_limited(tokens_file: Path) -> None:
    app = create_app(
        settings(MUBA_API_TOKENS_FILE=str(tokens_file), DASHBOARD_LOGIN_FAILURE_DELAY_S=0.2,
                 DASHBOARD_LOGIN_MAX_FAILURES=2),
        apis=FakeServices(),
    )  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
        started = asyncio.get_running_loop().time()
        wrong = await login(c, "x" * 30)
        assert wrong.status_code == 401 and "Token tidak dikenal" in wrong.text
        assert asyncio.get_running_loop().time() - started >= 0.2
        assert "set-cookie" not in wrong.headers
        assert (await login(c, "y" * 30)).status_code == 401
        limited = await login(c, OFFICE)  # even the right token waits now
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0


async def test_a_login_posted_from_another_site_is_refused(client: httpx.AsyncClient) -> None:
    answer = await client.post("/login", data={"token": OFFICE}, headers={"Origin": "http://evil.example"})
    assert answer.status_code == 403 and "set-cookie" not in answer.headers


async def test_static_files_are_served_locally_and_the_pages_name_no_other_host(
    client: httpx.AsyncClient,
) -> None:
    chart = await client.get("/static/vendor/chart.umd.min.js")
    assert chart.status_code == 200 and b"Chart.js v4.5.1" in chart.content[:200]
    readme = (Path(domain.__file__).parent / "static" / "vendor" / "README.md").read_text()
    assert hashlib.sha256(chart.content).hexdigest() in readme
    assert (await client.get("/static/../app.py")).status_code == 404
    await login(client, OFFICE)
    page = (await client.get("/")).text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert (
        "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "default-src 'none'" in CONTENT_SECURITY_POLICY
    )


def test_the_default_token_is_refused_beyond_loopback() -> None:
    with pytest.raises(AccessConfigError):
        create_app(settings(HTTP_HOST="0.0.0.0"), apis=FakeServices())
    create_app(settings(HTTP_HOST="127.0.0.1"), apis=FakeServices())  # a laptop's default: fine
    app = create_app(settings(HTTP_HOST="0.0.0.0", MUBA_OPERATOR_TOKEN=OFFICE), apis=FakeServices())
    assert app.secure_cookie  # off loopback: the cookie goes over HTTPS only


def test_formatting_helpers() -> None:
    assert domain.rupiah(1_234_567) == "Rp1.234.567" and domain.number(10_000) == "10.000"
    assert domain.tanggal("2026-08-17") == "17 Agustus 2026" and domain.tanggal(None) == "-"
    assert domain.tanggal("2026-11-30T20:00:00+00:00") == "1 Desember 2026"  # Jakarta's day
    assert domain.month_text("2026-02") == "Februari 2026"
    assert domain.percent(1, 3) == "33,3%" and domain.percent(1, 0) == "0,0%"
