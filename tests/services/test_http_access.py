"""Who may read what over HTTP, tried as an outsider, a company and an auditor would: the three
services on real HTTP servers against the real Kafka and PostgreSQL, with two companies' data in
them. Every attempt asserts its refusal AND that nothing changed: the services' tables (read as
the database superuser) and every topic of the run (recorded from outside) stay as they were."""

import asyncio
import contextlib
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import uvicorn
from faststream.asgi import AsgiFastStream

from services.notifications.app import create_app as notifications_app
from services.notifications.settings import NotificationsSettings
from services.registry.app import create_app as registry_app
from services.registry.settings import RegistrySettings
from services.sponsorship.app import create_app as sponsorship_app
from services.sponsorship.settings import SponsorshipSettings
from shared import contracts, topics
from testkit.infra import Infra, unique_prefix
from testkit.kafka import EventRecorder, publish_json, record_events, submit_registrations
from testkit.samples import sample_registration
from tests.support import truncate_schema

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("registry", "sponsorship", "notifications")

ENV_OFFICE = "env-office-" + "4b1d" * 8
OFFICE = "ani-office-" + "9f3c" * 8
MEDCO = "medco-csr-" + "77aa" * 8
PERTAMINA = "pertamina-csr-" + "51e0" * 8
AUDITOR = "bpk-audit-" + "c0de" * 8
TOKENS_FILE = f"""# name         role                 token
ani-office     office               {OFFICE}
medco-csr      company:medco        {MEDCO}
pertamina-csr  company:pertamina    {PERTAMINA}
bpk-audit      auditor              {AUDITOR}
"""
ALL_TOKENS = (ENV_OFFICE, OFFICE, MEDCO, PERTAMINA, AUDITOR)
# The business tables, as the services keep them (the audit log is checked on its own; the relay's
# lease is renewed every cycle).
TABLES = {
    "registry": ("worker", "submission", "outbox", "inbox"),
    "sponsorship": ("commitment", "worker", "enrollment", "outbox", "inbox"),
    "notifications": ("notification", "outbox", "inbox"),
}


@dataclass
class Programme:
    infra: Infra
    prefix: str
    ports: dict[str, int]
    events: EventRecorder
    # worker id and registration by company; commitment id by company
    workers: dict[str, str]
    registrations: dict[str, dict[str, Any]]
    commitments: dict[str, str]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


def _request(
    port: int,
    path: str,
    token: str | None = None,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    authorization: str | None = None,
) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if authorization is not None:
        sent["Authorization"] = authorization
    try:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            # A server that refuses a large body answers before reading it and closes.
            connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return Answer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
        )
    finally:
        connection.close()


async def call(port: int, path: str, token: str | None = None, **kwargs: Any) -> Answer:
    return await asyncio.to_thread(_request, port, path, token, **kwargs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _snapshot(infra: Infra) -> dict[str, tuple[int, str]]:
    conn = await asyncpg.connect(infra.admin_database_url)
    try:
        found = {}
        for schema, tables in TABLES.items():
            for table in tables:
                row = await conn.fetchrow(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                    f" FROM {schema}.{table} t"
                )
                assert row is not None
                found[f"{schema}.{table}"] = (row[0], row[1])
        return found
    finally:
        await conn.close()


async def _audit_rows(infra: Infra, service: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(infra.admin_database_url)
    try:
        rows = await conn.fetch(f"SELECT * FROM {service}.api_audit ORDER BY id")
    finally:
        await conn.close()
    return [dict(r) | {"params": json.loads(r["params"])} for r in rows]


@contextlib.asynccontextmanager
async def nothing_changes(programme: Programme) -> AsyncIterator[None]:
    """The attempt inside changes no business row and publishes nothing on any topic."""
    before = await _snapshot(programme.infra)
    seen = len(programme.events.events)
    yield
    events = await programme.events.settle(1.0)
    assert [(e.topic, e.key) for e in events[seen:]] == [], "the attempt published events"
    assert await _snapshot(programme.infra) == before, "the attempt changed rows"


async def _serve(app: AsgiFastStream, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    while not server.started:
        if task.done():
            task.result()
            raise AssertionError("the server stopped while starting")
        assert loop.time() < deadline, "the service did not start"
        await asyncio.sleep(0.1)
    return server, task


async def _until_published(infra: Infra) -> None:
    """Every outbox row of the three schemas is on its topic (so later snapshots hold still)."""
    conn = await asyncpg.connect(infra.admin_database_url)
    try:
        for _ in range(300):
            pending = sum(
                [
                    await conn.fetchval(f"SELECT count(*) FROM {s}.outbox WHERE published_at IS NULL")
                    for s in SERVICES
                ]
            )
            if pending == 0:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("outbox rows stay unpublished")
    finally:
        await conn.close()


def _commitment(cid: str, company: str, kecamatan: str) -> dict[str, Any]:
    return {
        "commitment_id": cid,
        "company_id": company,
        "company_name": f"PT {company.title()}",
        "kecamatan": [kecamatan],
        "slots": 5,
        "months": 12,
        "package": "JKK_JKM",
        "email": f"csr@{company}.example.co.id",
    }


@pytest.fixture(scope="module")
async def programme(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Programme]:
    prefix = unique_prefix()
    for service in SERVICES:
        await truncate_schema(infra, service)
    tokens_file = tmp_path_factory.mktemp("secrets") / "api-tokens"
    tokens_file.write_text(TOKENS_FILE)
    common: dict[str, Any] = {
        "kafka_bootstrap_servers": infra.kafka_bootstrap_servers,
        "topic_prefix": prefix,
        "operator_token": ENV_OFFICE,
        "api_tokens_file": str(tokens_file),
        "http_host": "127.0.0.1",
    }
    apps = {
        "registry": registry_app(RegistrySettings(database_url=infra.database_urls["registry"], **common)),
        "sponsorship": sponsorship_app(
            SponsorshipSettings(database_url=infra.database_urls["sponsorship"], **common)
        ),
        "notifications": notifications_app(
            NotificationsSettings(database_url=infra.database_urls["notifications"], **common)
        ),
    }
    ports = {name: _free_port() for name in SERVICES}
    servers = [await _serve(app, ports[name]) for name, app in apps.items()]
    try:
        bootstrap = infra.kafka
        commitments = {"medco": "medco-2026", "pertamina": "pertamina-2026"}
        registrations = {
            "medco": sample_registration(1, source="http-access", kecamatan_code="01", run=701),
            "pertamina": sample_registration(2, source="http-access", kecamatan_code="02", run=701),
        }
        async with record_events(
            bootstrap,
            prefix + contracts.COMMITMENT_ACCEPTED.topic,
            prefix + contracts.ENROLLMENT_REQUESTED.topic,
        ) as seeded:
            await publish_json(
                bootstrap,
                prefix + contracts.COMMITMENT_SUBMITTED.topic,
                [
                    (company, _commitment(cid, company, "01" if company == "medco" else "02"))
                    for company, cid in commitments.items()
                ],
            )
            await seeded.wait_for(2, 60, topic=prefix + contracts.COMMITMENT_ACCEPTED.topic)
            await submit_registrations(bootstrap, prefix, list(registrations.values()))
            requested = await seeded.wait_for(2, 60, topic=prefix + contracts.ENROLLMENT_REQUESTED.topic)
        by_commitment = {e.payload["payer"]["commitment_id"]: e.payload["worker_id"] for e in requested}
        workers = {company: by_commitment[cid] for company, cid in commitments.items()}
        await _until_published(infra)
        every_topic = [prefix + spec.name for spec in topics.CATALOGUE]
        async with record_events(bootstrap, *every_topic) as events:
            yield Programme(infra, prefix, ports, events, workers, registrations, commitments)
    finally:
        for server, _ in servers:
            server.should_exit = True
        for _, task in servers:
            await task


def _leaks_nothing(answer: Answer, programme: Programme) -> None:
    """No personal data of either company's worker, and no token, in an answer."""
    for company, registration in programme.registrations.items():
        for secret in (registration["nik"], registration["full_name"], registration["phone"]):
            assert secret not in answer.text, (company, answer.text)
        assert programme.workers[company] not in answer.text
    for token in ALL_TOKENS:
        assert token not in answer.text


# --- the positive controls: what each role may see ------------------------------------------------


async def test_each_role_sees_what_it_may(programme: Programme) -> None:
    registry, sponsorship = programme.ports["registry"], programme.ports["sponsorship"]
    medco = programme.registrations["medco"]
    medco_worker = programme.workers["medco"]
    async with nothing_changes(programme):
        for token in (ENV_OFFICE, OFFICE):  # MUBA_OPERATOR_TOKEN and the file's office token
            office = await call(registry, f"/api/workers?nik={medco['nik']}", token)
            assert office.status == 200 and office.json["full_name"] == medco["full_name"]
        audited = await call(registry, f"/api/workers?nik={medco['nik']}", AUDITOR)
        assert audited.status == 200 and audited.json["worker_id"] == office.json["worker_id"]
        assert audited.json["full_name"] != medco["full_name"] and "***" in audited.json["full_name"]

        own = await call(sponsorship, f"/api/workers?worker_id={medco_worker}", MEDCO)
        assert own.status == 200 and own.json["enrollment"]["commitment_id"] == "medco-2026"
        listed = await call(sponsorship, "/api/enrollments?commitment_id=medco-2026", MEDCO)
        assert listed.status == 200
        assert [e["worker_id"] for e in listed.json["enrollments"]] == [medco_worker]
        mine = await call(sponsorship, "/api/commitments", MEDCO)
        assert [c["commitment_id"] for c in mine.json] == ["medco-2026"]
        everything = await call(sponsorship, "/api/commitments", AUDITOR)
        assert sorted(c["commitment_id"] for c in everything.json) == ["medco-2026", "pertamina-2026"]
        assert (await call(sponsorship, "/api/report", AUDITOR)).status == 200


# --- no token, a wrong one, a forged one -----------------------------------------------------------


def _personal_endpoints(programme: Programme) -> list[tuple[int, str]]:
    return [
        (programme.ports["registry"], f"/api/workers?nik={programme.registrations['medco']['nik']}"),
        (programme.ports["sponsorship"], f"/api/workers?worker_id={programme.workers['medco']}"),
        (programme.ports["sponsorship"], "/api/enrollments?commitment_id=medco-2026"),
        (programme.ports["notifications"], f"/api/notifications?worker_id={programme.workers['medco']}"),
        (programme.ports["registry"], "/api/audit"),
    ]


def _forged(token: str) -> str:
    """The same length and alphabet as a real token, one byte different."""
    return token[:-1] + ("0" if token[-1] != "0" else "1")


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong-token-0123456789",
        "forged",
        f"Basic {OFFICE}",
        OFFICE,
        "Bearer ",
        f"Bearer {OFFICE} {OFFICE}",
    ],
)
async def test_without_a_valid_token_nothing_is_answered_and_nothing_recorded(
    programme: Programme, authorization: str | None
) -> None:
    if authorization == "forged":
        authorization = f"Bearer {_forged(OFFICE)}"
        assert len(authorization) == len(f"Bearer {OFFICE}")
    audits = {s: len(await _audit_rows(programme.infra, s)) for s in SERVICES}
    async with nothing_changes(programme):
        for port, path in _personal_endpoints(programme):
            answer = await call(port, path, authorization=authorization)
            assert answer.status == 401, (path, answer.text)
            assert answer.headers.get("www-authenticate") == "Bearer"
            assert answer.json["field"] == "authorization"
            _leaks_nothing(answer, programme)
    # An outsider cannot grow the audit table (its attempts are log lines).
    assert {s: len(await _audit_rows(programme.infra, s)) for s in SERVICES} == audits


# --- a company asking for another company's data -----------------------------------------------


async def test_a_company_token_never_sees_another_companys_workers_or_enrollments(
    programme: Programme,
) -> None:
    sponsorship = programme.ports["sponsorship"]
    theirs = programme.workers["pertamina"]
    async with nothing_changes(programme):
        unknown_worker = await call(sponsorship, f"/api/workers?worker_id={uuid.uuid4()}", MEDCO)
        other_worker = await call(sponsorship, f"/api/workers?worker_id={theirs}", MEDCO)
        # Exactly what an unknown id gets: the answer does not even say the worker exists.
        assert other_worker.status == unknown_worker.status == 404
        assert other_worker.json == unknown_worker.json
        unknown = await call(sponsorship, "/api/enrollments?commitment_id=no-such-commitment", MEDCO)
        other = await call(sponsorship, "/api/enrollments?commitment_id=pertamina-2026", MEDCO)
        assert other.status == unknown.status == 404 and other.json == unknown.json
        listed = await call(sponsorship, "/api/commitments", MEDCO)
        assert "pertamina" not in listed.text
        for answer in (other_worker, other, listed):
            assert (
                theirs not in answer.text and programme.registrations["pertamina"]["nik"] not in answer.text
            )
        # The office sees it: the refusal above is the scope, not a missing row.
        office = await call(sponsorship, f"/api/workers?worker_id={theirs}", OFFICE)
        assert office.status == 200 and office.json["enrollment"]["commitment_id"] == "pertamina-2026"
    calls = [
        (r["caller_name"], r["company_id"], r["endpoint"], r["status"])
        for r in await _audit_rows(programme.infra, "sponsorship")
    ]
    assert ("medco-csr", "medco", "/api/workers", 404) in calls
    assert ("medco-csr", "medco", "/api/enrollments", 404) in calls


async def test_a_company_token_is_refused_where_its_scope_cannot_be_applied(programme: Programme) -> None:
    nik = programme.registrations["pertamina"]["nik"]
    refused = [
        (programme.ports["registry"], f"/api/workers?nik={nik}"),
        (programme.ports["registry"], "/api/report"),
        (programme.ports["registry"], "/api/submissions?source=http-access"),
        (programme.ports["sponsorship"], "/api/report"),
        (programme.ports["notifications"], f"/api/notifications?worker_id={programme.workers['pertamina']}"),
        (programme.ports["sponsorship"], "/api/audit"),
        (programme.ports["sponsorship"], "/api/outbox/parked"),
    ]
    async with nothing_changes(programme):
        for port, path in refused:
            answer = await call(port, path, MEDCO)
            assert answer.status == 403, (path, answer.text)
            _leaks_nothing(answer, programme)
    rows = await _audit_rows(programme.infra, "registry")
    assert any(r["caller_name"] == "medco-csr" and r["status"] == 403 for r in rows)


# --- an auditor trying to write or to use an office tool ------------------------------------------


async def test_an_auditor_reads_but_cannot_write_nor_use_office_tools(programme: Programme) -> None:
    registry, sponsorship = programme.ports["registry"], programme.ports["sponsorship"]
    commitment = json.dumps(_commitment("auditor-made", "auditor", "01")).encode()
    async with nothing_changes(programme):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            answer = await call(
                sponsorship,
                "/api/commitments",
                AUDITOR,
                method=method,
                body=commitment,
                headers={"Content-Type": "application/json"},
            )
            assert answer.status == 405 and answer.json["field"] == "method", (method, answer.text)
            assert answer.headers["allow"] == "GET, HEAD"
        for port, path in [
            (registry, "/api/submissions?source=http-access"),
            (registry, "/api/outbox/parked"),
            (sponsorship, "/api/outbox/parked"),
        ]:
            answer = await call(port, path, AUDITOR)
            assert answer.status == 403 and "office" in answer.json["error"], (path, answer.text)
    assert (await call(registry, "/api/submissions?source=http-access", OFFICE)).status == 200


# --- FastStream's try-it-out route and the AsyncAPI pages -----------------------------------------


async def test_the_try_it_route_is_gone_from_every_service(programme: Programme) -> None:
    """The attack of the issue: one POST that had the registry publish a commitment of 100,000
    slots, accepted by sponsorship."""
    payload = {
        "channelName": programme.prefix + contracts.COMMITMENT_SUBMITTED.topic,
        "message": {
            "message": _commitment("try-it-100k", "outsider", "01") | {"slots": 100_000},
            "headers": {},
        },
        "options": {"sendToRealBroker": True},
    }
    body = json.dumps(payload).encode()
    async with nothing_changes(programme):
        for service in SERVICES:
            for token in (None, OFFICE):  # not even the office may publish through HTTP
                answer = await call(
                    programme.ports[service],
                    "/docs/asyncapi/try",
                    token,
                    method="POST",
                    body=body,
                    headers={"Content-Type": "application/json"},
                )
                assert answer.status in (404, 405), (service, answer.status, answer.text)
            page = await call(programme.ports[service], "/docs/asyncapi", OFFICE)
            assert page.status == 200 and "asyncapi/try" not in page.text
    conn = await asyncpg.connect(programme.infra.admin_database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM sponsorship.commitment WHERE slots = 100000") == 0
    finally:
        await conn.close()


async def test_the_asyncapi_pages_want_an_office_or_auditor_token(programme: Programme) -> None:
    async with nothing_changes(programme):
        for service in SERVICES:
            port = programme.ports[service]
            for path in ("/docs/asyncapi", "/docs/asyncapi.json"):
                assert (await call(port, path)).status == 401
                assert (await call(port, path, _forged(AUDITOR))).status == 401
                assert (await call(port, path, MEDCO)).status == 403
                assert (await call(port, path, AUDITOR)).status == 200
            document = (await call(port, "/docs/asyncapi.json", OFFICE)).json
            assert document["info"]["title"] == f"muba-{service}"


# --- careless and hostile parameters -------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "path", "field"),
    [
        ("registry", "/api/workers?nik=%27%20OR%201%3D1--", "nik"),
        ("registry", "/api/workers?nik=1606015208900003%27%3B%20DROP%20TABLE%20worker%3B--", "nik"),
        ("sponsorship", "/api/workers?worker_id=%27%20OR%20%271%27%3D%271", "worker_id"),
        ("notifications", "/api/notifications?worker_id=1%20OR%201%3D1", "worker_id"),
        ("registry", "/api/workers?nik=1606015208900003%00", "nik"),
        ("registry", "/api/submissions?source=desa%0d%0aX-Injected:%201", "source"),
        ("registry", "/api/submissions?source=desa%00online", "source"),
        ("registry", "/api/workers?nik=%ff%fe", "query string"),
        ("registry", "/api/outbox/parked?limit=99999999999999999999", None),
    ],
)
async def test_sql_looking_and_malformed_parameters_are_a_clear_400(
    programme: Programme, service: str, path: str, field: str | None
) -> None:
    async with nothing_changes(programme):
        answer = await call(programme.ports[service], path, OFFICE)
        assert answer.status == 400, answer.text
        assert field is None or answer.json["field"] == field or answer.json["error"].startswith(field)
        _leaks_nothing(answer, programme)


async def test_a_sql_looking_value_is_only_a_value(programme: Programme) -> None:
    registry, sponsorship = programme.ports["registry"], programme.ports["sponsorship"]
    async with nothing_changes(programme):
        answer = await call(registry, "/api/submissions?source=%27%20OR%201%3D1--", OFFICE)
        assert answer.status == 200 and answer.json == {"source": "' OR 1=1--", "submission_ids": []}
        scoped = await call(sponsorship, "/api/enrollments?commitment_id=x%27%20OR%20%271%27%3D%271", MEDCO)
        assert scoped.status == 404
    masked = [r["params"] for r in await _audit_rows(programme.infra, "registry")]
    assert {"source": "' OR 1=1--"} in masked


async def test_oversized_parameters_are_refused_naming_the_field(programme: Programme) -> None:
    registry = programme.ports["registry"]
    async with nothing_changes(programme):
        huge = await call(registry, "/api/workers?nik=" + "1" * 10 * 1024, OFFICE)
        assert huge.status == 414 and huge.json["field"] == "nik", huge.text
        long = await call(registry, "/api/submissions?source=" + "a" * 300, OFFICE)
        assert long.status == 400 and long.json["field"] == "source", long.text
        many = await call(registry, "/api/report?" + "&".join(f"p{i}=1" for i in range(50)), OFFICE)
        assert many.status == 400 and many.json["field"] == "query string", many.text


async def test_an_oversized_body_is_refused_before_it_is_read(programme: Programme) -> None:
    five_mib = b"{" + b" " * (5 * 1024 * 1024 - 2) + b"}"
    async with nothing_changes(programme):
        for service in SERVICES:
            for method, path in (("GET", "/api/report"), ("POST", "/docs/asyncapi/try")):
                answer = await call(
                    programme.ports[service],
                    path,
                    OFFICE,
                    method=method,
                    body=five_mib,
                    headers={"Content-Type": "application/json"},
                )
                assert answer.status == 413 and answer.json["field"] == "body", (service, answer.text)


async def test_unknown_methods_are_405(programme: Programme) -> None:
    async with nothing_changes(programme):
        for method in ("BREW", "TRACE", "OPTIONS", "CONNECTX"):
            answer = await call(programme.ports["registry"], "/api/report", OFFICE, method=method)
            assert answer.status == 405 and answer.json["field"] == "method", (method, answer.text)


# --- the audit log ----------------------------------------------------------------------------------


async def test_every_call_by_a_token_is_audited_masked_and_readable_by_office_and_auditor(
    programme: Programme, caplog: pytest.LogCaptureFixture
) -> None:
    registry = programme.ports["registry"]
    nik = programme.registrations["medco"]["nik"]
    caplog.set_level("INFO")
    read = await call(registry, f"/api/workers?nik={nik}", AUDITOR)
    assert read.status == 200
    rows = await _audit_rows(programme.infra, "registry")
    last = rows[-1]
    assert (last["caller_name"], last["caller_role"], last["company_id"]) == ("bpk-audit", "auditor", None)
    assert (last["endpoint"], last["status"], last["personal_data"]) == ("/api/workers", 200, True)
    assert last["params"] == {"nik": nik[:6] + "********" + nik[-2:]}
    assert last["at"].utcoffset() is not None and last["client"] == "127.0.0.1"

    log = await call(registry, "/api/audit?limit=5", AUDITOR)
    assert log.status == 200
    newest = log.json["calls"][0]  # this read of the log is recorded once it is answered
    assert newest["id"] == last["id"] and newest["params"] == last["params"]
    assert newest["at"].endswith("+00:00")
    assert (await _audit_rows(programme.infra, "registry"))[-1]["endpoint"] == "/api/audit"
    assert (await call(registry, "/api/audit", MEDCO)).status == 403

    lines = [r for r in caplog.records if r.getMessage() == "api call"]
    assert lines and getattr(lines[0], "params", None) == {"nik": last["params"]["nik"]}
    # What the services log (uvicorn's access log, which shows request lines, is off in
    # shared.runner; pytest's capture turns it on in-process, so it is left out here).
    everything = " ".join(str(vars(r)) for r in caplog.records if r.name != "uvicorn.access")
    assert nik not in everything
    assert not any(token in everything for token in ALL_TOKENS)
    stored = json.dumps(rows, default=str)
    assert nik not in stored and not any(token in stored for token in ALL_TOKENS)
    assert not any(hashlib.sha256(t.encode()).hexdigest() in stored for t in ALL_TOKENS)


async def test_a_call_that_cannot_be_audited_is_not_answered(programme: Programme) -> None:
    registry = programme.ports["registry"]
    nik = programme.registrations["medco"]["nik"]
    conn = await asyncpg.connect(programme.infra.admin_database_url)
    try:
        await conn.execute("REVOKE INSERT ON registry.api_audit FROM registry")
        try:
            async with nothing_changes(programme):
                answer = await call(registry, f"/api/workers?nik={nik}", OFFICE)
            assert answer.status == 503, answer.text
            _leaks_nothing(answer, programme)
        finally:
            await conn.execute("GRANT INSERT ON registry.api_audit TO registry")
    finally:
        await conn.close()
    assert (await call(registry, f"/api/workers?nik={nik}", OFFICE)).status == 200


# --- the default token off loopback ----------------------------------------------------------------


def _start_registry(env: dict[str, str]) -> tuple[int | None, str]:
    """The exit code and error output of `python -m services.registry`; None if it kept running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "services.registry"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, stderr = process.communicate(timeout=60)
        return process.returncode, stderr
    except subprocess.TimeoutExpired:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
        return None, stderr


@pytest.fixture
def exposed_env(infra: Infra, tmp_path: Path) -> Iterator[tuple[dict[str, str], int]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUBA_") or k == "MUBA_ADMIN_DATABASE_URL"}
    env |= {
        "HTTP_HOST": "0.0.0.0",
        "REGISTRY_HTTP_PORT": str(port),
        "REGISTRY_DATABASE_URL": infra.database_urls["registry"],
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "TOPIC_PREFIX": unique_prefix(),
    }
    yield env, port


@pytest.mark.parametrize("how", ["unset", "explicit", "in the tokens file"])
async def test_a_service_bound_beyond_loopback_refuses_to_start_with_the_default_token(
    exposed_env: tuple[dict[str, str], int], tmp_path: Path, how: str, programme: Programme
) -> None:
    env, port = exposed_env
    if how == "explicit":
        env["MUBA_OPERATOR_TOKEN"] = "muba-local-operator"
    elif how == "in the tokens file":
        tokens = tmp_path / "tokens"
        tokens.write_text(f"laptop office muba-local-operator\nbpk auditor {AUDITOR}\n")
        env["MUBA_API_TOKENS_FILE"] = str(tokens)
    async with nothing_changes(programme):
        code, stderr = await asyncio.to_thread(_start_registry, env)
    assert code is not None, "the service started, serving the public default token to the network"
    assert code != 0
    assert "refusing to start" in stderr and "default token" in stderr, stderr
    assert "Traceback" not in stderr
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
