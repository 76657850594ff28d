"""Funder lists through the registry's real HTTP API, on real Kafka and PostgreSQL: the office
imports a list (a partner's or a company's token cannot), a registration of a listed NIK arrives
on the rejection topic ALREADY_FUNDED naming the funder, a new list replaces the old one, and no
plain NIK is anywhere in what the registry keeps of a list (read with SQL as the superuser)."""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from muba.cli import app as muba
from services.registry.app import create_app
from services.registry.settings import RegistrySettings
from shared import contracts
from shared.masking import mask_nik
from shared.validation import ALREADY_FUNDED
from testkit.infra import Infra, unique_prefix
from testkit.kafka import EventRecorder, record_events, submit_registrations
from testkit.samples import sample_registration
from tests.support import served, truncate_schema

OFFICE = "ani-office-" + "9f3c" * 8
MEDCO = "medco-csr-" + "77aa" * 8
AUDITOR = "bpk-audit-" + "c0de" * 8
TOKENS_FILE = f"""ani-office  office         {OFFICE}
medco-csr   company:medco  {MEDCO}
bpk-audit   auditor        {AUDITOR}
"""
RUN = 811


@dataclass
class Registry:
    infra: Infra
    prefix: str
    url: str
    events: EventRecorder
    key_file: Path

    async def post(self, token: str, body: Any, path: str = "/api/funders") -> httpx.Response:
        """The office's import: PUT, which replaces the funder's list."""
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            return await client.put(path, json=body, headers={"Authorization": f"Bearer {token}"})

    async def get(self, token: str, path: str, **params: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            return await client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})

    async def funder_rows(self) -> list[str]:
        """Every row of the funder tables, as text (as the superuser sees them)."""
        conn = await asyncpg.connect(self.infra.admin_database_url)
        try:
            rows = [
                *await conn.fetch("SELECT t::text AS row FROM registry.funded_nik t"),
                *await conn.fetch("SELECT t::text AS row FROM registry.funder_import t"),
                # bytea shown as text: a NIK's digits would show in hex too (\x31363036...)
                *await conn.fetch("SELECT encode(nik_hash, 'escape') AS row FROM registry.funded_nik"),
            ]
        finally:
            await conn.close()
        return [r["row"] for r in rows]

    async def audit_rows(self) -> list[str]:
        conn = await asyncpg.connect(self.infra.admin_database_url)
        try:
            return [r["row"] for r in await conn.fetch("SELECT t::text AS row FROM registry.api_audit t")]
        finally:
            await conn.close()


@pytest.fixture
async def registry(infra: Infra, tmp_path: Path) -> AsyncIterator[Registry]:
    prefix = unique_prefix()
    await truncate_schema(infra, "registry")
    tokens_file = tmp_path / "api-tokens"
    tokens_file.write_text(TOKENS_FILE)
    key_file = tmp_path / "nik-key"
    key_file.write_text("services-test-nik-key-" + "5a" * 16 + "\n")
    settings = RegistrySettings(
        database_url=infra.database_urls["registry"],
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        topic_prefix=prefix,
        api_tokens_file=str(tokens_file),
        http_host="127.0.0.1",
        nik_key_file=str(key_file),
    )
    async with (
        served(create_app(settings), "the registry") as port,
        record_events(
            infra.kafka,
            prefix + contracts.WORKER_REGISTERED.topic,
            prefix + contracts.REGISTRATION_REJECTED.topic,
        ) as events,
    ):
        yield Registry(infra, prefix, f"http://127.0.0.1:{port}", events, key_file)


def import_body(*niks: str, funder: str = "PAKE KELAMBU", **changes: Any) -> dict[str, Any]:
    return {
        "funder": funder,
        "source_code": "SG",
        "description": "APBD Kabupaten Musi Banyuasin",
        "file_name": "pake-kelambu-2026-11.csv",
        "niks": list(niks),
    } | changes


def dotted(nik: str) -> str:
    return f"{nik[:4]}.{nik[4:8]}.{nik[8:12]}-{nik[12:]}"


async def test_the_office_imports_a_list_and_a_listed_nik_is_rejected_already_funded(
    registry: Registry,
) -> None:
    listed, free, later = (sample_registration(i, run=RUN) for i in range(3))
    nik = str(listed["nik"])

    answer = await registry.post(OFFICE, import_body(dotted(nik), str(later["nik"]), nik))
    assert answer.status_code == 200, answer.text
    first = answer.json()
    assert (first["changed"], first["nik_count"], first["imported_by"], first["key_current"]) == (
        True,
        2,
        "ani-office",
        True,
    )
    assert nik not in answer.text

    # The same file again: nothing changes, the import stays the one it was.
    again = (await registry.post(OFFICE, import_body(str(later["nik"]), nik))).json()
    assert (again["changed"], again["import_id"]) == (False, first["import_id"])

    await submit_registrations(registry.infra.kafka, registry.prefix, [listed, free])
    events = await registry.events.wait_for(2)
    rejected = [e for e in events if e.topic.endswith(contracts.REGISTRATION_REJECTED.topic)]
    registered = [e for e in events if e.topic.endswith(contracts.WORKER_REGISTERED.topic)]
    assert [e.payload["nik"] for e in registered] == [free["nik"]]
    assert [e.payload["submission_id"] for e in rejected] == [listed["submission_id"]]
    reasons = rejected[0].payload["reasons"]
    assert [(r["field"], r["code"]) for r in reasons] == [("nik", ALREADY_FUNDED)]
    assert reasons[0]["message"] == (
        "NIK ini sudah dilindungi BPJS Ketenagakerjaan melalui PAKE KELAMBU (APBD Kabupaten Musi"
        " Banyuasin); tidak perlu didaftarkan lagi."
    )
    assert nik not in rejected[0].body.decode()

    # Read back: per funder, and by NIK (masked).
    shown = (await registry.get(OFFICE, "/api/funders")).json()
    assert [(f["funder"], f["source_code"], f["funded"], f["file_name"]) for f in shown["funders"]] == [
        ("PAKE KELAMBU", "SG", 2, "pake-kelambu-2026-11.csv")
    ]
    checked = await registry.get(AUDITOR, "/api/funders/check", nik=nik)
    assert checked.json()["funders"][0]["funder"] == "PAKE KELAMBU"
    assert checked.json()["nik_masked"] == mask_nik(nik) and nik not in checked.text


async def test_a_new_list_replaces_the_funder_s_old_one_whole(registry: Registry) -> None:
    left, stays, joined = (sample_registration(i, run=RUN + 1) for i in range(3))
    assert (await registry.post(OFFICE, import_body(str(left["nik"]), str(stays["nik"])))).status_code == 200
    other = await registry.post(
        OFFICE, import_body(str(stays["nik"]), funder="Desa Sukajadi", source_code="SD")
    )
    assert other.status_code == 200
    replaced = (await registry.post(OFFICE, import_body(str(stays["nik"]), str(joined["nik"])))).json()
    assert (replaced["changed"], replaced["nik_count"]) == (True, 2)

    await submit_registrations(registry.infra.kafka, registry.prefix, [left, stays, joined])
    events = await registry.events.wait_for(3)
    outcome = {
        e.payload.get("submission_id"): (
            "registered"
            if e.topic.endswith(contracts.WORKER_REGISTERED.topic)
            else e.payload["reasons"][0]["message"].split(" melalui ")[1].split(" (")[0]
        )
        for e in events
    }
    # left PAKE KELAMBU: may be sponsored now; joined it: refused. On both lists: named by the
    # older current list, the village's now (PAKE KELAMBU's list is the newer one since its replacement).
    assert outcome == {
        left["submission_id"]: "registered",
        stays["submission_id"]: "Desa Sukajadi",
        joined["submission_id"]: "PAKE KELAMBU",
    }
    counts = {
        f["funder"]: f["funded"] for f in (await registry.get(OFFICE, "/api/funders")).json()["funders"]
    }
    assert counts == {"Desa Sukajadi": 1, "PAKE KELAMBU": 2}


async def test_only_the_office_imports_and_a_bad_body_is_refused_by_field(registry: Registry) -> None:
    nik = str(sample_registration(0, run=RUN + 2)["nik"])
    for token in (MEDCO, AUDITOR):
        refused = await registry.post(token, import_body(nik))
        assert refused.status_code == 403, refused.text
    outsider = await registry.post("not-a-token-at-all-0000", import_body(nik))
    assert outsider.status_code == 401
    bad = await registry.post(OFFICE, import_body(nik, "1606-12345"))
    assert bad.status_code == 400 and bad.json()["field"] == "niks[1]", bad.text
    assert "12345" not in bad.text
    for body, field in (
        (import_body(nik, source_code="XX"), "source_code"),
        (import_body(), "niks"),
        ([nik], "body"),
    ):
        answer = await registry.post(OFFICE, body)
        assert (answer.status_code, answer.json()["field"]) == (400, field), answer.text
    not_json = await registry.post(OFFICE, None)
    assert not_json.status_code == 400
    async with httpx.AsyncClient(base_url=registry.url) as client:
        posted = await client.post(
            "/api/funders", json=import_body(nik), headers={"Authorization": f"Bearer {OFFICE}"}
        )
        assert posted.status_code == 405
    # 64 MiB announced: refused before a byte of it is read.
    port = int(registry.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"PUT /api/funders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {OFFICE}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {64 * 1024 * 1024}\r\n\r\n".encode()
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 30)
    writer.close()
    assert status_line.split()[1] == b"413", status_line
    assert await registry.funder_rows() == []  # nothing was imported
    audit = await registry.audit_rows()
    assert any("medco-csr" in row and "403" in row for row in audit)
    assert not any(nik in row for row in audit)


async def test_the_plain_nik_is_nowhere_in_the_funder_tables(registry: Registry) -> None:
    niks = [str(sample_registration(i, run=RUN + 3)["nik"]) for i in range(20)]
    assert (await registry.post(OFFICE, import_body(*niks))).status_code == 200
    rows = await registry.funder_rows()
    assert len(rows) == 20 + 1 + 20
    everything = "\n".join(rows)
    for nik in niks:
        assert nik not in everything
        assert nik.encode().hex() not in everything  # not as bytes either
        assert mask_nik(nik) in everything  # the masked form is there, for display
    assert not any(nik in row for row in await registry.audit_rows() for nik in niks)


async def test_the_cli_imports_shows_and_checks_through_the_registry(
    registry: Registry, tmp_path: Path
) -> None:
    listed = [str(sample_registration(i, run=RUN + 4)["nik"]) for i in range(3)]
    file = tmp_path / "pake-kelambu.csv"
    file.write_text(
        "\ufeffNo;NIK;Nama\r\n"
        f'1;"{dotted(listed[0])}";Siti\r\n'
        f"2; {listed[1]} ;Budi\r\n"
        f"3;'{listed[2]};Ani\r\n"
        "4;16060152;Tono\r\n",
        encoding="utf-8",
    )
    env = {"REGISTRY_URL": registry.url, "MUBA_OPERATOR_TOKEN": OFFICE, "COLUMNS": "200"}
    runner = CliRunner()

    def run(*args: str) -> Any:
        return asyncio.to_thread(runner.invoke, muba, list(args), env=env)

    options = [
        "--funder",
        "PAKE KELAMBU",
        "--source-code",
        "sg",
        "--description",
        "APBD Kabupaten Musi Banyuasin",
    ]
    refused = await run("funders", "import", str(file), *options)
    assert refused.exit_code == 1, refused.output
    assert "nothing was imported" in refused.output and "16060152" not in refused.output
    assert await registry.funder_rows() == []

    done = await run("funders", "import", str(file), *options, "--skip-invalid")
    assert done.exit_code == 0, done.output
    assert "diganti: 3 NIK" in done.output
    again = await run("funders", "import", str(file), *options, "--skip-invalid")
    assert again.exit_code == 0 and "tidak ada yang berubah" in again.output, again.output

    shown = await run("funders", "show", "--format", "json")
    assert shown.exit_code == 0, shown.output
    [funder] = json.loads(shown.output)["funders"]
    assert (funder["funder"], funder["source_code"], funder["funded"], funder["file_name"]) == (
        "PAKE KELAMBU",
        "SG",
        3,
        "pake-kelambu.csv",
    )
    table = await run("funders", "show")
    assert "PAKE KELAMBU" in table.output and "pake-kelambu.csv" in table.output, table.output

    checked = await run("funders", "check", dotted(listed[1]))
    assert checked.exit_code == 0 and "PAKE KELAMBU" in checked.output, checked.output
    assert mask_nik(listed[1]) in checked.output and listed[1] not in checked.output
    free = await run("funders", "check", str(sample_registration(9, run=RUN + 4)["nik"]))
    assert free.exit_code == 0 and "tidak ada di daftar" in free.output

    for output in (refused.output, done.output, again.output, table.output, checked.output):
        assert not any(nik in output for nik in listed)
