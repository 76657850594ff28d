"""Sponsorship's read endpoints for operators (GET /api/...): what the `muba` CLI asks."""

import uuid
from collections import defaultdict
from typing import Any

from services.sponsorship import repository
from shared.db import Conn
from shared.kecamatan import WHOLE_REGENCY_NAME, kecamatan_name
from shared.runtime import BadRequest, NotFound, ServiceRuntime

PROGRAMME_TARGET = 10_000


async def worker(conn: Conn, params: dict[str, str]) -> dict[str, Any]:
    try:
        worker_id = uuid.UUID(params.get("worker_id", ""))
    except ValueError:
        raise BadRequest("worker_id: a worker id (UUID) is required") from None
    found, enrollment = await repository.worker_with_enrollment(conn, worker_id)
    if found is None:
        raise NotFound("sponsorship has not heard of this worker (yet)")
    return {
        "worker_id": str(worker_id),
        "status": found["status"],
        "kecamatan_name": found["kecamatan_name"],
        "occupation": found["occupation"],
        "status_changed_at": found["status_changed_at"].isoformat(),
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
            "kpj_number": enrollment["kpj_number"],
            "coverage_start": enrollment["coverage_start"].isoformat(),
            "coverage_end": enrollment["coverage_end"].isoformat() if enrollment["coverage_end"] else None,
            "reason_code": enrollment["reason_code"],
            "reason_message": enrollment["reason_message"],
            "requested_at": enrollment["requested_at"].isoformat(),
        },
    }


async def commitments(conn: Conn, params: dict[str, str]) -> list[dict[str, Any]]:
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
        for c in await repository.commitments_with_use(conn)
    ]


async def report(conn: Conn, params: dict[str, str]) -> dict[str, Any]:
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
    for c in await commitments(conn, {}):
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
        "budget_committed_idr": sum(c["budget_idr"] for c in by_company.values()),
        "budget_used_idr": sum(c["budget_used_idr"] for c in by_company.values()),
    }


def register(runtime: ServiceRuntime) -> None:
    runtime.api("workers", worker)
    runtime.api("commitments", commitments)
    runtime.api("report", report)
