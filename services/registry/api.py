"""The registry's read endpoints (GET /api/...): what the `muba` CLI asks.

The registry does not know which company sponsors whom, so nothing here is open to company
tokens; auditors see names masked."""

import uuid
from typing import Any

from services.registry import repository
from services.registry.domain.funders import (
    FUNDING_SOURCES,
    IMPORT_MAX_BODY_BYTES,
    FieldError,
    FunderList,
    NikKey,
    funded_elsewhere_event_id,
    parse_import,
)
from shared import clock
from shared.consumer import Publisher
from shared.db import Conn
from shared.events.registry import WorkerFundedElsewhere
from shared.http_access import OFFICE_AND_AUDITOR, OFFICE_ONLY, ApiParams
from shared.kecamatan import kecamatan_name
from shared.masking import mask_name, mask_nik, mask_phone
from shared.outbox import add_rows
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


# --- funder lists (services/registry/domain/funders.py) -------------------------------------------------


def _import_answer(done: repository.FunderImport, changed: bool, key: NikKey) -> dict[str, Any]:
    return {
        "import_id": str(done.import_id),
        "funder": done.funder,
        "source_code": done.source_code,
        "source_name": FUNDING_SOURCES.get(done.source_code, ""),
        "description": done.description,
        "file_name": done.file_name,
        "nik_count": done.nik_count,
        "imported_at": done.imported_at.isoformat(),
        "imported_by": done.imported_by,
        # Hashed with another key than today's: its NIKs cannot be found; import the file again.
        "key_current": done.key_id == key.key_id,
        "changed": changed,
    }


def import_funders(key: NikKey, topic_prefix: str = "") -> Any:
    async def write(conn: Conn, params: ApiParams, body: Any) -> dict[str, Any]:
        """`PUT /api/funders`: the named funder's list replaced by this one, whole, in one
        transaction (repository.replace_funder_list); the same list again changes nothing. A
        registered worker the new list adds is announced WorkerFundedElsewhere in it."""
        try:
            funders: FunderList = parse_import(body)
        except FieldError as exc:
            raise BadRequest(str(exc)) from None
        hashes = [key.digest(nik) for nik in funders.niks]
        async with conn.transaction():
            await repository.lock_funder_lists(conn)
            # Registered before the list came, and not on this funder's list until now: sponsorship
            # is told (WorkerFundedElsewhere, through the outbox in this transaction), so that no
            # sponsor's slot pays for someone another payer already pays for.
            # (A list hashed with an older key matches nobody: its workers are announced again,
            # with this import's id; sponsorship takes the second notice as the first.)
            registered = [
                (w, key.digest(nik)) for w, nik in await repository.registered_among(conn, funders.niks)
            ]
            on_before = await repository.listed_by(conn, funders.funder_key, [h for _, h in registered])
            newly_listed = [w for w, h in registered if h not in on_before]
            done, changed = await repository.replace_funder_list(
                conn,
                funders,
                hashes,
                [mask_nik(nik) for nik in funders.niks],
                list_digest=key.list_digest(funders, hashes),
                key_id=key.key_id,
                imported_by=params.caller.name,
            )
            answer = _import_answer(done, changed, key)
            # Registered before the list came: the office may want to look at them (a count only).
            answer["already_registered"] = len(registered)
            if changed and newly_listed:
                await add_rows(conn, _funded_elsewhere(done, newly_listed, topic_prefix).rows)
            answer["funded_elsewhere_published"] = len(newly_listed) if changed else 0
        return answer

    return write


def _funded_elsewhere(
    done: repository.FunderImport, worker_ids: list[uuid.UUID], topic_prefix: str
) -> Publisher:
    """One WorkerFundedElsewhere per worker, for the import's outbox rows (ids from import and worker)."""
    publisher = Publisher("registry", topic_prefix)
    noticed_at = clock.now()
    for worker_id in worker_ids:
        publisher.publish(
            WorkerFundedElsewhere(
                worker_id=str(worker_id),
                funder=done.funder,
                source_code=done.source_code,
                description=done.description,
                import_id=str(done.import_id),
                noticed_at=noticed_at,
            ),
            event_id=funded_elsewhere_event_id(done.import_id, worker_id),
        )
    return publisher


def funders_list(key: NikKey) -> Any:
    async def query(conn: Conn, params: ApiParams) -> dict[str, Any]:
        """`GET /api/funders`: every funder's current list (count, source code, last import)."""
        imports = await repository.current_funder_imports(conn)
        return {
            "key_id": key.key_id,
            "funders": [
                _import_answer(i, False, key) | {"funded": await repository.funded_count(conn, i.import_id)}
                for i in imports
            ],
        }

    return query


def funders_check(key: NikKey) -> Any:
    async def query(conn: Conn, params: ApiParams) -> dict[str, Any]:
        """`GET /api/funders/check?nik=`: which funders' lists hold this NIK (answered masked)."""
        nik = normalise_nik(params.get("nik", ""))
        if len(nik) != 16 or not nik.isdigit():
            raise BadRequest("nik: 16 digits expected")
        fundings = await repository.fundings_of(conn, key.digest(nik))
        return {
            "nik_masked": mask_nik(nik),
            "funded": bool(fundings),
            "funders": [
                {
                    "funder": f.funder,
                    "source_code": f.source_code,
                    "description": f.description,
                    "import_id": f.import_id,
                    "imported_at": f.imported_at.isoformat(),
                }
                for f in fundings
            ],
        }

    return query


def register(runtime: ServiceRuntime[Any], nik_key: NikKey) -> None:
    runtime.api("workers", worker_by_nik, roles=OFFICE_AND_AUDITOR, personal_data=True)
    # The office's own lists of who another payer funds: it imports them (PUT replaces a funder's
    # list; the audit log keeps the call, never the body), auditors may read them.
    runtime.api(
        "funders",
        funders_list(nik_key),
        roles=OFFICE_AND_AUDITOR,
        write=import_funders(nik_key, runtime.settings.topic_prefix),
        write_roles=OFFICE_ONLY,
        max_body_bytes=IMPORT_MAX_BODY_BYTES,
    )
    runtime.api("funders/check", funders_check(nik_key), roles=OFFICE_AND_AUDITOR, personal_data=True)
    # What `muba import` asks to send nothing twice: the office's tool, nobody else's business.
    runtime.api("submissions", submissions, roles=OFFICE_ONLY)
    runtime.api("report", report, roles=OFFICE_AND_AUDITOR)
