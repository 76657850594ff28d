"""Notifications' read endpoints (GET /api/...): what the `muba` CLI asks.

Messages are not kept by commitment, so nothing here is open to company tokens; recipients are
masked for every role."""

import uuid
from collections import defaultdict
from typing import Any

from services.notifications import repository
from shared.db import Conn
from shared.http_access import OFFICE_AND_AUDITOR
from shared.masking import mask_recipient
from shared.runtime import BadRequest, ServiceRuntime


async def of_worker(conn: Conn, params: dict[str, str]) -> list[dict[str, Any]]:
    try:
        worker_id = uuid.UUID(params.get("worker_id", ""))
    except ValueError:
        raise BadRequest("worker_id: a worker id (UUID) is required") from None
    return [
        {
            "template": n["template"],
            "audience": n["audience"],
            "channel": n["channel"],
            "recipient_masked": mask_recipient(n["channel"], n["recipient"]),
            "status": n["status"],
            "attempts": n["attempts"],
            # Why the last attempt failed (or why it failed for good); addresses are masked in it.
            "last_error": n["last_error"],
            "created_at": n["created_at"].isoformat(),
            "delivered_at": n["delivered_at"].isoformat() if n["delivered_at"] else None,
            "failed_at": n["failed_at"].isoformat() if n["failed_at"] else None,
        }
        for n in await repository.of_worker(conn, worker_id)
    ]


async def report(conn: Conn, params: dict[str, str]) -> dict[str, Any]:
    by_template: dict[str, int] = defaultdict(int)
    by_channel: dict[str, int] = defaultdict(int)
    delivered = queued = failed = 0
    for row in await repository.counts(conn):
        total = row["queued"] + row["delivered"] + row["failed"]
        by_template[row["template"]] += total
        by_channel[row["channel"]] += total
        delivered += row["delivered"]
        queued += row["queued"]
        failed += row["failed"]
    return {
        "by_template": dict(by_template),
        "by_channel": dict(by_channel),
        "delivered": delivered,
        "queued": queued,
        # Closed for good: out of attempts or refused by the provider (see each one's last_error).
        "failed": failed,
    }


def register(runtime: ServiceRuntime[Any]) -> None:
    runtime.api("notifications", of_worker, roles=OFFICE_AND_AUDITOR, personal_data=True)
    runtime.api("report", report, roles=OFFICE_AND_AUDITOR)
