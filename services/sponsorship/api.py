"""Sponsorship's read endpoints (GET /api/...): what the `muba` CLI asks, and what a company may
see of its own commitments.

A company token sees only its own commitments, their enrollments and the workers they cover; asked
about anything else it gets the answer an unknown id gets (404), so nothing says it exists. KPJ
numbers are shown in full to the office only."""

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from faststream.asgi import AsgiResponse

from services.sponsorship import contributions, repository
from services.sponsorship.domain.commitments import budget_idr
from services.sponsorship.domain.invoices import build_invoice, invoice_csv
from services.sponsorship.domain.ledger import LINE_STATES, LedgerSums, coverage_end
from services.sponsorship.domain.tariffs import PACKAGES, Pricing, TariffTable, TariffTableError
from services.sponsorship.settings import SponsorshipSettings
from shared import clock
from shared.calendar import Month, programme_calendar
from shared.consumer import Publisher
from shared.db import Conn
from shared.events.sponsorship import Package
from shared.http_access import EVERY_ROLE, OFFICE_AND_AUDITOR, OFFICE_ONLY, ApiParams, Caller, Role
from shared.kecamatan import WHOLE_REGENCY_NAME, kecamatan_name
from shared.masking import mask_name, mask_nik, mask_phone
from shared.outbox import add_rows
from shared.runtime import BadRequest, NotFound, ServiceRuntime
from shared.validation import MAX_MONTHS, MAX_SLOTS

PROGRAMME_TARGET = 10_000


def _company_scope(caller: Caller) -> str | None:
    """The company a caller is confined to (None: every company's data)."""
    if caller.role is Role.COMPANY:
        assert caller.company_id, "a company token always names its company"
        return caller.company_id
    return None


def _kpj(kpj_number: str | None, caller: Caller) -> str | None:
    if kpj_number is None or caller.unmasked:
        return kpj_number
    return kpj_number[:2] + "*" * max(len(kpj_number) - 5, 0) + kpj_number[-3:]


async def worker(conn: Conn, params: ApiParams) -> dict[str, Any]:
    try:
        worker_id = uuid.UUID(params.get("worker_id", ""))
    except ValueError:
        raise BadRequest("worker_id: a worker id (UUID) is required") from None
    found, enrollment = await repository.worker_with_enrollment(conn, worker_id)
    elsewhere = await repository.funded_elsewhere_of(conn, worker_id)
    company = _company_scope(params.caller)
    if company is not None and (enrollment is None or enrollment["company_id"] != company):
        # Not matched to one of this company's commitments (now): the same answer as an unknown id.
        found = None
    if found is None:
        raise NotFound("sponsorship has not heard of this worker (yet)")
    return {
        "worker_id": str(worker_id),
        "status": found["status"],
        "kecamatan_name": found["kecamatan_name"],
        "occupation": found["occupation"],
        "status_changed_at": found["status_changed_at"].isoformat(),
        # Another payer funds the worker (registry.worker-funded-elsewhere): withdrawn, or flagged.
        "funded_elsewhere": None
        if elsewhere is None
        else {
            "funder": elsewhere["funder"],
            "source_code": elsewhere["source_code"],
            "description": elsewhere["description"],
            "noticed_at": elsewhere["noticed_at"].isoformat(),
        },
        "enrollment": None
        if enrollment is None
        else {
            "enrollment_id": str(enrollment["enrollment_id"]),
            "status": enrollment["status"],
            "commitment_id": enrollment["commitment_id"],
            "company_name": enrollment["company_name"],
            "package": enrollment["package"],
            "months": enrollment["months"],
            "contribution_idr": enrollment["contribution_idr"],
            "kpj_number": _kpj(enrollment["kpj_number"], params.caller),
            "membership": enrollment["membership"],
            "coverage_start": enrollment["coverage_start"].isoformat(),
            "coverage_end": enrollment["coverage_end"].isoformat() if enrollment["coverage_end"] else None,
            "reason_code": enrollment["reason_code"],
            "reason_message": enrollment["reason_message"],
            "requested_at": enrollment["requested_at"].isoformat(),
        },
    }


async def commitments(conn: Conn, params: ApiParams) -> list[dict[str, Any]]:
    return await _commitments(conn, _company_scope(params.caller))


async def _commitments(conn: Conn, company_id: str | None) -> list[dict[str, Any]]:
    return [
        {
            "commitment_id": c["commitment_id"],
            "company_id": c["company_id"],
            "company_name": c["company_name"],
            "kecamatan": [WHOLE_REGENCY_NAME]
            if c["whole_regency"]
            else [kecamatan_name(code) for code in c["kecamatan_codes"]],
            "slots": c["slots"],
            "slots_used": c["slots_used"],
            "months": c["months"],
            "package": c["package"],
            "budget_idr": c["budget_idr"],
            "budget_used_idr": c["budget_used_idr"],
            "enrolled": c["enrolled"],
            "requested": c["requested"],
            "created_at": c["created_at"].isoformat(),
        }
        for c in await repository.commitments_with_use(conn, company_id)
    ]


async def enrollments(conn: Conn, params: ApiParams) -> dict[str, Any]:
    """`GET /api/enrollments?commitment_id=...[&limit=&offset=]`: the enrollments of one commitment."""
    commitment_id = params.get("commitment_id", "")
    if not commitment_id:
        raise BadRequest("commitment_id: the commitment's id is required")
    try:
        limit = int(params.get("limit", "1000"))
        offset = int(params.get("offset", "0"))
    except ValueError:
        raise BadRequest("limit, offset: whole numbers expected") from None
    if not 1 <= limit <= 1000 or offset < 0:
        raise BadRequest("limit, offset: limit between 1 and 1000, offset 0 or more")
    found = await repository.PgSponsorshipStore(conn).commitment(commitment_id)
    company = _company_scope(params.caller)
    if found is None or (company is not None and found.company_id != company):
        raise NotFound("no commitment with this id")
    return {
        "commitment_id": commitment_id,
        "company_id": found.company_id,
        "enrollments": [
            {
                "enrollment_id": str(e["enrollment_id"]),
                "worker_id": str(e["worker_id"]),
                # Who the worker is, masked (the NIK and phone for everyone, the name for all
                # but the office): enough for a sponsor to recognise its workers.
                "nik_masked": mask_nik(e["nik"]),
                "full_name": e["full_name"] if params.caller.unmasked else mask_name(e["full_name"]),
                "phone_masked": mask_phone(e["phone"]),
                "kecamatan_name": e["kecamatan_name"],
                "occupation": e["occupation"],
                "status": e["status"],
                "package": e["package"],
                "months": e["months"],
                "contribution_idr": e["contribution_idr"],
                "kpj_number": _kpj(e["kpj_number"], params.caller),
                "membership": e["membership"],
                "coverage_start": e["coverage_start"].isoformat(),
                "coverage_end": e["coverage_end"].isoformat() if e["coverage_end"] else None,
                "reason_code": e["reason_code"],
                "requested_at": e["requested_at"].isoformat(),
            }
            for e in await repository.enrollments_of(conn, commitment_id, limit, offset)
        ],
    }


def _at(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def worker_months(conn: Conn, params: ApiParams) -> dict[str, Any]:
    """`GET /api/months?worker_id=...`: a worker's member-month ledger, every enrollment's, by
    month: what each month costs the sponsor and where it stands (invoiced, paid, confirmed by
    BPJS: the proof of each paid month). A company sees only its own months of the worker."""
    try:
        worker_id = uuid.UUID(params.get("worker_id", ""))
    except ValueError:
        raise BadRequest("worker_id: a worker id (UUID) is required") from None
    rows = await repository.months_of_worker(conn, worker_id)
    company = _company_scope(params.caller)
    if company is not None:
        rows = [r for r in rows if r["company_id"] == company]
    if not rows:
        raise NotFound("no contribution months of this worker (not enrolled, or not yet confirmed)")
    totals: dict[str, int] = defaultdict(int)
    for r in rows:
        totals[r["state"]] += r["contribution_idr"]
    return {
        "worker_id": str(worker_id),
        "months": [
            {
                "month": r["month"].isoformat()[:7],
                "enrollment_id": str(r["enrollment_id"]),
                "commitment_id": r["commitment_id"],
                "company_name": r["company_name"],
                "kpj_number": _kpj(r["kpj_number"], params.caller),
                "contribution_idr": r["contribution_idr"],
                "discount": r["discount"],
                "state": r["state"],
                "invoice_id": r["invoice_id"],
                "invoiced_at": _at(r["invoiced_at"]),
                "paid_at": _at(r["paid_at"]),
                "confirmed_at": _at(r["confirmed_at"]),
                "missed_at": _at(r["missed_at"]),
            }
            for r in rows
        ],
        "totals_idr": {state: totals[state] for state in LINE_STATES},
    }


async def payments(conn: Conn, params: ApiParams) -> dict[str, Any]:
    """`GET /api/payments?company_id=...`: a company's payments, which worker-months each paid
    (each paid month's proof: its state, paid and confirmed times), and its credit. A company
    sees only its own (another's: as if it had none)."""
    company_id = params.get("company_id", "").strip()
    if not company_id:
        raise BadRequest("company_id: a company id is required")
    scope = _company_scope(params.caller)
    if scope is not None and scope != company_id:
        raise NotFound("no payments of this company")
    found = await repository.payments_of(conn, company_id)
    if not found:
        raise NotFound("no payments of this company")
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in await repository.paid_lines_of(conn, company_id):
        lines[r["reference"]].append(
            {
                "month": r["month"].isoformat()[:7],
                "enrollment_id": str(r["enrollment_id"]),
                "worker_id": str(r["worker_id"]),
                "kpj_number": _kpj(r["kpj_number"], params.caller),
                "amount_idr": r["amount_idr"],
                "on_time": r["on_time"],
                "state": r["state"],
                "paid_at": _at(r["paid_at"]),
                "confirmed_at": _at(r["confirmed_at"]),
            }
        )
    return {
        "company_id": company_id,
        "credit_idr": await repository.credit_of(conn, company_id),
        "payments": [
            {
                "payment_id": str(r["payment_id"]),
                "reference": r["reference"],
                "amount_idr": r["amount_idr"],
                "paid_on": r["paid_on"].isoformat(),
                "credit_idr": r["credit_idr"],
                "recorded_at": r["recorded_at"].isoformat(),
                "lines": lines.get(r["reference"], []),
            }
            for r in found
        ],
    }


async def _ledger(conn: Conn) -> list[dict[str, Any]]:
    """Per commitment: the budget, what requested enrollments reserve, what its ledger lines
    commit (by state), and the months still to come. Committed = reserved + the ledger: the
    budget drawn from the ledger (budget_used_idr is the same figure, kept by the handlers;
    enrollments confirmed before the ledger existed have no lines, and show as the difference)."""
    this_month = clock.today_in_jakarta()
    answer = []
    for r in await repository.ledger_by_commitment(conn, this_month):
        sums = LedgerSums.of({state: r[f"{state}_idr"] for state in LINE_STATES})
        committed = r["reserved_idr"] + sums.total_idr
        answer.append(
            {
                "commitment_id": r["commitment_id"],
                "company_name": r["company_name"],
                "budget_idr": r["budget_idr"],
                "reserved_idr": r["reserved_idr"],
                "ledger_idr": {state: r[f"{state}_idr"] for state in LINE_STATES} | {"total": sums.total_idr},
                "committed_idr": committed,
                "budget_used_idr": r["budget_used_idr"],
                "budget_left_idr": r["budget_idr"] - committed,
                "over_budget_idr": max(committed - r["budget_idr"], 0),
                # Calendar months from this one (Jakarta) that still have lines.
                "months_left": r["months_left"],
                "last_month": r["last_month"].isoformat()[:7] if r["last_month"] else None,
            }
        )
    return answer


async def report(conn: Conn, params: ApiParams) -> dict[str, Any]:
    totals: dict[str, int] = defaultdict(int)
    by_kecamatan: dict[str, dict[str, int]] = defaultdict(
        lambda: {"enrolled": 0, "waitlisted": 0, "failed": 0}
    )
    for row in await repository.workers_by(conn, "kecamatan_name"):
        totals[row["status"]] += row["n"]
        if row["status"] in ("enrolled", "waitlisted", "failed"):
            by_kecamatan[row["k"]][row["status"]] += row["n"]
    by_occupation: dict[str, dict[str, int]] = defaultdict(lambda: {"enrolled": 0, "waitlisted": 0})
    for row in await repository.workers_by(conn, "occupation"):
        if row["status"] in ("enrolled", "waitlisted"):
            by_occupation[row["k"]][row["status"]] += row["n"]
    by_company: dict[str, dict[str, int]] = defaultdict(
        lambda: {"enrolled": 0, "slots": 0, "slots_used": 0, "budget_idr": 0, "budget_used_idr": 0}
    )
    for c in await _commitments(conn, None):
        company = by_company[c["company_name"]]
        for key in company:
            company[key] += c[key]
    return {
        "target": PROGRAMME_TARGET,
        "enrolled": totals["enrolled"],
        "requested": totals["matched"],
        "waitlisted": totals["waitlisted"],
        "failed": totals["failed"],
        "by_kecamatan": dict(by_kecamatan),
        "by_company": dict(by_company),
        "by_occupation": dict(by_occupation),
        # Confirmed enrollments by what BPJS did: new members, existing ones continued or resumed.
        "enrolled_by_membership": await repository.enrolled_by_membership(conn),
        # Another payer funds them: withdrawn from the waitlist, or flagged with an enrollment
        # (the office decides about those; listed, oldest notice first).
        "funded_elsewhere": await repository.funded_elsewhere(conn),
        "funded_elsewhere_flagged": [
            {
                "worker_id": str(r["worker_id"]),
                "funder": r["funder"],
                "status": r["status"],
                "kecamatan_name": r["kecamatan_name"],
                "enrollment_id": str(r["enrollment_id"]) if r["enrollment_id"] else None,
                "enrollment_status": r["enrollment_status"],
                "company_name": r["company_name"],
                "noticed_at": r["noticed_at"].isoformat(),
            }
            for r in await repository.flagged_enrollments(conn)
        ],
        # The member-month ledger per commitment (budget, reserved, lines by state, months left).
        "ledger": await _ledger(conn),
        # Confirmed enrollments by the Jakarta day BPJS confirmed them: progress over time.
        "enrolled_by_day": [
            {"day": r["day"].isoformat(), "enrolled": r["n"]} for r in await repository.confirmed_by_day(conn)
        ],
        "budget_committed_idr": sum(c["budget_idr"] for c in by_company.values()),
        "budget_used_idr": sum(c["budget_used_idr"] for c in by_company.values()),
    }


def months_left(today: date, until: date | None) -> int:
    """Whole months of coverage from `today` to the last covered day `until` (the programme's
    month arithmetic, ledger.coverage_end): 0 when less than a month is left or none."""
    if until is None or until < today:
        return 0
    n = (until.year - today.year) * 12 + until.month - today.month + 1
    while n > 0 and coverage_end(today, n) > until:
        n -= 1
    return n


def _day_param(params: ApiParams, name: str) -> date | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name}: a day, YYYY-MM-DD") from None


COVERAGE_DAYS_LIMIT = 400  # about a year of days and the month before it


async def coverage(conn: Conn, params: ApiParams) -> dict[str, Any]:
    """`GET /api/coverage[?from=YYYY-MM-DD&to=YYYY-MM-DD]` (office, auditor): the coverage job's
    daily numbers, newest first (at most COVERAGE_DAYS_LIMIT days); their totals over the same
    days (coverage-days lost, unplanned gap-days: the latter must be 0); and per commitment its
    budget burn: the budget, its ledger's total, what is paid of it, what was missed, the months
    left (today, Jakarta, to the latest last day of its live enrollments) and whether a lapse
    suspended it."""
    first, last = _day_param(params, "from"), _day_param(params, "to")
    if first is not None and last is not None and first > last:
        raise BadRequest("from: a day on or before `to`")
    today = clock.today_in_jakarta()
    until: dict[str, date] = {}
    for r in await repository.requested_periods(conn):
        end = coverage_end(r["coverage_start"], r["months"])
        until[r["commitment_id"]] = max(until.get(r["commitment_id"], end), end)
    commitments_burn = []
    for r in await repository.coverage_by_commitment(conn):
        ends = [d for d in (r["confirmed_until"], until.get(r["commitment_id"])) if d is not None]
        covered_until = max(ends) if ends else None
        commitments_burn.append(
            {
                "commitment_id": r["commitment_id"],
                "company_id": r["company_id"],
                "company_name": r["company_name"],
                "months": r["months"],
                "budget_idr": r["budget_idr"],
                "budget_used_idr": r["budget_used_idr"],
                "ledger_idr": r["ledger_idr"],
                "paid_idr": r["paid_idr"],
                "missed_idr": r["missed_idr"],
                "live_enrollments": r["live"],
                "covered_until": covered_until.isoformat() if covered_until else None,
                "days_left": (covered_until - today).days + 1
                if covered_until and covered_until >= today
                else 0,
                "months_left": months_left(today, covered_until),
                "suspended_on": r["suspended_on"].isoformat() if r["suspended_on"] else None,
            }
        )
    totals = await repository.coverage_totals(conn, first, last)
    return {
        "today": today.isoformat(),
        "from": first.isoformat() if first else None,
        "to": last.isoformat() if last else None,
        "days": [
            {
                "day": r["day"].isoformat(),
                "workers_covered": r["workers_covered"],
                "workers_uncovered": r["workers_uncovered"],
                "unplanned_gaps": r["unplanned_gaps"],
                "members_at_risk": r["members_at_risk"],
                "members_six_paid_months": r["members_six_paid_months"],
                "reported_at": r["reported_at"].isoformat(),
            }
            for r in await repository.coverage_days(conn, first, last, COVERAGE_DAYS_LIMIT)
        ],
        "totals": {
            "days": totals["days"],
            "coverage_days_lost": totals["coverage_days_lost"],
            "unplanned_gap_days": totals["unplanned_gap_days"],
        },
        "commitments": commitments_burn,
    }


async def stored_table(conn: Conn) -> TariffTable:
    return (await repository.current_tariff_table(conn)).table


def commitment_quote(
    apply_discount: bool, tariffs: Callable[[Conn], Awaitable[TariffTable]] = stored_table
) -> Callable[[Conn, ApiParams], Awaitable[dict[str, Any]]]:
    """`GET /api/commitment-quote?package=&months=&slots=`: the budget a commitment submitted
    today would get, by the same stored tariff table and discount setting the service accepts it
    with."""

    async def quote(conn: Conn, params: ApiParams) -> dict[str, Any]:
        package = params.get("package", "").strip().upper()
        if package not in PACKAGES:
            raise BadRequest("package: JKK_JKM or JKK_JKM_JHT")
        try:
            months, slots = int(params.get("months", "")), int(params.get("slots", ""))
        except ValueError:
            raise BadRequest("months, slots: whole numbers expected") from None
        if not (1 <= months <= MAX_MONTHS and 1 <= slots <= MAX_SLOTS):
            raise BadRequest(f"months between 1 and {MAX_MONTHS}, slots between 1 and {MAX_SLOTS}")
        chosen: Package = "JKK_JKM" if package == "JKK_JKM" else "JKK_JKM_JHT"
        pricing = Pricing(await tariffs(conn), clock.today_in_jakarta(), apply_discount)
        per_worker = budget_idr(pricing, chosen, 1, months)
        return {
            "package": chosen,
            "months": months,
            "slots": slots,
            "start_month": pricing.start.replace(day=1).isoformat(),
            "income_floor_idr": pricing.tariffs.tariff_for(pricing.start).income_floor_idr,
            "discount_applied": apply_discount,
            "per_worker_idr": per_worker,
            "budget_idr": per_worker * slots,
        }

    return quote


def _tariffs_answer(stored: repository.StoredTable, apply_discount: bool) -> dict[str, Any]:
    return {
        "version": stored.version,
        "digest": stored.digest,
        "loaded_by": stored.loaded_by,
        "loaded_at": stored.loaded_at.isoformat() if stored.loaded_at else None,
        # The service's setting (SPONSORSHIP_APPLY_DISCOUNT), not the table's.
        "discount_applies_to_company_paid": apply_discount,
        "table": stored.document(),
    }


def tariffs(apply_discount: bool) -> Callable[[Conn, ApiParams], Awaitable[dict[str, Any]]]:
    """`GET /api/tariffs`: the tariff table in force (its version, who loaded it) and whether the
    PP 50/2025 discount applies to company-paid members here."""

    async def read(conn: Conn, params: ApiParams) -> dict[str, Any]:
        return _tariffs_answer(await repository.current_tariff_table(conn), apply_discount)

    return read


def replace_tariffs(apply_discount: bool) -> Callable[[Conn, ApiParams, Any], Awaitable[dict[str, Any]]]:
    """`PUT /api/tariffs` (office): a new tariff table (the document `GET /api/tariffs` answers in
    `table`) becomes the next version, priced from by every instance from its next message. A
    refused one is a 400 naming each row and why; nothing is stored."""

    async def write(conn: Conn, params: ApiParams, document: Any) -> dict[str, Any]:
        try:
            stored = await repository.replace_tariff_table(conn, document, params.caller.name)
        except TariffTableError as exc:
            raise BadRequest(str(exc)[:2000]) from None
        return _tariffs_answer(stored, apply_discount)

    return write


def _invoice(r: Any) -> dict[str, Any]:
    return {
        "invoice_id": r["invoice_id"],
        "number": r["number"],
        "company_id": r["company_id"],
        "company_name": r["company_name"],
        "month": r["month"].isoformat()[:7],
        "total_idr": r["total_idr"],
        "lines_count": r["lines_count"],
        "issue_date": r["issue_date"].isoformat(),
        "due_date": r["due_date"].isoformat(),
        "issued_at": r["issued_at"].isoformat(),
    }


async def invoices(conn: Conn, params: ApiParams) -> list[dict[str, Any]]:
    """`GET /api/invoices?company_id=&month=YYYY-MM`: the invoices issued (a company sees only
    its own, whatever company_id it names)."""
    month = None
    if params.get("month"):
        try:
            month = Month.parse(params.get("month", "")).first_day
        except ValueError:
            raise BadRequest("month: YYYY-MM expected") from None
    company = _company_scope(params.caller) or (params.get("company_id") or None)
    return [_invoice(r) for r in await repository.invoices_of(conn, company, month)]


async def invoice_download(conn: Conn, params: ApiParams) -> AsgiResponse:
    """`GET /api/invoices.csv?invoice_id=`: the invoice's CSV of its workers (NIK masked),
    rendered from its lines. Another company's invoice is answered as an unknown one."""
    found = await repository.stored_invoice(conn, params.get("invoice_id", "").strip())
    company = _company_scope(params.caller)
    if found is None or (company is not None and found[0]["company_id"] != company):
        raise NotFound("no such invoice")
    row, lines = found
    invoice = build_invoice(
        row["company_id"], row["company_name"], Month.of(row["month"]), lines, programme_calendar()
    )
    return AsgiResponse(
        invoice_csv(invoice),
        200,
        headers={
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": f'attachment; filename="{invoice.number}.csv"',
        },
    )


def _older_than_days(value: object, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        days = int(str(value))
    except ValueError:
        raise BadRequest("older_than_days: a whole number of days") from None
    if not 0 <= days <= 366:
        raise BadRequest("older_than_days: between 0 and 366")
    return days


RECONCILIATION_LIMIT = 1000


def _reconciliation_answer(
    found: list[repository.SentContribution], days: int, caller: Caller
) -> dict[str, Any]:
    return {
        "older_than_days": days,
        "unconfirmed": len(found),
        "unconfirmed_idr": sum(x.line.contribution_idr for x in found),
        "months": [contributions.shown(x, _kpj(x.kpj_number, caller)) for x in found],
    }


async def reconciliation(conn: Conn, params: ApiParams) -> dict[str, Any]:
    """`GET /api/reconciliation[?older_than_days=N]`: paid months BPJS has not confirmed (paid
    more than N days ago; every one by default), oldest payment first, each with how often it was
    sent (`attempts`; `resent` the daily job's and the office's re-sends): a lost confirmation
    shows here until a re-send is confirmed."""
    days = _older_than_days(params.get("older_than_days"), 0)
    store = repository.PgSponsorshipStore(conn)
    found = await contributions.unconfirmed(store, days, RECONCILIATION_LIMIT)
    return _reconciliation_answer(found, days, params.caller)


def resend_contributions(
    default_days: int, topic_prefix: str
) -> Callable[[Conn, ApiParams, Any], Awaitable[dict[str, Any]]]:
    """`PUT /api/reconciliation` (office), body `{"older_than_days": N}` (optional, by default
    SPONSORSHIP_CONFIRMATION_RESEND_DAYS): each month the GET shows is sent to BPJS again at once (ContributionPaid, attempt + 1, through the outbox in this
    transaction); BPJS answers a re-sent month with the confirmation it gave or would have."""

    async def write(conn: Conn, params: ApiParams, body: Any) -> dict[str, Any]:
        if body is not None and not isinstance(body, dict):
            raise BadRequest('a JSON object expected: {"older_than_days": N}')
        days = _older_than_days((body or {}).get("older_than_days"), default_days)
        publisher = Publisher("sponsorship", topic_prefix)
        async with conn.transaction():
            store = repository.PgSponsorshipStore(conn)
            done = await contributions.resend_unconfirmed(store, publisher, days, RECONCILIATION_LIMIT)
            await add_rows(conn, publisher.rows)
        return {
            "older_than_days": days,
            "resent": len(done.resent),
            "resent_idr": sum(x.amount_idr for x in done.resent),
            # Paid months with no record of being sent (no payment id to send them with).
            "never_sent": [
                contributions.shown(x, _kpj(x.kpj_number, params.caller)) for x in done.never_sent
            ],
        }

    return write


def register(runtime: ServiceRuntime[Any], settings: SponsorshipSettings) -> None:
    """The read endpoints, and the office's tariff table; the quote prices with the stored table
    and the setting commitments are accepted by."""
    apply_discount = settings.apply_discount_to_company_paid
    # Tariffs are public: companies may ask what a commitment would cost too.
    runtime.api("commitment-quote", commitment_quote(apply_discount), roles=EVERY_ROLE)
    runtime.api(
        "tariffs",
        tariffs(apply_discount),
        roles=EVERY_ROLE,
        write=replace_tariffs(apply_discount),
        write_roles=OFFICE_ONLY,
    )
    runtime.api("workers", worker, roles=EVERY_ROLE, personal_data=True)
    runtime.api("enrollments", enrollments, roles=EVERY_ROLE, personal_data=True)
    # A worker's months and their proof; a company sees its own months only.
    runtime.api("months", worker_months, roles=EVERY_ROLE, personal_data=True)
    runtime.api("commitments", commitments, roles=EVERY_ROLE)
    # A company's payments and the months they paid; a company sees its own only.
    runtime.api("payments", payments, roles=EVERY_ROLE, personal_data=True)
    # Every company's budgets and use: not scoped, so not for companies.
    runtime.api("report", report, roles=OFFICE_AND_AUDITOR)
    # The coverage lifecycle's numbers and each commitment's budget burn (`muba report`).
    runtime.api("coverage", coverage, roles=OFFICE_AND_AUDITOR)
    # A company sees its own invoices only; the CSV names its workers (NIK masked).
    runtime.api("invoices", invoices, roles=EVERY_ROLE)
    runtime.api("invoices.csv", invoice_download, roles=EVERY_ROLE, personal_data=True)
    # Paid months BPJS has not confirmed (the daily job re-sends them; the office may at once).
    runtime.api(
        "reconciliation",
        reconciliation,
        roles=OFFICE_AND_AUDITOR,
        personal_data=True,
        write=resend_contributions(settings.confirmation_resend_days, settings.topic_prefix),
        write_roles=OFFICE_ONLY,
    )
