"""A worker the regency's APBD already pays for is not paid for twice (issue 12, item 4), as
processes: two workers wait for a sponsor, the office imports the PAKE KELAMBU list naming one
of them, a company then commits slots for both: only the other is matched (SponsorMatched)."""

import asyncio
import json
import time
import urllib.request
from typing import Any

from deploy.stack import Stack
from shared import contracts
from testkit.infra import Infra
from testkit.kafka import publish_json, record_events, submit_registrations
from testkit.samples import sample_commitment, sample_registration
from tests.support import truncate_schema

TOKEN = "e2e-funded-elsewhere-office"


def call(port: int, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "PUT",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


async def test_a_listed_waitlisted_worker_is_not_matched_by_a_later_commitment(
    infra: Infra, topic_prefix: str
) -> None:
    p = topic_prefix
    for service in ("registry", "sponsorship"):
        await truncate_schema(infra, service)
    listed, other = (sample_registration(i, run=913) for i in range(2))
    env = {
        "TOPIC_PREFIX": p,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "MUBA_OPERATOR_TOKEN": TOKEN,
        **{f"{s.upper()}_DATABASE_URL": url for s, url in infra.database_urls.items()},
    }
    with Stack(env=env) as stack:
        registry, sponsorship = stack.start("registry"), stack.start("sponsorship")
        await asyncio.to_thread(stack.wait_ready)
        async with record_events(
            infra.kafka,
            p + contracts.WORKER_WAITLISTED.topic,
            p + contracts.WORKER_FUNDED_ELSEWHERE.topic,
            p + contracts.SPONSOR_MATCHED.topic,
            p + contracts.COMMITMENT_ACCEPTED.topic,
            p + contracts.COMMITMENT_REJECTED.topic,
        ) as rec:
            await submit_registrations(infra.kafka, p, [listed, other])
            waiting = await rec.wait_for(2, topic=p + contracts.WORKER_WAITLISTED.topic, timeout_s=60)
            worker_ids = {w.payload["full_name"]: w.payload["worker_id"] for w in waiting}
            listed_id, other_id = worker_ids[listed["full_name"]], worker_ids[other["full_name"]]

            imported = await asyncio.to_thread(
                call,
                registry.port,
                "/api/funders",
                {
                    "funder": "PAKE KELAMBU",
                    "source_code": "SA",
                    "description": "APBD Kabupaten Musi Banyuasin",
                    "file_name": "pake-kelambu-2026-12.csv",
                    "niks": [listed["nik"]],
                },
            )
            assert imported["already_registered"] == 1
            await rec.wait_for(1, topic=p + contracts.WORKER_FUNDED_ELSEWHERE.topic, timeout_s=30)
            # Two topics, no order between them: the commitment comes once sponsorship has the notice.
            deadline = time.monotonic() + 60
            while True:
                seen = await asyncio.to_thread(call, sponsorship.port, f"/api/workers?worker_id={listed_id}")
                if seen["status"] == "funded_elsewhere" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert seen["status"] == "funded_elsewhere"
            assert seen["funded_elsewhere"]["funder"] == "PAKE KELAMBU"

            company = sample_commitment("medco-2026", ["*"], 2)
            await publish_json(
                infra.kafka_as("operator"), p + contracts.COMMITMENT_SUBMITTED.topic, [("c", company)]
            )
            await rec.wait_for(1, topic=p + contracts.COMMITMENT_ACCEPTED.topic, timeout_s=60)
            await rec.wait_for(1, topic=p + contracts.SPONSOR_MATCHED.topic, timeout_s=60)
            events = await rec.settle(3.0)
        matched = [e.payload["worker_id"] for e in events if e.topic == p + contracts.SPONSOR_MATCHED.topic]
        assert matched == [other_id]
        report = await asyncio.to_thread(call, sponsorship.port, "/api/report")
        assert report["funded_elsewhere"] == {"withdrawn": 1, "flagged": 0, "not_registered": 0}
        assert report["waitlisted"] == 0
