"""The scheduled job "invoices" against the real sponsorship schema and Kafka: the invoice rows,
the lines marked with their invoice, InvoiceIssued on the topic once even when the job runs the
same moment twice, and the CSV rendered from the stored lines."""

import uuid
from datetime import UTC, date, datetime, timedelta

from services.sponsorship.app import MIGRATIONS
from services.sponsorship.domain import ledger
from services.sponsorship.domain.invoices import build_invoice, invoice_csv
from services.sponsorship.jobs import invoices_job
from services.sponsorship.repository import PgSponsorshipStore, stored_invoice
from shared import contracts
from shared.calendar import Month, day_starts_at, programme_calendar
from shared.db import connect, migrate
from shared.relay import OutboxRelay
from testkit.infra import Infra
from testkit.kafka import record_events
from tests.services.test_sponsorship_store import announced, commitment
from tests.support import truncate_schema

T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)
JANUARY_ISSUE = day_starts_at(date(2027, 1, 1))


async def _enrolled(store: PgSponsorshipStore, i: int, commitment_id: str, start: date) -> uuid.UUID:
    worker = await store.add_worker(announced(i))
    assert worker is not None
    enrollment_id = await store.add_enrollment(
        worker_id=worker.worker_id,
        commitment_id=commitment_id,
        package="JKK_JKM",
        months=12,
        coverage_start=start,
        contribution_idr=201_600,
    )
    assert await store.reserve_slot(commitment_id, 201_600)
    done = await store.confirm_enrollment(enrollment_id, worker.worker_id, f"KPJ{i:06d}", start, start, T0)
    assert done is not None
    lines = ledger.member_months(
        done.sponsored(enrollment_id, worker.worker_id, start),
        await store.tariff_table(),
        apply_discount=False,
    )
    await store.add_member_months(lines, reserved_idr=201_600)
    return enrollment_id


async def test_january_invoices_each_company_once_and_a_second_run_publishes_nothing(
    infra: Infra, topic_prefix: str
) -> None:
    dsn = infra.database_urls["sponsorship"]
    await migrate(dsn, MIGRATIONS)
    await truncate_schema(infra, "sponsorship")
    conn = await connect(dsn)
    try:
        async with conn.transaction():
            store = PgSponsorshipStore(conn)
            await store.add_commitment(commitment("a", {"07"}, slots=3), budget_idr=10_000_000)
            await store.add_commitment(commitment("b", {"07"}, slots=3), budget_idr=10_000_000)
            a1 = await _enrolled(store, 1, "a", date(2027, 1, 1))
            b_late = await _enrolled(store, 2, "b", date(2026, 12, 20))  # December never invoiced
        job = invoices_job(Month(2027, 1), topic_prefix)
        assert (
            job.start == JANUARY_ISSUE == job.schedule.next_after(JANUARY_ISSUE - timedelta(microseconds=1))
        )
        relay = OutboxRelay(dsn, infra.kafka, idle_poll_s=0.2)
        topic = topic_prefix + contracts.INVOICE_ISSUED.topic
        async with record_events(infra.kafka, topic) as rec:
            for _ in range(2):  # the same due moment twice: the second finds nothing to do
                async with conn.transaction():
                    await job.run(conn, JANUARY_ISSUE)
            relay.start()
            try:
                await rec.wait_for(2, timeout_s=60)
                await rec.settle(quiet_s=1.5)
            finally:
                await relay.stop(drain_timeout_s=2.0)
        invoices = await conn.fetch("SELECT * FROM invoice ORDER BY company_id")
        assert [(r["number"], r["total_idr"], r["lines_count"], r["due_date"]) for r in invoices] == [
            ("INV-CO-A-2027-01", 16_800, 1, date(2027, 1, 15)),
            ("INV-CO-B-2027-01", 33_600, 2, date(2027, 1, 15)),
        ]
        assert all(r["issued_at"] == JANUARY_ISSUE for r in invoices)
        marked = await conn.fetch(
            "SELECT enrollment_id, month, state, invoice_id FROM member_month WHERE state = 'invoiced'"
            " ORDER BY enrollment_id, month"
        )
        by_company = {r["company_id"]: r["invoice_id"] for r in invoices}
        assert sorted((r["enrollment_id"], r["month"], r["invoice_id"]) for r in marked) == sorted(
            [
                (a1, date(2027, 1, 1), by_company["co-a"]),
                (b_late, date(2026, 12, 1), by_company["co-b"]),
                (b_late, date(2027, 1, 1), by_company["co-b"]),
            ]
        )
        numbers = sorted(e.payload["invoice_number"] for e in rec.events)
        assert numbers == ["INV-CO-A-2027-01", "INV-CO-B-2027-01"]  # once each, for two runs
        assert {e.headers["ce_id"] for e in rec.events} == set(by_company.values())

        found = await stored_invoice(conn, by_company["co-b"])
        assert found is not None
        row, lines = found
        text = invoice_csv(
            build_invoice("co-b", row["company_name"], Month(2027, 1), lines, programme_calendar())
        )
        rows = text.decode("utf-8-sig").split("\r\n")
        assert rows[0] == "no,nomor_tagihan,bulan,nomor_kpj,nik,nama,iuran_idr"
        assert len([r for r in rows[1:] if r]) == 2 and "1606010208900003" not in text.decode("utf-8-sig")
    finally:
        await conn.close()
