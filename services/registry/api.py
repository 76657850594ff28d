"""The registry's read endpoints (GET /api/...): what the `muba` CLI asks.

The registry does not know which company sponsors whom, so nothing here is open to company
tokens; auditors see names masked."""

from typing import Any

from services.registry import repository
from shared.db import Conn
from shared.http_access import OFFICE_AND_AUDITOR, OFFICE_ONLY, ApiParams
from shared.kecamatan import kecamatan_name
from shared.masking import mask_name, mask_nik, mask_phone
from shared.runtime import BadRequest, NotFound, ServiceRuntime
from shared.validation import normalise_nik


async def worker_by_nik(conn: Conn, params: ApiParams) -> dict[str, Any]:
    nik = normalise_nik(params.get("nik", ""))
    if len(nik) != 16 or not nik.isdigit():
        raise BadRequest("nik: 16 digits expected")
    worker = await repository.find_worker_by_nik(conn, nik)
    if worker is None:
        raise NotFound("no worker with this NIK is registered")
    return {
        "worker_id": str(worker["worker_id"]),
        "nik_masked": mask_nik(worker["nik"]),
        "full_name": worker["full_name"] if params.caller.unmasked else mask_name(worker["full_name"]),
        "phone_masked": mask_phone(worker["phone"]),
        "kecamatan_code": worker["kecamatan_code"],
        "kecamatan_name": kecamatan_name(worker["kecamatan_code"]),
        "occupation": worker["occupation"],
        "registered_at": worker["registered_at"].isoformat(),
        "source": worker["source"],
        "submission_id": worker["submission_id"],
    }


async def submissions(conn: Conn, params: dict[str, str]) -> dict[str, Any]:
    source = params.get("source", "")
    if not source:
        raise BadRequest("source: the partner id is required")
    return {"source": source, "submission_ids": await repository.submission_ids(conn, source)}


async def report(conn: Conn, params: dict[str, str]) -> dict[str, Any]:
    outcomes = await repository.outcome_counts(conn)
    rejected_kec = await repository.rejected_by_kecamatan(conn)
    return {
        "submissions": {"registered": outcomes.get("registered", 0), "rejected": outcomes.get("rejected", 0)},
        "registered_by_kecamatan": {
            kecamatan_name(code): n
            for code, n in (await repository.registered_by(conn, "kecamatan_code")).items()
        },
        "registered_by_occupation": await repository.registered_by(conn, "occupation"),
        "rejected_by_code": await repository.rejected_by_code(conn),
        "rejected_by_kecamatan": {
            (kecamatan_name(code) if code else "(tidak diketahui)"): n for code, n in rejected_kec.items()
        },
    }


def register(runtime: ServiceRuntime[Any]) -> None:
    runtime.api("workers", worker_by_nik, roles=OFFICE_AND_AUDITOR, personal_data=True)
    # What `muba import` asks to send nothing twice: the office's tool, nobody else's business.
    runtime.api("submissions", submissions, roles=OFFICE_ONLY)
    runtime.api("report", report, roles=OFFICE_AND_AUDITOR)
