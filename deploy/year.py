"""`make demo-year`: a programme year on this machine, in minutes, on the programme clock.

The real services and the BPJS simulator run twice: first on a clock that stands almost still at
00:00 WIB on 1 January (companies commit, partners register the workers, BPJS enrolls them, all
with coverage from 1 January), then restarted on a clock running a day in well under a second, from
where the first left off. The jobs catch up and run each due moment once: invoices on the 1st,
reminders, missed months, lapses, coverage ends, notices, paid months re-sent to BPJS when it lost
their confirmation, the day's numbers. The companies' finance systems are played here: they read
their invoices on the topic and pay by the partner topic, each in its own way:

- A, the regency's large partner (whole regency, 24 months): pays a few days after each invoice,
  and has the room to take the workers others let go;
- B (24 months): pays every invoice late, a week after its due date, within the grace;
- C (12 months): pays the first months, then stops: three missed months lapse its workers, who
  move to A from the day of the lapse;
- D (6 months): renews early (12 months more), so coverage continues without a day's gap;
- E (6 months): lets its commitment end: its workers move to A from the day after the last.

BPJS (the simulator) loses the confirmation of a share of the paid months; sponsorship re-sends
them and they are confirmed. The summary is a month-by-month table from the topics, and totals
from the ledger: unplanned gaps must be 0 and every invoice reconciled.
"""

import asyncio
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from deploy.catcher import Catcher
from deploy.stack import Stack, free_port
from services.notifications.webhooks import load_key
from shared import clock, contracts, topics
from shared.clock import JAKARTA
from shared.kafka_admin import provision_topics
from shared.kafka_security import KafkaConnection, secrets_dir
from shared.kecamatan import KECAMATAN
from testkit.kafka import RecordedEvent, publish_json, record_events
from testkit.samples import sample_registration

YEAR_START = datetime(2027, 1, 1, tzinfo=JAKARTA)

# Each company's kecamatan (A: the whole regency), commitment months, and its share of workers.
AREAS = {"B": ["04", "05"], "C": ["08", "09"], "D": ["10", "11"], "E": ["12", "13"]}
A_AREAS = [code for code in sorted(KECAMATAN) if all(code not in codes for codes in AREAS.values())]
NAMES = {
    "A": "PT Medco E&P Grissik",
    "B": "PT Pertamina Hulu Energi Jambi Merang",
    "C": "PT Sumber Sawit Lestari",
    "D": "PT Pupuk Sriwidjaja",
    "E": "PT Bukit Asam Sungai Lilin",
}


@dataclass(frozen=True)
class YearSettings:
    workers: int = 2000
    months: int = 12  # the programme months played
    speed: float = 100_000.0  # programme seconds per real second in the year itself
    lose_percent: float = 1.0  # the paid months whose confirmation BPJS loses
    log_dir: Path = Path(".cache/logs")
    startup_s: float = 15.0  # real seconds the services get to start before the year's clock runs
    # Faults during the year: every `kill_every_s` real seconds one of sponsorship, the BPJS
    # simulator and notifications in turn is SIGKILLed mid-work and started again (0: none).
    kill_every_s: float = 0.0

    @property
    def short_months(self) -> int:
        """C's and E's months, D's before it renews, and when things happen: scaled to the year."""
        return max(2, self.months // 2)


@dataclass
class Company:
    key: str
    commitment_id: str
    company_id: str
    months: int
    slots: int
    kecamatan: list[str]
    pays: str  # on_time | late | stops | renews | ends

    def body(self) -> dict[str, Any]:
        return {
            "commitment_id": self.commitment_id,
            "company_id": self.company_id,
            "company_name": NAMES[self.key],
            "kecamatan": self.kecamatan,
            "slots": self.slots,
            "months": self.months,
            "package": "JKK_JKM",
            "email": f"csr@{self.company_id}.example",
        }


def companies(run: str, s: YearSettings) -> list[Company]:
    share = s.workers * 15 // 100  # B..E each; A's own are the rest
    own_a = s.workers - 4 * share
    short = s.short_months
    return [
        # A's room: its own, C's and E's workers, and a margin (a fallback worker's 24 months are
        # priced when they move, at that day's tariffs: the budget is what binds).
        Company("A", f"a-{run}", "medco", 24, own_a + 2 * share + max(20, s.workers // 4), ["*"], "on_time"),
        Company("B", f"b-{run}", "phe", 24, share, [KECAMATAN[c] for c in AREAS["B"]], "late"),
        Company("C", f"c-{run}", "ssl", 12, share, [KECAMATAN[c] for c in AREAS["C"]], "stops"),
        Company("D", f"d-{run}", "pusri", short, share, [KECAMATAN[c] for c in AREAS["D"]], "renews"),
        Company("E", f"e-{run}", "ptba", short, share, [KECAMATAN[c] for c in AREAS["E"]], "ends"),
    ]


def registrations(run: int, s: YearSettings, partner: str) -> list[dict[str, Any]]:
    """The workers, in kecamatan so that each company's share registers where it sponsors."""
    share = s.workers * 15 // 100
    areas: list[str] = []
    for key in ("B", "C", "D", "E"):
        areas += [AREAS[key][i % 2] for i in range(share)]
    areas += [A_AREAS[i % len(A_AREAS)] for i in range(s.workers - len(areas))]
    return [
        sample_registration(i, source=partner, kecamatan_code=code, run=run) for i, code in enumerate(areas)
    ]


@dataclass
class Who:
    """Everyone as who they are: the office writes commitments, payments and renewals (operator),
    the partner its intake, and the demo watches as admin."""

    admin: KafkaConnection
    operator: KafkaConnection
    partner: KafkaConnection
    partner_name: str


@dataclass
class YearResult:
    months: list[dict[str, Any]]
    totals: dict[str, int]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def table(self) -> str:
        head = (
            "month",
            "covered",
            "at risk",
            "6+ paid",
            "invoices",
            "paid on time",
            "paid late",
            "lapsed",
            "ended",
            "to fallback",
            "waitlisted",
            "renewed",
            "resent",
            "gaps",
        )
        keys = (
            "month",
            "covered",
            "at_risk",
            "six_paid",
            "invoices",
            "paid_on_time",
            "paid_late",
            "lapsed",
            "ended",
            "fallback",
            "waitlisted",
            "extended",
            "resent",
            "gaps",
        )
        rows = [head] + [tuple(str(m.get(k, 0)) for k in keys) for m in self.months]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])

    def report(self) -> str:
        width = max(len(k) for k in self.totals)
        totals = "\n".join(f"  {k:<{width}}  {v:>8}" for k, v in self.totals.items())
        verdict = "OK" if self.ok else "PROBLEMS:\n  " + "\n  ".join(self.problems)
        return f"{self.table()}\n\nTotals\n{totals}\n\n{verdict}"


def _clock_env(epoch: datetime, speed: float, in_s: float = 0.0) -> dict[str, str]:
    """The programme clock reading `epoch` `in_s` real seconds from now, then running at `speed`
    (before that it reads earlier: the services are up before the first moment that matters)."""
    return {
        clock.EPOCH_VARIABLE: epoch.isoformat(),
        clock.ANCHOR_VARIABLE: (datetime.now(UTC) + timedelta(seconds=in_s)).isoformat(),
        clock.SPEED_VARIABLE: repr(speed),
    }


CLOCK_VARIABLES = (clock.EPOCH_VARIABLE, clock.ANCHOR_VARIABLE, clock.SPEED_VARIABLE)
JOB_STARTS = ("SPONSORSHIP_INVOICES_FROM", "SPONSORSHIP_COVERAGE_FROM")

# Where demo-year's SMTP server keeps the e-mails it was given.
MAILBOX = Path(".cache/mailbox-year")

WATCHED = (
    contracts.COMMITMENT_ACCEPTED,
    contracts.ENROLLMENT_COMPLETED,
    contracts.ENROLLMENT_FAILED,
    contracts.WORKER_WAITLISTED,
    contracts.INVOICE_ISSUED,
    contracts.INVOICE_REMINDER,
    contracts.PAYMENT_RECORDED,
    contracts.PAYMENT_REJECTED,
    contracts.COMMITMENT_EXTENDED,
    contracts.COMMITMENT_EXTENSION_REJECTED,
    contracts.COVERAGE_ENDING,
    contracts.COVERAGE_EXTENDED,
    contracts.COVERAGE_ENDED,
    contracts.COVERAGE_REPORTED,
    contracts.CONTRIBUTION_PAID,
    contracts.CONTRIBUTION_CONFIRMED,
)


class Year:
    def __init__(
        self,
        s: YearSettings,
        who: Who,
        database_urls: dict[str, str],
        prefix: str,
        log: Any = print,
    ) -> None:
        self.s = s
        self.who = who
        self.urls = database_urls
        self.prefix = prefix
        self.log = log
        self.run = prefix.strip(".").replace(".", "-")[-8:]
        self.companies = {c.key: c for c in companies(self.run, s)}
        self.by_company_id = {c.company_id: c for c in self.companies.values()}
        self.end = _add_months(YEAR_START.date(), s.months) - timedelta(days=1)  # the last day played
        self.paid: set[str] = set()  # invoice ids paid or decided not to be
        self.pending: list[tuple[date, dict[str, Any]]] = []  # (programme day to pay, invoice)
        self.renewed = False
        self.kills: Counter[str] = Counter()
        self.submitted: set[str] = set()  # payment references the finance systems sent

    def env(self) -> dict[str, str]:
        return {
            "TOPIC_PREFIX": self.prefix,
            "KAFKA_BOOTSTRAP_SERVERS": self.who.admin.bootstrap_servers,
            "SIMULATOR_CONTRIBUTION_LOSE_PERCENT": str(self.s.lose_percent),
            # BPJS answers thousands of months within seconds, a week of this clock.
            "SPONSORSHIP_CONFIRMATION_RESEND_DAYS": "7",
            "MUBA_SCHEDULER_POLL_S": "0.25",
            **{f"{s.upper()}_DATABASE_URL": url for s, url in self.urls.items()},
        }

    def t(self, name: str) -> str:
        return self.prefix + name

    async def play(self) -> YearResult:
        """The year; this process reads the programme clock from its environment (as the services
        do), so the clock's settings are set here for the year and restored after it."""
        saved = {name: os.environ.get(name) for name in (*CLOCK_VARIABLES, *JOB_STARTS)}
        try:
            return await self._play()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    async def _play(self) -> YearResult:
        await provision_topics(self.who.admin, self.prefix, partners=[self.who.partner_name])
        stack = Stack(env=self.env(), log_dir=self.s.log_dir)
        watched = [self.t(c.topic) for c in WATCHED]
        try:
            async with record_events(self.who.admin, *watched) as rec:
                started = time.monotonic()
                # 1. 1 January, 00:00 WIB, the clock nearly still: commitments, workers, enrollments.
                setup = {
                    **_clock_env(YEAR_START, 1.0),
                    "SPONSORSHIP_INVOICES_FROM": _month(_add_months(YEAR_START.date(), 1)),
                    "SPONSORSHIP_COVERAGE_FROM": (YEAR_START.date() + timedelta(days=1)).isoformat(),
                }
                stack.env.update(setup)
                os.environ.update(setup)
                stack.start_all()
                stack.wait_ready(120)
                await self._enroll(rec)
                self.log(
                    f"demo-year: {self.s.workers} workers enrolled in {time.monotonic() - started:.0f} s"
                )
                stack.stop_all()
                # 2. The year, fast, from 1 January again, once the services are up (before
                # then the clock reads December, when nothing is due).
                year = {
                    **_clock_env(YEAR_START, self.s.speed, in_s=self.s.startup_s),
                    "SPONSORSHIP_INVOICES_FROM": _month(YEAR_START.date()),
                    "SPONSORSHIP_COVERAGE_FROM": YEAR_START.date().isoformat(),
                }
                stack.env.update(year)
                os.environ.update(year)
                stack.start_all()
                stack.wait_ready(120)
                year_started = time.monotonic()
                await self._live(rec, stack)
                self.log(
                    f"demo-year: {self.s.months} months played in {time.monotonic() - year_started:.0f} s"
                )
                # The clock runs on: stop the services, then read what they published and stored.
                stack.stop_all()
                await rec.poll(1.0)
                totals, problems = await self._reconcile()
                problems += self._once(rec.events)
                months = self._months(rec.events)
        finally:
            stack.stop_all()
        totals["processes killed and restarted"] = sum(self.kills.values())
        totals["unplanned gap-days (must be 0)"] = sum(m["gaps"] for m in months)
        if totals["unplanned gap-days (must be 0)"]:
            problems.append("unplanned coverage gaps")
        return YearResult(months, totals, problems)

    # --- 1 January ----------------------------------------------------------------------------

    async def _enroll(self, rec: Any) -> None:
        bodies = [c.body() for c in self.companies.values()]
        await publish_json(
            self.who.operator,
            self.t(contracts.COMMITMENT_SUBMITTED.topic),
            [(b["commitment_id"], b) for b in bodies],
        )
        await rec.wait_for(len(bodies), topic=self.t(contracts.COMMITMENT_ACCEPTED.topic), timeout_s=60)
        workers = registrations(int(self.run, 16) % 1000, self.s, self.who.partner_name)
        await publish_json(
            self.who.partner, self.t(topics.intake_topic(self.who.partner_name)), [(None, w) for w in workers]
        )
        done = self.t(contracts.ENROLLMENT_COMPLETED.topic)
        failed = self.t(contracts.ENROLLMENT_FAILED.topic)
        deadline = time.monotonic() + 120 + self.s.workers / 10
        while sum(1 for e in rec.events if e.topic in (done, failed)) < len(workers):
            if time.monotonic() > deadline:
                raise TimeoutError(f"enrollment did not finish; see {self.s.log_dir}")
            await rec.poll(0.5)

    # --- the year -----------------------------------------------------------------------------

    async def _live(self, rec: Any, stack: Stack) -> None:
        """Read the invoices as they come and pay them each company's way, renew D, kill and
        restart a process now and then (`kill_every_s`), until the last day's numbers are reported."""
        victims = ("sponsorship", "bpjs-simulator", "notifications")
        last_kill = time.monotonic()
        reported = self.t(contracts.COVERAGE_REPORTED.topic)
        seen = 0
        renew_on = _add_months(YEAR_START.date(), max(1, self.s.short_months * 2 // 3)) + timedelta(days=9)
        deadline = time.monotonic() + 60 + 3 * 86_400 * 31 * self.s.months / self.s.speed
        while True:
            await rec.poll(0.2)
            for event in rec.events[seen:]:
                if event.topic == self.t(contracts.INVOICE_ISSUED.topic):
                    self._invoice(event.payload)
            seen = len(rec.events)
            today = clock.today_in_jakarta()
            if today.day == 1 and today != getattr(self, "_logged", None):
                self._logged = today
                self.log(f"demo-year: {today:%Y-%m}, {len(rec.events)} events seen")
            await self._pay_due(today)
            if not self.renewed and today >= renew_on:
                await self._renew()
            if self.s.kill_every_s and time.monotonic() - last_kill > self.s.kill_every_s:
                name = victims[sum(self.kills.values()) % len(victims)]
                victim = next(p for p in stack.processes if p.name == name)
                stack.kill(victim)
                stack.start(name, victim.instance, port=victim.port)  # where the others reach it
                self.kills[name] += 1
                last_kill = time.monotonic()
            if any(e.topic == reported and e.payload["day"] == self.end.isoformat() for e in rec.events):
                await self._until_recorded(rec)
                await self._until_confirmed()
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the year did not reach {self.end}; see {self.s.log_dir}")

    async def _until_recorded(self, rec: Any, timeout_s: float = 120.0) -> None:
        """Every payment the finance systems sent is recorded (or refused) before the stack stops:
        one paid on the year's last day may meet a sponsorship just killed and starting again."""
        answered = {self.t(contracts.PAYMENT_RECORDED.topic), self.t(contracts.PAYMENT_REJECTED.topic)}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            done = {e.payload.get("reference") for e in rec.events if e.topic in answered}
            if self.submitted <= done:
                return
            await rec.poll(0.5)

    async def _until_confirmed(self, timeout_s: float = 120.0) -> None:
        """The year's last payments reach BPJS, and the confirmations it lost are re-sent (three
        programme days later): wait until every paid month of the year's invoices is confirmed."""
        conn = await asyncpg.connect(self.urls["sponsorship"])
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                waiting = await conn.fetchval(
                    "SELECT count(*) FROM member_month m JOIN invoice i USING (invoice_id)"
                    " WHERE i.month <= $1 AND m.state = 'paid'",
                    _add_months(self.end, 0),
                )
                if not waiting:
                    return
                await asyncio.sleep(0.5)
        finally:
            await conn.close()

    def _invoice(self, invoice: dict[str, Any]) -> None:
        company = self.by_company_id.get(invoice["company_id"])
        if company is None or invoice["invoice_id"] in self.paid:
            return
        self.paid.add(invoice["invoice_id"])
        issued, due = date.fromisoformat(invoice["issue_date"]), date.fromisoformat(invoice["due_date"])
        month_index = _months_between(YEAR_START.date(), date.fromisoformat(invoice["month"] + "-01"))
        if company.pays == "late":
            pay_on = due + timedelta(days=7)
        elif company.pays == "stops" and month_index >= max(1, self.s.short_months // 2):
            return  # C pays the first months only
        else:
            pay_on = issued + timedelta(days=3 + len(company.key) % 3)
        self.pending.append((pay_on, invoice))

    async def _pay_due(self, today: date) -> None:
        due = [(d, inv) for d, inv in self.pending if d <= today]
        if not due:
            return
        self.pending = [(d, inv) for d, inv in self.pending if d > today]
        bodies = [
            {
                "company_id": inv["company_id"],
                "reference": f"TRF-{inv['invoice_number']}",
                "amount_idr": inv["total_idr"],
                "paid_on": today.isoformat(),
            }
            for _, inv in due
        ]
        self.submitted |= {b["reference"] for b in bodies}
        await publish_json(
            self.who.operator,
            self.t(contracts.PAYMENT_SUBMITTED.topic),
            [(b["company_id"], b) for b in bodies],
        )

    async def _renew(self) -> None:
        d = self.companies["D"]
        body = {
            "commitment_id": d.commitment_id,
            "company_id": d.company_id,
            "reference": "ADD-1",
            "months": 12,
        }
        await publish_json(
            self.who.operator,
            self.t(contracts.COMMITMENT_EXTENSION_SUBMITTED.topic),
            [(d.commitment_id, body)],
        )
        self.renewed = True

    # --- the summary --------------------------------------------------------------------------

    def _once(self, events: list[RecordedEvent]) -> list[str]:
        """From the topics: no company's month invoiced twice (one invoice id, one event id), and
        every payment sent recorded once (a redelivery carries the same event id)."""
        problems = []
        invoices: defaultdict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
        recorded: defaultdict[str, set[str]] = defaultdict(set)
        for e in events:
            name = e.topic.removeprefix(self.prefix)
            if name == contracts.INVOICE_ISSUED.topic:
                p = e.payload
                invoices[(p["company_id"], p["month"])].add((p["invoice_id"], e.headers.get("ce_id", "")))
            elif name == contracts.PAYMENT_RECORDED.topic:
                recorded[e.payload["reference"]].add(e.headers.get("ce_id", ""))
        twice = sorted(k for k, ids in invoices.items() if len(ids) > 1)
        if twice:
            problems.append(f"months invoiced twice: {twice[:5]}")
        lost = sorted(self.submitted - set(recorded))
        if lost:
            problems.append(f"payments sent, never recorded: {lost[:5]}")
        if any(len(ids) > 1 for ids in recorded.values()):
            problems.append("a payment recorded twice")
        return problems

    def _months(self, events: list[RecordedEvent]) -> list[dict[str, Any]]:
        rows: defaultdict[str, Counter[str]] = defaultdict(Counter)
        last_day: dict[str, dict[str, Any]] = {}
        for e in _distinct(events):
            name = e.topic.removeprefix(self.prefix)
            p = e.payload
            if name == contracts.COVERAGE_REPORTED.topic:
                month = p["day"][:7]
                rows[month]["gaps"] += p["unplanned_gaps"]
                if month not in last_day or p["day"] > last_day[month]["day"]:
                    last_day[month] = p
            elif name == contracts.INVOICE_ISSUED.topic:
                rows[p["month"]]["invoices"] += 1
            elif name == contracts.PAYMENT_RECORDED.topic:
                month = p["paid_on"][:7]
                rows[month]["paid_on_time"] += p["lines_paid"] - p["lines_paid_late"]
                rows[month]["paid_late"] += p["lines_paid_late"]
            elif name == contracts.COVERAGE_ENDED.topic:
                month = p["last_covered_day"][:7]
                rows[month]["lapsed" if p["reason"] == "lapsed" else "ended"] += 1
                rows[month]["fallback" if p["next"] == "fallback" else "waitlisted"] += 1
            elif name == contracts.COVERAGE_EXTENDED.topic:
                rows[p["extended_at"][:7]]["extended"] += 1
            elif name == contracts.CONTRIBUTION_PAID.topic and p.get("attempt", 1) > 1:
                rows[p["month"][:7]]["resent"] += 1
        table = []
        for month in sorted(m for m in rows if m >= _month(YEAR_START.date()) and m <= _month(self.end)):
            row: dict[str, Any] = {"month": month, **rows[month]}
            day = last_day.get(month)
            if day:
                row.update(
                    covered=day["workers_covered"],
                    at_risk=day["members_at_risk"],
                    six_paid=day["members_six_paid_months"],
                )
            table.append(row)
        return table

    async def _reconcile(self) -> tuple[dict[str, int], list[str]]:
        """The ledger's word at the end: every invoice's lines paid and confirmed by BPJS, or
        missed by a company whose workers lapsed; no payment lost (the money is lines and credit)."""
        conn = await asyncpg.connect(self.urls["sponsorship"])
        try:
            last_month = _add_months(self.end, 0)
            lines = {
                r["state"]: r["n"]
                for r in await conn.fetch(
                    "SELECT m.state, count(*) AS n FROM member_month m JOIN invoice i USING (invoice_id)"
                    " WHERE i.month <= $1 GROUP BY m.state",
                    last_month,
                )
            }
            unreconciled = await conn.fetchval(
                "SELECT count(*) FROM member_month m JOIN enrollment e USING (enrollment_id)"
                " JOIN invoice i USING (invoice_id) WHERE i.month <= $1 AND NOT (m.state = 'confirmed'"
                " OR (m.state = 'missed' AND e.status = 'lapsed'))",
                last_month,
            )
            money = await conn.fetchrow(
                "SELECT (SELECT coalesce(sum(amount_idr), 0) FROM payment) AS paid,"
                " (SELECT coalesce(sum(amount_idr), 0) FROM payment_line) AS allocated,"
                " (SELECT coalesce(sum(credit_idr), 0) FROM company_credit) AS credit"
            )
            resent = await conn.fetchval("SELECT count(*) FROM contribution_sent WHERE attempts > 1")
            resent_confirmed = await conn.fetchval(
                "SELECT count(*) FROM contribution_sent s JOIN member_month m USING (enrollment_id, month)"
                " WHERE s.attempts > 1 AND m.state = 'confirmed'"
            )
            invoices = await conn.fetchval("SELECT count(*) FROM invoice WHERE month <= $1", last_month)
            # Within the year played (the clock ran on a little while the last months were confirmed).
            after = self.end + timedelta(days=1)
            lapsed = await conn.fetchval(
                "SELECT count(*) FROM enrollment WHERE status = 'lapsed' AND ended_on <= $1", after
            )
            ended = await conn.fetchval(
                "SELECT count(*) FROM enrollment WHERE status = 'ended' AND ended_on <= $1", after
            )
            followed = await conn.fetchval(
                "SELECT count(*) FROM enrollment WHERE follows IS NOT NULL AND coverage_start <= $1", after
            )
            gapless = await conn.fetchval(
                "SELECT count(*) FROM enrollment n JOIN enrollment o ON o.enrollment_id = n.follows"
                " WHERE n.coverage_start <= $1 AND n.coverage_start = least(o.coverage_end, o.ended_on - 1) + 1",
                after,
            )
            days = await conn.fetchrow(
                "SELECT coalesce(sum(workers_uncovered), 0) AS lost, count(*) AS days FROM coverage_day"
                " WHERE day BETWEEN $1 AND $2",
                YEAR_START.date(),
                self.end,
            )
        finally:
            await conn.close()
        assert money is not None and days is not None
        totals = {
            "invoices issued": int(invoices),
            "invoice lines confirmed by BPJS": int(lines.get("confirmed", 0)),
            "invoice lines missed (lapsed)": int(lines.get("missed", 0)),
            "invoice lines paid, awaiting BPJS": int(lines.get("paid", 0)),
            "invoice lines unpaid": int(lines.get("invoiced", 0)),
            "paid months sent again (BPJS lost or had not yet sent the confirmation)": int(resent),
            "  of which confirmed since": int(resent_confirmed),
            "memberships lapsed (3 months unpaid)": int(lapsed),
            "coverage periods ended": int(ended),
            "workers taken over by another sponsor": int(followed),
            "  of which from the very next day": int(gapless),
            "payments (Rp)": int(money["paid"]),
            "allocated to months (Rp)": int(money["allocated"]),
            "companies' credit (Rp)": int(money["credit"]),
            "days reported": int(days["days"]),
            "coverage-days lost": int(days["lost"]),
        }
        problems = []
        if unreconciled:
            problems.append(
                f"{unreconciled} invoice lines neither confirmed nor missed by a lapsed membership"
            )
        if money["paid"] != money["allocated"] + money["credit"]:
            problems.append("payments do not add up to the months they paid and the credit")
        if gapless != followed:
            problems.append(f"{followed - gapless} take-overs did not start the day after")
        if resent != resent_confirmed:
            problems.append(f"{resent - resent_confirmed} re-sent months still unconfirmed")
        if int(days["days"]) != (self.end - YEAR_START.date()).days + 1:
            problems.append("a day's numbers are missing")
        return totals, problems


def _month(day: date) -> str:
    return f"{day:%Y-%m}"


def _distinct(events: list[RecordedEvent]) -> list[RecordedEvent]:
    """Each event once: delivery is at least once, so a relay killed between publishing and
    marking its rows published sends them again with the same `ce_id` (what a subscriber
    deduplicates by, with `ce_source`)."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for e in events:
        key = (e.topic, e.headers.get("ce_source", ""), e.headers.get("ce_id", ""))
        if not key[2] or key not in seen:
            seen.add(key)
            out.append(e)
    return out


def _add_months(day: date, n: int) -> date:
    index = day.year * 12 + day.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


async def play_year(
    s: YearSettings, who: Who, database_urls: dict[str, str], prefix: str, log: Any = print
) -> YearResult:
    return await Year(s, who, database_urls, prefix, log).play()


def main() -> int:
    from urllib.parse import urlsplit, urlunsplit

    from deploy.chaos import Servers, _reset_database
    from shared import access

    workers = int(os.environ.get("DEMO_YEAR_WORKERS", "2000"))
    speed = float(os.environ.get("DEMO_YEAR_SPEED", "100000"))
    s = YearSettings(workers=workers, speed=speed)
    servers = Servers()
    database = "muba_year"
    urls = {
        name: urlunsplit(urlsplit(url)._replace(path="/" + database))
        for name, url in servers.database_urls().items()
    }
    print(f"demo-year: database {database} (recreated), {workers} workers, {s.months} months", flush=True)
    asyncio.run(_reset_database(servers.admin_database_url, database))
    admin = servers.kafka()
    who = Who(
        admin,
        admin.as_principal(access.OPERATOR),
        admin.as_principal(topics.partner_principal("desa-online")),
        "desa-online",
    )
    # The companies' e-mails (each invoice with its CSV attached) go to a real SMTP server.
    catcher = Catcher(load_key(None, secrets_dir()), MAILBOX, free_port(), free_port())
    catcher.start()
    os.environ.update(
        NOTIFICATIONS_SMTP_HOST="127.0.0.1",
        NOTIFICATIONS_SMTP_PORT=str(catcher.smtp_port),
        NOTIFICATIONS_SMTP_SECURITY="none",
    )
    try:
        result = asyncio.run(
            play_year(s, who, urls, f"year{int(time.time()):x}.", lambda line: print(line, flush=True))
        )
    finally:
        catcher.stop()
    emails = catcher.received.emails
    invoices = [m for m in emails if any(p.get_filename() for p in m.iter_attachments())]
    result.totals["e-mails in the SMTP mailbox (.cache/mailbox-year/)"] = len(emails)
    result.totals["  of which invoices with their CSV attached"] = len(invoices)
    if not invoices:
        result.problems.append("no invoice e-mail with its CSV reached the SMTP server")
    print(result.report())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
