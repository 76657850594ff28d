"""Notifications' read endpoints (GET /api/...): what the `muba` CLI asks.

Messages are not kept by commitment, so no message is open to company tokens; recipients are
masked for every role. A company's token reads one thing: its own webhook secret."""

import uuid
from collections import defaultdict
from typing import Any

from services.notifications import repository
from services.notifications.webhooks import company_secret
from shared.db import Conn
from shared.http_access import OFFICE_AND_AUDITOR, ApiParams, Query, Role
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
            # queued, sent (the provider accepted it), delivered (its receipt, or the company's own
            # receiver for a webhook) or failed (refused, out of attempts, or undelivered).
            "status": n["status"],
            "provider": n["provider"],
            "provider_message_id": n["provider_message_id"],
            "sms_segments": n["sms_segments"],
            "attempts": n["attempts"],
            # Why the last attempt failed (or why it failed for good); addresses are masked in it.
            "last_error": n["last_error"],
            "created_at": n["created_at"].isoformat(),
            "sent_at": n["sent_at"].isoformat() if n["sent_at"] else None,
            "delivered_at": n["delivered_at"].isoformat() if n["delivered_at"] else None,
            "failed_at": n["failed_at"].isoformat() if n["failed_at"] else None,
        }
        for n in await repository.of_worker(conn, worker_id)
    ]


async def report(conn: Conn, params: dict[str, str]) -> dict[str, Any]:
    by_template: dict[str, int] = defaultdict(int)
    by_channel: dict[str, int] = defaultdict(int)
    states = dict.fromkeys(("queued", "sent", "delivered", "failed"), 0)
    segments = 0
    for row in await repository.counts(conn):
        by_template[row["template"]] += sum(row[state] for state in states)
        by_channel[row["channel"]] += sum(row[state] for state in states)
        for state in states:
            states[state] += row[state]
        segments += row["sms_segments"]
    return {
        "by_template": dict(by_template),
        "by_channel": dict(by_channel),
        # queued: not accepted by a provider yet; sent: accepted, no receipt yet; delivered: the
        # receipt (or a webhook receiver's 2xx) says it arrived; failed: closed for good (refused,
        # out of attempts or undelivered: see each one's last_error).
        **states,
        "sms_segments": segments,
    }


def webhook_secret(key: bytes) -> Query:
    """GET /api/webhook-secret?company_id=: the secret a company verifies our webhooks with
    (Standard Webhooks). The office reads any company's, to hand it over; a company's token only
    its own (company_id may be left out)."""

    async def query(conn: Conn, params: ApiParams) -> dict[str, str]:
        asked = params.get("company_id", "").strip()
        caller = params.caller
        if caller.role is Role.COMPANY:
            if asked and asked != caller.company_id:
                raise BadRequest("company_id: a company token reads its own webhook secret only")
            asked = caller.company_id or ""
        if not asked:
            raise BadRequest("company_id: the company whose webhook secret is asked for")
        return {
            "company_id": asked,
            "secret": company_secret(key, asked),
            "scheme": "Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature v1 (HMAC-SHA256)",
        }

    return query


def register(runtime: ServiceRuntime[Any], webhook_key: bytes | None = None) -> None:
    runtime.api("notifications", of_worker, roles=OFFICE_AND_AUDITOR, personal_data=True)
    runtime.api("report", report, roles=OFFICE_AND_AUDITOR)
    if webhook_key is not None:  # webhooks are signed: the companies need their secrets
        runtime.api("webhook-secret", webhook_secret(webhook_key), roles=(Role.OFFICE, Role.COMPANY))
