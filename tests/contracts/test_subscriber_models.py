"""The TypeScript subscriber's models (subscribers/typescript/src/generated/) are what the
official AsyncAPI tooling (@asyncapi/parser, @asyncapi/modelina) makes of docs/asyncapi/ today,
and they take every feed event as our Python models write it, and nothing the contract forbids.

Needs node and subscribers/typescript/node_modules (`make install`); without them these FAIL."""

import json
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from deploy.subscriber import PROJECT, build
from shared import contracts
from shared.envelope import new_envelope
from shared.events import EventModel
from shared.events.feed import FeedCoverageEnded, FeedWorkerEnrolled, FeedWorkerWaitlisted

DOCUMENT = PROJECT.parents[1] / "docs" / "asyncapi" / "sponsorship.yaml"
REF = "0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 12, 3, 4, 5, 6, tzinfo=UTC)

CHECK = """
const { FeedValidator, InvalidRecord } = require(process.argv[1]);
const records = JSON.parse(require("fs").readFileSync(0, "utf8"));
const validator = new FeedValidator("");
const out = records.map((r) => {
  try {
    validator.check(r.topic, r.key === null ? null : Buffer.from(r.key), r.headers, Buffer.from(r.value));
    return "ok";
  } catch (e) {
    if (!(e instanceof InvalidRecord)) throw e;
    return e.message;
  }
});
console.log(JSON.stringify(out));
"""


def _generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", "generate.mjs", *args], cwd=PROJECT, capture_output=True, text=True, timeout=120, check=False
    )


def _check(records: list[dict[str, Any]]) -> list[str]:
    build()
    done = subprocess.run(
        ["node", "-e", CHECK, str(PROJECT / "dist" / "validate.js")],
        input=json.dumps(records),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: list[str] = json.loads(done.stdout)
    return result


def _record(event: EventModel, **change: Any) -> dict[str, Any]:
    """The record our outbox writes for `event` (body, CloudEvents headers, the worker_ref key)."""
    contract = contracts.of(event)
    body = json.loads(event.model_dump_json())
    key = body["worker_ref"]
    headers = new_envelope(contract.event_type, "/muba/sponsorship", subject=key).headers()
    record = {"topic": contract.topic, "key": key, "headers": headers, "value": json.dumps(body)}
    return {**record, **change}


EVENTS: list[EventModel] = [
    FeedWorkerEnrolled(
        worker_ref=REF,
        kecamatan_code="01",
        kecamatan_name="Sekayu",
        occupation="petani karet",
        company_id="medco-ep-grissik",
        company_name="Medco E&P Grissik Ltd",
        package="JKK_JKM",
        months=12,
        coverage_start=date(2026, 12, 1),
        coverage_end=date(2027, 11, 30),
        contribution_idr=201_600,
        membership="new",
        enrolled_at=NOW,
    ),
    FeedWorkerWaitlisted(
        worker_ref=REF, kecamatan_code="01", kecamatan_name="Sekayu", occupation="nelayan", waitlisted_at=NOW
    ),
    FeedCoverageEnded(
        worker_ref=REF,
        company_id="phe-jambi-merang",
        company_name="PHE Jambi Merang",
        reason="lapsed",
        last_covered_day=date(2027, 3, 31),
        months_unpaid=2,
        next="fallback",
        next_company_id="medco-ep-grissik",
        next_company_name="Medco E&P Grissik Ltd",
        next_coverage_start=date(2027, 4, 1),
        ended_at=NOW,
    ),
    FeedCoverageEnded(
        worker_ref=REF,
        company_id="phe-jambi-merang",
        company_name="PHE Jambi Merang",
        reason="period_ended",
        last_covered_day=date(2027, 3, 31),
        months_unpaid=0,
        next="waitlisted",
        next_company_id=None,
        next_company_name=None,
        next_coverage_start=None,
        ended_at=NOW,
    ),
]


def test_the_generated_models_are_what_the_asyncapi_document_gives() -> None:
    done = _generate("--check")
    assert done.returncode == 0, done.stderr
    assert "3 feed messages" in done.stdout


def test_a_changed_document_makes_the_generated_models_stale(tmp_path: Path) -> None:
    document = yaml.safe_load(DOCUMENT.read_text())
    schema = document["components"]["schemas"]["FeedWorkerWaitlisted"]
    schema["properties"]["desa"] = {"type": "string", "title": "Desa"}
    changed = tmp_path / "sponsorship.yaml"
    changed.write_text(yaml.safe_dump(document, sort_keys=False))
    done = _generate("--check", "--document", str(changed))
    assert done.returncode == 1
    assert "FeedWorkerWaitlisted.ts" in done.stderr and "feed.json" in done.stderr
    assert "FeedWorkerEnrolled.ts" not in done.stderr


def test_every_feed_event_as_we_write_it_passes_the_generated_models() -> None:
    assert {contracts.of(e).topic for e in EVENTS} == {c.topic for c in contracts.FEED}
    assert _check([_record(e) for e in EVENTS]) == ["ok"] * len(EVENTS)


def test_what_the_contract_forbids_is_refused_and_named() -> None:
    enrolled = _record(EVENTS[0])
    body = json.loads(enrolled["value"])
    answers = _check(
        [
            {**enrolled, "value": json.dumps({**body, "months": 0})},
            {**enrolled, "value": json.dumps({**body, "package": "JHT_ONLY"})},
            {**enrolled, "value": json.dumps({k: v for k, v in body.items() if k != "contribution_idr"})},
            {**enrolled, "value": json.dumps({**body, "contribution_idr": 201_600.5})},
            {**enrolled, "value": json.dumps({**body, "coverage_start": "1 Desember 2026"})},
            {**enrolled, "value": json.dumps({**body, "enrolled_at": "2026-12-03T11:00:00"})},
            {**enrolled, "headers": {**enrolled["headers"], "ce_specversion": "0.3"}},
            {**enrolled, "topic": contracts.FEED_WORKER_WAITLISTED.topic},
            {**enrolled, "key": None},
            {**enrolled, "value": json.dumps({**body, "nik": "1606012345678901"})},
        ]
    )
    assert "/months" in answers[0]
    assert "/package" in answers[1]
    assert "contribution_idr" in answers[2]
    assert "/contribution_idr" in answers[3]
    assert "/coverage_start" in answers[4]
    assert "/enrolled_at" in answers[5]
    assert "ce_specversion" in answers[6]
    assert "ce_type" in answers[7]
    assert answers[8].startswith("key:")
    # A field more is what an additive change looks like: taken, as the compatibility policy says.
    assert answers[9] == "ok"
