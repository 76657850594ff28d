"""A programme year, shortened, as separate processes on the programme clock (deploy/year.py, what
`make demo-year` plays at full size): invoices each month, payments on time, late and stopped, a
renewal, a lapse and an end with their workers taken over from the next day, BPJS losing
confirmations that are re-sent. Checked from the topics and the ledger: unplanned gaps 0, every
invoice reconciled, every take-over gapless."""

from pathlib import Path

from deploy.year import Who, YearSettings, play_year
from testkit.infra import Infra
from tests.support import a_partner, truncate_schema


async def test_a_shortened_year_has_no_unplanned_gap_and_every_invoice_reconciled(
    infra: Infra, topic_prefix: str, tmp_path: Path
) -> None:
    for service in ("registry", "sponsorship", "notifications", "bpjs"):
        await truncate_schema(infra, service)
    settings = YearSettings(workers=80, months=8, speed=300_000.0, lose_percent=5.0, log_dir=tmp_path)
    async with a_partner(infra, topic_prefix) as (partner, as_partner):
        who = Who(infra.kafka, infra.kafka_as("operator"), as_partner, partner)
        result = await play_year(settings, who, infra.database_urls, topic_prefix)
    print(result.report())
    assert result.ok, result.report()
    totals = result.totals
    assert totals["memberships lapsed (3 months unpaid)"] > 0  # C stopped paying
    assert totals["coverage periods ended"] > 0  # E let its commitment end
    assert totals["workers taken over by another sponsor"] == (
        totals["memberships lapsed (3 months unpaid)"] + totals["coverage periods ended"]
    )
    assert totals["paid months whose confirmation BPJS lost, re-sent"] > 0
    months = result.months
    assert [m["month"] for m in months] == [f"2027-{m:02d}" for m in range(1, 9)]
    # Five companies invoiced at first; E's ended and C's lapsed lines are invoiced no more.
    assert [m["invoices"] for m in months][:2] == [5, 5] and all(m["invoices"] >= 3 for m in months)
    assert months[0]["paid_on_time"] > 0 and all(m["paid_late"] > 0 for m in months)  # B, every month
    assert sum(m.get("extended", 0) for m in months) > 0  # D
