"""A programme year, shortened, as separate processes on the programme clock (deploy/year.py, what
`make demo-year` plays at full size): invoices each month, payments on time, late and stopped, a
renewal, a lapse and an end with their workers taken over from the next day, BPJS losing
confirmations that are re-sent, and sponsorship, the simulator and notifications SIGKILLed in turn
while the jobs run. Checked from the topics and the ledger: no month invoiced twice, no payment
lost, unplanned gaps 0, every invoice reconciled, every take-over from the very next day."""

import os
from pathlib import Path

from deploy.year import Who, YearSettings, play_year
from shared import clock
from testkit.infra import Infra
from tests.support import a_partner, truncate_schema


async def test_a_shortened_year_has_no_unplanned_gap_and_every_invoice_reconciled(
    infra: Infra, topic_prefix: str, tmp_path: Path
) -> None:
    for service in ("registry", "sponsorship", "notifications", "bpjs"):
        await truncate_schema(infra, service)
    # Five months, 60 workers, a day in about 0.4 s; a process killed every 10 s (a restart takes
    # a few seconds: a week or two of programme time, so payments come late, as after an outage).
    settings = YearSettings(
        workers=60, months=5, speed=200_000.0, lose_percent=5.0, kill_every_s=10.0, log_dir=tmp_path
    )
    async with a_partner(infra, topic_prefix) as (partner, as_partner):
        who = Who(infra.kafka, infra.kafka_as("operator"), as_partner, partner)
        result = await play_year(settings, who, infra.database_urls, topic_prefix)
    print(result.report())
    # The programme clock of this process is real time again (later tests run services in it).
    assert clock.speed() == 1.0 and "SPONSORSHIP_COVERAGE_FROM" not in os.environ
    assert result.ok, result.report()
    totals = result.totals
    assert totals["memberships lapsed (3 months unpaid)"] > 0  # C stopped paying
    assert totals["coverage periods ended"] > 0  # E let its commitment end
    assert totals["workers taken over by another sponsor"] == (
        totals["memberships lapsed (3 months unpaid)"] + totals["coverage periods ended"]
    )
    assert totals["paid months sent again (BPJS lost or had not yet sent the confirmation)"] > 0
    months = result.months
    assert [m["month"] for m in months] == [f"2027-{m:02d}" for m in range(1, 6)]
    assert totals["processes killed and restarted"] >= 3
    # Five companies invoiced in January; E's ended and C's lapsed lines are invoiced no more.
    assert months[0]["invoices"] == 5 and all(m["invoices"] >= 3 for m in months)
    # What the topic carried, each event once, is what the ledger issued.
    assert sum(m["invoices"] for m in months) == totals["invoices issued"]
    assert sum(m.get("paid_late", 0) for m in months) > 0  # B, at least
    assert sum(m.get("extended", 0) for m in months) > 0  # D
