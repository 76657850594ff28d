"""The office's tariff table against the real servers: read back (GET /api/tariffs), replaced by
the office only (PUT, validated: a refusal names the row and stores nothing), and what prices a
new commitment's budget, its reservations and the commitment quote once stored."""

import asyncio
import http.client
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.sponsorship.app import create_app
from services.sponsorship.repository import DEFAULT_TARIFF_FILE, DEFAULT_TARIFFS_LOADED_BY
from services.sponsorship.settings import SponsorshipSettings
from shared import contracts
from testkit.infra import Infra, unique_prefix
from testkit.kafka import publish_json, record_events
from testkit.samples import sample_commitment
from tests.support import served, truncate_schema

OFFICE = "ani-office-" + "9f3c" * 8
AUDITOR = "bpk-audit-" + "c0de" * 8
MEDCO = "medco-csr-" + "77aa" * 8
TOKENS_FILE = f"""ani-office     office          {OFFICE}
bpk-audit      auditor         {AUDITOR}
medco-csr      company:medco   {MEDCO}
"""


@dataclass
class Answer:
    status: int
    body: Any


def _request(port: int, method: str, path: str, token: str, body: Any = None) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}"} | ({"Content-Type": "application/json"} if data else {})
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, json.loads(response.read() or b"null"))
    finally:
        connection.close()


async def call(port: int, method: str, path: str, token: str = OFFICE, body: Any = None) -> Answer:
    return await asyncio.to_thread(_request, port, method, path, token, body)


@dataclass
class Service:
    port: int
    prefix: str


@pytest.fixture
async def service(infra: Infra, tmp_path: Path) -> AsyncIterator[Service]:
    await truncate_schema(infra, "sponsorship")
    tokens = tmp_path / "api-tokens"
    tokens.write_text(TOKENS_FILE)
    prefix = unique_prefix()
    app = create_app(
        SponsorshipSettings(
            database_url=infra.database_urls["sponsorship"],
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            topic_prefix=prefix,
            api_tokens_file=str(tokens),
            http_host="127.0.0.1",
        )
    )
    async with served(app, "sponsorship") as port:
        yield Service(port, prefix)


def office_table() -> dict[str, Any]:
    """The default file with another floor band (JKK Rp12,000), JKM Rp7,000 and one discount row
    covering every month (so the figures do not depend on the day the test runs)."""
    document = json.loads(DEFAULT_TARIFF_FILE.read_text(encoding="utf-8"))
    tariff = document["tariffs"][0]
    tariff["jkk_bands"][0]["jkk_idr"] = 12_000
    tariff["jkm_idr"] = 7_000
    document["discounts"] = [
        {
            "name": "uji",
            "sector": "other",
            "valid_from": "2020-01-01",
            "valid_to": "2099-12-31",
            "percent": 50,
        }
    ]
    return document


async def rows(infra: Infra, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(infra.database_urls["sponsorship"])
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def submit(infra: Infra, prefix: str, commitment_id: str) -> dict[str, Any]:
    body = sample_commitment(commitment_id, ["*"], 3) | {"months": 6, "package": "JKK_JKM"}
    async with record_events(infra.kafka, prefix + contracts.COMMITMENT_ACCEPTED.topic) as rec:
        await publish_json(
            infra.kafka_as("operator"), prefix + contracts.COMMITMENT_SUBMITTED.topic, [(commitment_id, body)]
        )
        [accepted] = await rec.wait_for(1, 60)
    return accepted.payload


async def test_the_office_loads_a_table_and_new_budgets_follow_it(infra: Infra, service: Service) -> None:
    port = service.port
    # An empty schema: the repository's default is stored as version 1, and read back by anyone.
    first = await call(port, "GET", "/api/tariffs", MEDCO)
    assert first.status == 200, first.body
    assert (first.body["version"], first.body["loaded_by"]) == (1, DEFAULT_TARIFFS_LOADED_BY)
    assert first.body["discount_applies_to_company_paid"] is True  # PP 50/2025 by default
    default_bands = first.body["table"]["tariffs"][0]["jkk_bands"]
    assert default_bands[0]["jkk_idr"] == 10_000 and default_bands[-1]["jkk_idr"] == 207_000
    before = await submit(infra, service.prefix, "before-load")
    quote_before = await call(port, "GET", "/api/commitment-quote?package=JKK_JKM&months=6&slots=3")
    assert quote_before.body["budget_idr"] == before["budget_idr"]

    # Refused: a gap between bands, a negative JKM, an overlap of discounts; each names its row.
    bad = office_table()
    bad["tariffs"][0]["jkk_bands"][4]["income_from_idr"] += 1
    bad["tariffs"][0]["jkm_idr"] = -1
    bad["discounts"].append(dict(bad["discounts"][0], name="dua"))
    refused = await call(port, "PUT", "/api/tariffs", OFFICE, bad)
    assert refused.status == 400, refused.body
    assert "tariffs[0].jkm_idr: -1: negative amount" in refused.body["error"]
    bad["tariffs"][0]["jkm_idr"] = 7_000
    refused = await call(port, "PUT", "/api/tariffs", OFFICE, bad)
    assert refused.status == 400 and "tariffs[0].jkk_bands[4]: a gap" in refused.body["error"]
    assert "discounts[1]: overlaps discounts[0]" in refused.body["error"]
    # Only the office writes.
    for token in (AUDITOR, MEDCO):
        answer = await call(port, "PUT", "/api/tariffs", token, office_table())
        assert answer.status == 403, answer.body
    assert [r["version"] for r in await rows(infra, "SELECT version FROM tariff_table")] == [1]

    loaded = await call(port, "PUT", "/api/tariffs", OFFICE, office_table())
    assert loaded.status == 200, loaded.body
    assert (loaded.body["version"], loaded.body["loaded_by"]) == (2, "ani-office")

    after = await submit(infra, service.prefix, "after-load")
    # 3 slots x 6 months x (JKK 12,000 + JKM 7,000) halved
    assert after["budget_idr"] == 3 * 6 * 9_500
    quote = await call(port, "GET", "/api/commitment-quote?package=JKK_JKM&months=6&slots=3", AUDITOR)
    assert (quote.body["budget_idr"], quote.body["per_worker_idr"]) == (3 * 6 * 9_500, 6 * 9_500)
    stored = {r["commitment_id"]: r["budget_idr"] for r in await rows(infra, "SELECT * FROM commitment")}
    assert stored == {"before-load": before["budget_idr"], "after-load": 3 * 6 * 9_500}

    # Read back: what was loaded, as the auditor sees it too; the audit log has the office's PUT.
    back = await call(port, "GET", "/api/tariffs", AUDITOR)
    assert back.status == 200 and back.body["version"] == 2
    assert back.body["table"]["tariffs"][0]["jkk_bands"][0]["jkk_idr"] == 12_000
    assert back.body["table"]["discounts"][0]["name"] == "uji"
    puts = await rows(
        infra, "SELECT caller_name, status FROM api_audit WHERE endpoint = 'PUT /api/tariffs' ORDER BY id"
    )
    assert [(r["caller_name"], r["status"]) for r in puts] == [
        ("ani-office", 400),
        ("ani-office", 400),
        ("bpk-audit", 403),
        ("medco-csr", 403),
        ("ani-office", 200),
    ]
