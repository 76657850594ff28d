"""The dashboard in a real browser: the services, the BPJS simulator and the dashboard as
processes on real Kafka and PostgreSQL, Debian's Chromium driven headless by Playwright.

The office's page shows the figures `muba report --format json` prints (the same build_report),
and follows the programme live (a worker enrolled while the page is open appears without a
reload); a company's page shows its own commitments, workers (masked) and paid months, never
another company's, whatever the URL asks; no page logs a console error, and no request leaves
this machine. With DASHBOARD_SCREENSHOTS_DIR set (`make screenshots`), both views are saved there
as PNG (docs/screenshots/).
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Route,
    async_playwright,
)

from deploy.stack import Stack
from shared import contracts
from testkit.infra import Infra
from testkit.kafka import publish_json, record_events, submit_registrations
from testkit.samples import sample_commitment, sample_registration
from tests.support import truncate_schema

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
OFFICE_TOKEN = "kantor-" + "o" * 24
AUDITOR_TOKEN = "auditor-" + "a" * 24
ALPHA_TOKEN = "alpha-csr-" + "1" * 24
BETA_TOKEN = "beta-csr-" + "2" * 24
# Sekayu (01) for PT Alpha Sawit, Sungai Lilin (07) for PT Beta Energi.
ALPHA = sample_commitment("alpha-2026", ["01"], 10, company_id="co-alpha", company_name="PT Alpha Sawit")
BETA = sample_commitment("beta-2026", ["07"], 10, company_id="co-beta", company_name="PT Beta Energi")
PAYMENT_REFERENCE = "BSB-TRF-0001"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
FIGURES = (
    "target",
    "enrolled",
    "requested",
    "waitlisted",
    "failed",
    "budget_committed_idr",
    "budget_used_idr",
)

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail(
            f"{CHROMIUM} is missing: deploy/local/bootstrap.sh installs Debian's chromium", pytrace=False
        )
    pytest.skip(
        f"{CHROMIUM} is missing (apt-get install chromium; deploy/local/bootstrap.sh does it as root)",
        allow_module_level=True,
    )


def tokens_file(path: Path) -> Path:
    path.write_text(
        "# name role token\n"
        f"kantor office {OFFICE_TOKEN}\n"
        f"bpk auditor {AUDITOR_TOKEN}\n"
        f"alpha-csr company:co-alpha {ALPHA_TOKEN}\n"
        f"beta-csr company:co-beta {BETA_TOKEN}\n"
    )
    return path


def muba_report(env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "muba", "report", "--format", "json"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


class Watched:
    """Every request a browser context makes (anything not for this machine is aborted) and every
    console error or uncaught exception of its pages."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.foreign: list[str] = []
        self.errors: list[str] = []
        # While a test provokes a refusal on purpose (a 401, a 404), Chromium's own line about it.
        self.refusals_expected = False

    async def route(self, route: Route, request: Request) -> None:
        self.urls.append(request.url)
        host = urlsplit(request.url).hostname or ""
        if host not in LOCAL_HOSTS:
            self.foreign.append(request.url)
            await route.abort()
            return
        await route.continue_()

    def console(self, message: ConsoleMessage) -> None:
        refusal = "Failed to load resource: the server responded with a status of 4" in message.text
        if message.type == "error" and not (refusal and self.refusals_expected):
            self.errors.append(f"console: {message.text} ({message.location})")

    def watch(self, page: Page) -> Page:
        page.on("console", self.console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        return page


@asynccontextmanager
async def context(browser: Browser, watched: Watched, **options: Any) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(locale="id-ID", timezone_id="Asia/Jakarta", **options)
    await ctx.route("**/*", watched.route)
    try:
        yield ctx
    finally:
        await ctx.close()


async def log_in(page: Page, base: str, token: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/")
    await page.wait_for_selector("body[data-refreshed]")  # the first poll has come back


async def figure_values(page: Page) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = await page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('[data-figure]')].map("
        "e => [e.dataset.figure, [e.dataset.value, e.textContent.trim()]]))"
    )
    return found


def rupiah(n: int) -> str:
    return "Rp" + f"{n:,}".replace(",", ".")


def number(n: int) -> str:
    return f"{n:,}".replace(",", ".")


async def settle_enrollments(infra: Infra, prefix: str, registrations: list[dict[str, Any]]) -> None:
    async with record_events(infra.kafka, prefix + contracts.ENROLLMENT_COMPLETED.topic) as rec:
        await submit_registrations(infra.kafka, prefix, registrations)
        await rec.wait_for(len(registrations), 90)


async def pay_first_month(infra: Infra, prefix: str, company_id: str) -> None:
    """The first month of the company's workers invoiced (the invoice job's work, done here by
    hand), then paid by the office's record of the transfer."""
    conn = await asyncpg.connect(infra.database_urls["sponsorship"])
    try:
        rows = await conn.fetch(
            "UPDATE member_month m SET state = 'invoiced', invoice_id = 'inv-' || m.commitment_id,"
            " invoiced_at = now() FROM commitment c WHERE c.commitment_id = m.commitment_id"
            " AND c.company_id = $1 AND m.month = (SELECT min(month) FROM member_month x"
            " WHERE x.enrollment_id = m.enrollment_id) RETURNING m.contribution_idr",
            company_id,
        )
    finally:
        await conn.close()
    assert rows
    owed = sum(r["contribution_idr"] for r in rows)
    payment = {
        "company_id": company_id,
        "reference": PAYMENT_REFERENCE,
        "amount_idr": owed,
        "paid_on": time.strftime("%Y-%m-%d"),
    }
    async with record_events(infra.kafka, prefix + contracts.PAYMENT_RECORDED.topic) as rec:
        await publish_json(
            infra.kafka_as("operator"), prefix + contracts.PAYMENT_SUBMITTED.topic, [(company_id, payment)]
        )
        await rec.wait_for(1, 60)


async def test_the_dashboard_in_a_real_browser(infra: Infra, topic_prefix: str, tmp_path: Path) -> None:
    p = topic_prefix
    for service in ("registry", "sponsorship", "notifications"):
        await truncate_schema(infra, service)
    shots = Path(os.environ.get("DASHBOARD_SCREENSHOTS_DIR") or tmp_path)
    await asyncio.to_thread(shots.mkdir, parents=True, exist_ok=True)
    env = {
        "TOPIC_PREFIX": p,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        **{f"{s.upper()}_DATABASE_URL": url for s, url in infra.database_urls.items()},
        "MUBA_API_TOKENS_FILE": str(tokens_file(tmp_path / "tokens")),
    }
    with Stack(env=env) as stack:
        stack.start_all()
        dashboard = stack.start_dashboard({"DASHBOARD_POLL_S": "1", "DASHBOARD_LOGIN_FAILURE_DELAY_S": "0.2"})
        await asyncio.to_thread(stack.wait_ready)
        cli = {**stack.api_urls(), "MUBA_OPERATOR_TOKEN": OFFICE_TOKEN, "TOPIC_PREFIX": p}
        base = f"http://127.0.0.1:{dashboard.port}"

        async with record_events(infra.kafka, p + contracts.COMMITMENT_ACCEPTED.topic) as rec:
            await publish_json(
                infra.kafka_as("operator"),
                p + contracts.COMMITMENT_SUBMITTED.topic,
                [("alpha-2026", ALPHA), ("beta-2026", BETA)],
            )
            await rec.wait_for(2, 60)
        alpha_workers = [
            sample_registration(i, source="dash-e2e", kecamatan_code="01", run=77) for i in range(3)
        ]
        beta_workers = [
            sample_registration(10 + i, source="dash-e2e", kecamatan_code="07", run=77) for i in range(2)
        ]
        await settle_enrollments(infra, p, alpha_workers + beta_workers)
        # Two registrations the registry refuses (a NIK too short, a landline): rejections by reason.
        refused = [
            dict(sample_registration(20, source="dash-e2e", kecamatan_code="01", run=77), nik="16060152089"),
            dict(
                sample_registration(21, source="dash-e2e", kecamatan_code="07", run=77), phone="021-555-1234"
            ),
        ]
        async with record_events(infra.kafka, p + contracts.REGISTRATION_REJECTED.topic) as rec:
            await submit_registrations(infra.kafka, p, refused)
            await rec.wait_for(2, 60)
        await pay_first_month(infra, p, "co-alpha")

        watched = Watched()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                # --- the office ------------------------------------------------------------------
                async with context(browser, watched, viewport={"width": 1280, "height": 900}) as ctx:
                    page = watched.watch(await ctx.new_page())
                    watched.refusals_expected = True
                    assert (await page.goto(f"{base}/data")).status == 401  # type: ignore[union-attr]
                    await page.goto(f"{base}/")
                    assert page.url == f"{base}/login"
                    await page.fill("#token", "not-a-token-of-anyone")
                    await page.click("button[type=submit]")
                    assert "Token tidak dikenal" in await page.inner_text("main")
                    watched.refusals_expected = False

                    await log_in(page, base, OFFICE_TOKEN)
                    report = muba_report(cli)
                    assert report["enrolled"] == 5
                    data = await page.evaluate("() => fetch('/data').then(r => r.json())")
                    assert data["report"] == report  # the very figures of `muba report`
                    shown = await figure_values(page)
                    for key in FIGURES:
                        value = report[key]
                        text = rupiah(value) if key.endswith("_idr") else number(value)
                        assert tuple(shown[key]) == (str(value), text), key
                    assert shown["submissions_registered"][0] == str(report["submissions"]["registered"])
                    assert shown["progress_percent"][0] == str(report["progress_percent"])
                    tiles = await page.evaluate(
                        "() => Object.fromEntries([...document.querySelectorAll('[data-kecamatan]')]"
                        ".map(e => [e.dataset.kecamatan, Number(e.dataset.value)]))"
                    )
                    assert tiles == {r["kecamatan"]: r["enrolled"] for r in report["by_kecamatan"]}
                    assert len(tiles) == 15
                    body = await page.inner_text("main")
                    assert "PT Alpha Sawit" in body and "PT Beta Energi" in body
                    assert report["submissions"]["rejected"] == 2 and "NIK bukan 16 angka" in body
                    assert await page.locator("canvas[data-chart='timeline']").count() == 1

                    # Live: a worker enrolled while the page is open shows up without a reload.
                    await settle_enrollments(
                        infra, p, [sample_registration(3, source="dash-e2e", kecamatan_code="01", run=77)]
                    )
                    await page.wait_for_function(
                        "() => document.querySelector('[data-figure=enrolled]').dataset.value === '6'",
                        timeout=20_000,
                    )
                    assert await page.get_attribute("[data-kecamatan='Sekayu']", "data-value") == "4"
                    report = muba_report(cli)
                    await page.wait_for_timeout(1500)  # one more poll, after the CLI's read
                    data = await page.evaluate("() => fetch('/data').then(r => r.json())")
                    assert data["report"] == report
                    await page.screenshot(path=str(shots / "dashboard-office.png"), full_page=True)

                    # The session cookie: HttpOnly, SameSite=Strict, not the token.
                    [cookie] = await ctx.cookies()
                    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
                    assert OFFICE_TOKEN not in cookie["value"]
                    assert await page.evaluate("() => document.cookie") == ""
                    await page.click("text=Keluar")
                    await page.wait_for_url(f"{base}/login")
                    watched.refusals_expected = True
                    assert (await page.goto(f"{base}/data")).status == 401  # type: ignore[union-attr]

                    watched.refusals_expected = False

                # --- an auditor: the office's page, masked --------------------------------------
                async with context(browser, watched) as ctx:
                    page = watched.watch(await ctx.new_page())
                    await log_in(page, base, AUDITOR_TOKEN)
                    assert "Tampilan auditor" in await page.inner_text("main")

                # --- a company: its own page only -------------------------------------------------
                async with context(
                    browser, watched, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
                ) as ctx:
                    page = watched.watch(await ctx.new_page())
                    await log_in(page, base, ALPHA_TOKEN)
                    body = await page.inner_text("body")
                    assert "PT Alpha Sawit" in body and "alpha-2026" in body
                    assert "PT Beta Energi" not in body and "beta-2026" not in body and "co-beta" not in body
                    for worker in alpha_workers:
                        assert worker["nik"] not in body and worker["full_name"] not in body
                        assert str(worker["nik"])[:6] + "********" + str(worker["nik"])[-2:] in body
                    for worker in beta_workers:
                        assert str(worker["nik"])[:6] + "********" + str(worker["nik"])[-2:] not in body
                    assert not re.search(r"(?<!\d)\d{16}(?!\d)", body)  # no NIK in full
                    assert PAYMENT_REFERENCE in body  # each paid month with its proof
                    assert await page.get_attribute("[data-figure=paid_months]", "data-value") == "3"
                    # Wide tables scroll inside their card: the page itself fits the phone's width.
                    assert await page.evaluate(
                        "() => document.documentElement.scrollWidth <= window.innerWidth"
                    )
                    await page.screenshot(path=str(shots / "dashboard-company.png"), full_page=True)

                    # Tampering with the URL: another company's commitment is as unknown as none.
                    watched.refusals_expected = True
                    answer = await page.goto(f"{base}/?commitment_id=beta-2026")
                    assert answer is not None and answer.status == 404
                    assert "beta" not in (await page.inner_text("main")).lower()
                    other = await page.evaluate(
                        "() => fetch('/data?commitment_id=beta-2026').then(r => [r.status, r.text()])"
                    )
                    assert other[0] == 404
                    named = await page.evaluate("() => fetch('/data?company_id=co-beta').then(r => r.json())")
                    assert named["company_id"] == "co-alpha"
                    assert "beta" not in json.dumps(named).lower()
                    watched.refusals_expected = False
                    own = await page.goto(f"{base}/?commitment_id=alpha-2026")
                    assert own is not None and own.status == 200
                    assert "alpha-2026" in await page.inner_text("main")
            finally:
                await browser.close()

        assert watched.foreign == [], watched.foreign
        assert watched.urls and all(urlsplit(u).hostname in LOCAL_HOSTS for u in watched.urls)
        assert any(u.endswith("/static/vendor/chart.umd.min.js") for u in watched.urls)
        assert watched.errors == [], watched.errors
