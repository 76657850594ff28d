"""`make demo`: the programme end to end on this machine, with realistic sample data.

Starts the three services, the BPJS simulator and the dashboard, shows their health, then plays a
day of the programme: companies commit, partner systems register workers (some with mistakes, some
twice), BPJS answers, workers and companies are told. Prints what happened, counted from the
topics, checks that the dashboard shows the figures of `muba report --format json`, and prints
its URL.
"""

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
from aiokafka.errors import TopicAuthorizationFailedError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy.catcher import Catcher
from deploy.chaos import Servers, _reset_database
from deploy.stack import ROOT, Stack, UsualPorts
from deploy.subscriber import FeedCounts, run_subscriber
from services.notifications.webhooks import load_key
from shared import access, contracts, topics
from shared.http_access import office_token
from shared.kafka_security import KafkaConnection, secrets_dir
from simulators.bpjs.domain import dukcapil_mismatch_score
from simulators.gateway.settings import GatewaySimulatorSettings
from simulators.gateway.simulator import GatewaySimulator
from testkit.kafka import EventRecorder, RecordedEvent, publish_json, record_events
from testkit.samples import make_nik, sample_registration

FUNDER_FILE = Path(__file__).parent / "demo_data" / "pake-kelambu.csv"
DATABASE = "muba_demo"
# What the SMS/WhatsApp provider stand-in received and the receipts it sent (one JSON line each).
PROVIDER_RECORD = ROOT / ".cache" / "gateway-simulator" / "demo-received.jsonl"
DESA_INTAKE = topics.intake_topic("desa-online")
SEKAYU_INTAKE = topics.intake_topic("operator-sekayu")


class DemoSettings(BaseSettings):
    """The demo's knobs, read when it runs (never at import)."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    workers: int = Field(400, validation_alias="DEMO_WORKERS")
    # KEEP_RUNNING=1: the services stay up after the summary, until Ctrl+C.
    keep_running: bool = Field(False, validation_alias="KEEP_RUNNING")
    # The demo's own SMTP server and the companies' webhook receiver (deploy/catcher.py).
    smtp_port: int = Field(8025, validation_alias="DEMO_SMTP_PORT")
    hooks_port: int = Field(8006, validation_alias="DEMO_HOOKS_PORT")


def commitments(run: str, hook_url: Callable[[str], str]) -> list[dict[str, object]]:
    """The four companies; PHE and Hindoli take their news by webhook (`hook_url(company_id)`)."""
    return [
        {
            "commitment_id": f"medco-{run}",
            "company_id": "medco-ep-grissik",
            "company_name": "Medco E&P Grissik Ltd",
            "kecamatan": ["Batang Hari Leko", "Lawang Wetan"],
            "slots": 60,
            "months": 12,
            "package": "JKK_JKM",
            "email": "csr@medcoenergi.example",
        },
        {
            "commitment_id": f"phe-{run}",
            "company_id": "phe-jambi-merang",
            "company_name": "PHE Jambi Merang",
            "kecamatan": ["09", "12"],
            "slots": 50,
            "months": 6,
            "package": "JKK_JKM",
            "webhook_url": hook_url("phe-jambi-merang"),
        },
        {
            "commitment_id": f"hindoli-{run}",
            "company_id": "pt-hindoli",
            "company_name": "PT Hindoli",
            "kecamatan": ["Sungai Lilin", "Keluang"],
            "slots": 60,
            "months": 12,
            "package": "JKK_JKM_JHT",
            "preferred_occupations": ["buruh kebun sawit", "petani sawit"],
            "email": "csr@hindoli.example",
            "webhook_url": hook_url("pt-hindoli"),
        },
        {
            "commitment_id": f"bsb-{run}",
            "company_id": "bank-sumsel-babel",
            "company_name": "Bank Sumsel Babel",
            "kecamatan": ["*"],
            "slots": 100,
            "months": 12,
            "package": "JKK_JKM",
            "email": "csr@banksumselbabel.example",
        },
    ]


def late_commitment(run: str) -> dict[str, object]:
    return {
        "commitment_id": f"pusri-{run}",
        "company_id": "pupuk-sriwidjaja",
        "company_name": "PT Pupuk Sriwidjaja",
        "kecamatan": ["*"],
        "slots": 60,
        "months": 12,
        "package": "JKK_JKM",
        "email": "csr@pusri.example",
    }


def bad_registrations(run: str) -> list[dict[str, object]]:
    base = sample_registration(9000, source="operator-sekayu", run=int(run[-4:], 16))
    broken: list[dict[str, object]] = [
        {"nik": "16060152089"},  # too short
        {"nik": "1606015208900000"},  # serial 0000
        {"birth_date": "1990-13-45"},
        {"phone": "021-555-1234"},  # a landline
        {"kecamatan": "Palembang"},
        {"full_name": "Budi123"},
        {"birth_date": date(2015, 1, 1).isoformat(), "nik": make_nik("01", date(2015, 1, 1), "L", 7)},
        {"occupation": ""},
        {"declared_income_idr": -5},
    ]
    return [dict(base, submission_id=f"bad-{run}-{i}", **change) for i, change in enumerate(broken)]


@dataclass(frozen=True)
class _Principals:
    """Everyone as who they are: the office (operator) commits for companies, each partner writes
    its own intake, the demo watches the topics as admin."""

    admin: KafkaConnection
    operator: KafkaConnection
    desa_online: KafkaConnection
    operator_sekayu: KafkaConnection

    @staticmethod
    def from_env() -> "_Principals":
        admin = KafkaConnection.from_env(access.ADMIN)
        return _Principals(
            admin,
            admin.as_principal(access.OPERATOR),
            admin.as_principal(topics.partner_principal("desa-online")),
            admin.as_principal(topics.partner_principal("operator-sekayu")),
        )


@dataclass(frozen=True)
class _Cast:
    """The day's workers, made from the run's seed."""

    valid: list[dict[str, object]]
    unknown: dict[str, object]  # a NIK Dukcapil does not know
    # Registered with a NIK warning (birth-date digits one day off): BPJS's Dukcapil check
    # decides; one whose record disagrees (DATA_MISMATCH) and one whose record agrees.
    warned: list[dict[str, object]]
    members: list[dict[str, object]]  # already BPJS members: one active (9998), one lapsed (9997)
    funded: dict[str, object]  # on the PAKE KELAMBU list the office imported (FUNDER_FILE)
    repeats: list[dict[str, object]]
    same_person_again: list[dict[str, object]]  # through the other partner
    forged: dict[str, object]  # desa-online pretending to be operator-sekayu

    @staticmethod
    def of(run: str, workers: int) -> "_Cast":
        seed = int(run[-4:], 16)
        random.seed(seed)
        valid = [sample_registration(i, source="desa-online", run=seed) for i in range(workers)]
        # One NIK Dukcapil does not know (the simulator rejects serial 9999): BPJS says no.
        unknown = sample_registration(workers, source="desa-online", run=seed)
        unknown["nik"] = str(unknown["nik"])[:12] + "9999"
        members = [sample_registration(workers + n, source="desa-online", run=seed) for n in (1, 2)]
        for member, serial in zip(members, ("9998", "9997"), strict=True):
            member["nik"] = str(member["nik"])[:12] + serial
        warned = [_warned(seed, workers + 10, disagrees=True), _warned(seed, workers + 500, disagrees=False)]
        same_person_again = [
            dict(v, submission_id=f"{v['submission_id']}-ulang", source="operator-sekayu") for v in valid[5:8]
        ]
        # desa-online pretends to be operator-sekayu: in the body (rejected: SOURCE_MISMATCH) and by
        # writing that partner's intake (refused by Kafka: nothing reaches the registry).
        forged = dict(valid[0], submission_id=f"forged-{run}", source="operator-sekayu")
        # The first person of the office's PAKE KELAMBU list (FUNDER_FILE), as a partner registers them.
        funded = dict(
            sample_registration(workers + 3, source="desa-online", run=seed),
            nik="1606011203844101",
            birth_date="1984-03-12",
            sex="L",
        )
        return _Cast(valid, unknown, warned, members, funded, valid[:5], same_person_again, forged)

    @property
    def first(self) -> list[dict[str, object]]:
        """Sent before the day's crowd, so that sponsors surely have slots for them."""
        return [self.unknown, *self.warned, *self.members, self.funded]


def _warned(seed: int, start: int, *, disagrees: bool) -> dict[str, object]:
    """A registration whose birth date is a day after the NIK's digits, whose Dukcapil record
    (as the simulator keeps it: shared by a hash of the NIK) disagrees, or agrees, at any
    SIMULATOR_WARNING_MISMATCH_PERCENT between 1 and 99."""
    i = start
    while True:
        registration = sample_registration(i, source="desa-online", run=seed)
        score = dukcapil_mismatch_score(str(registration["nik"]))
        if (score < 1) if disagrees else (score >= 99):
            born = date.fromisoformat(str(registration["birth_date"]))
            return dict(registration, birth_date=(born + timedelta(days=1)).isoformat())
        i += 1


def _watched_topics() -> list[str]:
    return [
        contracts.WORKER_REGISTERED.topic,
        contracts.REGISTRATION_REJECTED.topic,
        contracts.COMMITMENT_ACCEPTED.topic,
        contracts.SPONSOR_MATCHED.topic,
        contracts.WORKER_WAITLISTED.topic,
        contracts.ENROLLMENT_CONFIRMED.topic,
        contracts.ENROLLMENT_REJECTED.topic,
        contracts.ENROLLMENT_COMPLETED.topic,
        contracts.NOTIFICATION_SENT_V1.topic,
        contracts.NOTIFICATION_SENT.topic,
        contracts.NOTIFICATION_DELIVERED.topic,
        contracts.NOTIFICATION_FAILED.topic,
        topics.dead_letter_topic(DESA_INTAKE),
    ]


async def play(run: str, workers: int, catcher: Catcher, provider: GatewaySimulator) -> Counter[str]:
    who = _Principals.from_env()
    cast = _Cast.of(run, workers)
    async with record_events(who.admin, *_watched_topics()) as recorder:
        await publish_json(
            who.operator,
            contracts.COMMITMENT_SUBMITTED.topic,
            [(str(c["commitment_id"]), c) for c in commitments(run, catcher.hook_url)],
        )
        await recorder.wait_for(4, topic=contracts.COMMITMENT_ACCEPTED.topic)
        # The worker Dukcapil does not know, the warned ones and the existing members come first,
        # so sponsors surely have slots for them: BPJS answers each.
        await publish_json(who.desa_online, DESA_INTAKE, [(None, s) for s in cast.first])
        await recorder.wait_for(2, topic=contracts.ENROLLMENT_REJECTED.topic, timeout_s=60)
        await recorder.wait_for(3, topic=contracts.ENROLLMENT_CONFIRMED.topic, timeout_s=60)
        submissions = [*cast.valid, *bad_registrations(run)]
        random.shuffle(submissions)
        started = time.monotonic()
        refused = await _register(who, cast, submissions)
        expected = len(cast.first) + len(submissions) + 1 + len(cast.same_person_again)
        await _until(
            recorder,
            lambda c: (
                c[contracts.WORKER_REGISTERED.topic] + c[contracts.REGISTRATION_REJECTED.topic] >= expected
            ),
        )
        print(f"  {expected} registrations handled in {time.monotonic() - started:.1f} s")
        await recorder.settle(2.0)
        print("  a fifth company commits: its slots go to the waiting list, first registered first")
        await publish_json(
            who.operator, contracts.COMMITMENT_SUBMITTED.topic, [("late", late_commitment(run))]
        )
        await recorder.wait_for(5, topic=contracts.COMMITMENT_ACCEPTED.topic)
        await recorder.settle(3.0)
        counts = Counter(e.topic for e in recorder.events)
        counts["submitted"] = (
            len(cast.first) + len(submissions) + len(cast.repeats) + 1 + len(cast.same_person_again) + 1
        )
        counts["repeats"] = len(cast.repeats)
        counts["refused_by_kafka"] = refused
        counts.update(_findings(recorder.events))
        for contract, topic in (
            (contracts.ENROLLMENT_COMPLETED, contracts.FEED_WORKER_ENROLLED.topic),
            (contracts.WORKER_WAITLISTED, contracts.FEED_WORKER_WAITLISTED.topic),
        ):  # what the feed must show: one event per outcome (a repeat keeps its ce_id)
            counts[f"expected {topic}"] = len(
                {e.headers.get("ce_id") for e in recorder.events if e.topic == contract.topic}
            )
        counts.update(await _delivered(recorder.events, catcher))
        counts.update(await _texted(recorder, provider))
        return counts


async def _delivered(events: list[RecordedEvent], catcher: Catcher, timeout_s: float = 90) -> Counter[str]:
    """Wait until every e-mail and webhook the service announced has reached the catcher, and
    count them there: what left the system, seen from outside it."""
    sent = [e.payload for e in events if e.topic == contracts.NOTIFICATION_SENT_V1.topic]
    emails = len({p["notification_id"] for p in sent if p["channel"] == "email"})
    hooks = len({p["notification_id"] for p in sent if p["channel"] == "webhook"})
    received = catcher.received
    deadline = time.monotonic() + timeout_s
    while len(received.emails) < emails or len(received.webhooks) < hooks:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{len(received.emails)} of {emails} e-mails and {len(received.webhooks)} of {hooks}"
                " webhooks arrived: see .cache/logs/notifications-1.log"
            )
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)  # room for one more than announced, were one to come
    return Counter(
        emails_in_mailbox=len(received.emails),
        emails_announced=emails,
        webhooks_verified=len(received.webhooks),
        webhooks_announced=hooks,
        webhooks_unverified=received.unverified,
    )


async def _texted(recorder: EventRecorder, provider: GatewaySimulator, timeout_s: float = 90) -> Counter[str]:
    """Wait until every SMS/WhatsApp message the service stored was accepted by the provider
    stand-in (Twilio's API) and its receipt closed it (notification-delivered or -failed), and
    count both sides: what the provider recorded, and what the events said."""

    def texts(topic: str) -> set[str]:
        return {
            e.payload["notification_id"]
            for e in recorder.events
            if e.topic == topic and e.payload["channel"] in ("sms", "whatsapp")
        }

    stored = texts(contracts.NOTIFICATION_SENT_V1.topic)
    deadline = time.monotonic() + timeout_s
    while len(
        texts(contracts.NOTIFICATION_DELIVERED.topic) | texts(contracts.NOTIFICATION_FAILED.topic)
    ) < len(stored):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{len(texts(contracts.NOTIFICATION_DELIVERED.topic))} of {len(stored)} SMS/WhatsApp messages"
                " delivered: see .cache/logs/notifications-1.log and gateway-1.log"
            )
        await asyncio.sleep(0.5)
    await recorder.settle(1.0)
    received = provider.received()
    accepted = [e for e in received if e.get("provider") == "twilio" and e.get("outcome") == "accepted"]
    receipts = {e["sid"] for e in received if e.get("receipt") == "delivered" and e.get("answered") == 204}
    return Counter(
        texts_stored=len(stored),
        texts_accepted_by_provider=len(accepted),
        texts_delivered_receipts=len(receipts),
        texts_delivered_events=len(texts(contracts.NOTIFICATION_DELIVERED.topic)),
        texts_sent_events=len(texts(contracts.NOTIFICATION_SENT.topic)),
        sms_segments_billed=sum(int(e["segments"]) for e in accepted if e["channel"] == "sms"),
    )


async def _register(who: _Principals, cast: _Cast, submissions: list[dict[str, object]]) -> int:
    """Each partner writes its submissions to its intake, then the repeats, the forgery and one
    message that is not JSON; returns 1 when Kafka refused the forged write to another's intake."""
    for partner, intake in ((who.desa_online, DESA_INTAKE), (who.operator_sekayu, SEKAYU_INTAKE)):
        mine = [s for s in submissions if topics.intake_topic(str(s.get("source"))) == intake]
        await publish_json(partner, intake, [(None, s) for s in mine])
    await publish_json(
        who.desa_online,
        DESA_INTAKE,
        [(None, s) for s in [*cast.repeats, cast.forged]] + [(None, b"{not json")],
    )
    await publish_json(who.operator_sekayu, SEKAYU_INTAKE, [(None, s) for s in cast.same_person_again])
    try:
        await publish_json(who.desa_online, SEKAYU_INTAKE, [(None, cast.forged)])
    except TopicAuthorizationFailedError:
        return 1
    return 0


def _findings(events: list[RecordedEvent]) -> dict[str, int]:
    """The rejections and notifications the summary names."""
    rejected = [e for e in events if e.topic == contracts.REGISTRATION_REJECTED.topic]
    sent = [e for e in events if e.topic == contracts.NOTIFICATION_SENT_V1.topic]
    registered = [e for e in events if e.topic == contracts.WORKER_REGISTERED.topic]
    confirmed = [e for e in events if e.topic == contracts.ENROLLMENT_CONFIRMED.topic]
    refused = [e for e in events if e.topic == contracts.ENROLLMENT_REJECTED.topic]
    return {
        "nik_warnings": sum(1 for e in registered if e.payload.get("warnings")),
        "already_funded": sum(
            1 for e in rejected if any(r["code"] == "ALREADY_FUNDED" for r in e.payload["reasons"])
        ),
        "continued": sum(1 for e in confirmed if e.payload.get("membership") == "continued"),
        "resumed": sum(1 for e in confirmed if e.payload.get("membership") == "resumed"),
        "data_mismatch": sum(1 for e in refused if e.payload["reason_code"] == "DATA_MISMATCH"),
        "source_mismatch": sum(
            1 for e in rejected if any(r["code"] == "SOURCE_MISMATCH" for r in e.payload["reasons"])
        ),
        "duplicate_nik": sum(
            1 for e in rejected if any(r["code"] == "DUPLICATE_NIK" for r in e.payload["reasons"])
        ),
        "notified_workers": sum(1 for e in sent if e.payload["audience"] == "worker"),
        "notified_companies": sum(1 for e in sent if e.payload["audience"] == "company"),
    }


async def _until(recorder: object, done: object, timeout_s: float = 120) -> None:
    from testkit.kafka import EventRecorder

    assert isinstance(recorder, EventRecorder) and callable(done)
    deadline = time.monotonic() + timeout_s
    while not done(Counter(e.topic for e in recorder.events)):
        if time.monotonic() > deadline:
            raise TimeoutError("the pipeline did not finish in time: see .cache/logs/")
        await recorder.settle(0.5)


def summary(c: Counter[str]) -> list[tuple[str, int]]:
    return [
        ("registrations submitted (incl. repeats, 1 not JSON)", c["submitted"]),
        ("workers registered", c[contracts.WORKER_REGISTERED.topic]),
        ("  of which: with a NIK warning (BPJS's Dukcapil check decides)", c["nik_warnings"]),
        ("registrations rejected (every reason named)", c[contracts.REGISTRATION_REJECTED.topic]),
        ("  of which: NIK already registered", c["duplicate_nik"]),
        ("  of which: already funded (PAKE KELAMBU, APBD)", c["already_funded"]),
        ("  of which: source names another partner", c["source_mismatch"]),
        ("writes to another partner's intake refused by Kafka", c["refused_by_kafka"]),
        ("repeated submissions ignored", c["repeats"]),
        ("dead letters (not JSON)", c[topics.dead_letter_topic(DESA_INTAKE)]),
        ("company commitments accepted", c[contracts.COMMITMENT_ACCEPTED.topic]),
        ("workers matched to a sponsor", c[contracts.SPONSOR_MATCHED.topic]),
        ("workers waitlisted", c[contracts.WORKER_WAITLISTED.topic]),
        ("BPJS enrollments confirmed (KPJ issued)", c[contracts.ENROLLMENT_CONFIRMED.topic]),
        ("  of which: an active member, now sponsored on their KPJ", c["continued"]),
        ("  of which: a lapsed member, active again", c["resumed"]),
        ("BPJS enrollments rejected", c[contracts.ENROLLMENT_REJECTED.topic]),
        ("  of which: Dukcapil data mismatch (told what to bring)", c["data_mismatch"]),
        ("enrollments completed", c[contracts.ENROLLMENT_COMPLETED.topic]),
        ("notifications sent to workers", c["notified_workers"]),
        ("notifications sent to companies", c["notified_companies"]),
        ("e-mails in the demo's SMTP mailbox (.cache/mailbox/)", c["emails_in_mailbox"]),
        ("signed webhooks received, each signature verified", c["webhooks_verified"]),
        ("SMS accepted by the provider (Twilio API stand-in)", c["texts_accepted_by_provider"]),
        ("  of which delivered (signed receipts, notification-delivered)", c["texts_delivered_events"]),
        ("  SMS segments billed", c["sms_segments_billed"]),
        ("public feed events read by the TypeScript subscriber", c["feed_read_by_subscriber"]),
    ]


def import_funders() -> None:
    """`muba funders import` as the office runs it: the list replaces PAKE KELAMBU's, by keyed
    hash of each NIK (the registry never keeps the NIK of a list)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "muba",
            "funders",
            "import",
            str(FUNDER_FILE),
            "--funder",
            "PAKE KELAMBU",
            "--source-code",
            "SG",
            "--description",
            "APBD Kabupaten Musi Banyuasin",
        ],
        check=True,
    )


def check_feed_subscriber(since_ms: int, counts: Counter[str]) -> tuple[str, FeedCounts]:
    """Run the TypeScript subscriber (subscribers/typescript: models generated from the AsyncAPI
    document, kafkajs, the principal `subscriber`) over what this run put on the public feed, and
    compare its counts with the pipeline's. Returns the line to print and what it counted."""
    read = run_subscriber(since_ms=since_ms, group="subscriber.typescript-demo")
    expected = {
        topic: counts[f"expected {topic}"]
        for topic in (contracts.FEED_WORKER_ENROLLED.topic, contracts.FEED_WORKER_WAITLISTED.topic)
    }
    expected[contracts.FEED_COVERAGE_ENDED.topic] = 0  # a demo day ends no coverage
    if read.returncode != 0 or read.events != expected:
        return (
            f"feed subscriber (TypeScript): {read.line}, expected {expected}"
            f" (exit {read.returncode}): {read.stderr.strip()[-500:]}",
            read,
        )
    return (f"The public feed, read by the TypeScript subscriber (subscribers/typescript): {read.line}", read)


def check_dashboard(port: int, attempts: int = 10) -> str:
    """Log in to the dashboard as the office and compare the figures its page polls (/data) with
    `muba report --format json` (both are shared.report.build_report of the same answers; a
    notification delivered between the two reads may differ: read again). Returns the line to
    print: the dashboard's URL, or what differed."""
    token = office_token(
        os.environ.get("MUBA_OPERATOR_TOKEN"),
        os.environ.get("MUBA_OPERATOR_TOKEN_FILE"),
        os.environ.get("MUBA_API_TOKENS_FILE"),
    )
    base = f"http://127.0.0.1:{port}"
    if not token:
        return f"dashboard: no office token in this environment, the figures were not compared ({base}/)"
    with httpx.Client(base_url=base, timeout=10, follow_redirects=False) as client:
        answer = client.post("/login", data={"token": token})
        if answer.status_code != 303:
            return f"dashboard: the office token was refused at {base}/login (HTTP {answer.status_code})"
        shown: object = None
        for _ in range(attempts):
            printed = subprocess.run(
                [sys.executable, "-m", "muba", "report", "--format", "json"],
                capture_output=True,
                text=True,
                check=True,
            )
            shown = client.get("/data").json().get("report")
            if shown == json.loads(printed.stdout):
                return (
                    f"The dashboard: {base}/ (paste the office token, or a company's) shows the figures"
                    " of `muba report --format json`"
                )
            time.sleep(1.0)
    return f"dashboard: {base}/data differs from `muba report --format json`: {json.dumps(shown)[:500]}"


def main() -> int:
    # SIGTERM leaves through the `with Stack` below, which stops the services it started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    settings = DemoSettings()
    run = f"{int(time.time()):x}"
    catcher = Catcher(
        load_key(None, secrets_dir()), ROOT / ".cache" / "mailbox", settings.smtp_port, settings.hooks_port
    )
    catcher.start()
    print(
        f"The demo's SMTP server on 127.0.0.1:{settings.smtp_port} and the companies' webhook receiver"
        f" on 127.0.0.1:{settings.hooks_port} (deploy/catcher.py)"
    )
    # A database of the demo's own, made anew each run (as demo-year's): a run never meets the
    # workers an earlier one left on the waitlist, who would take its new slots first.
    servers = Servers()
    print(f"The demo's database {DATABASE} (recreated) ...")
    asyncio.run(_reset_database(servers.admin_database_url, DATABASE))
    databases = {
        f"{name.upper()}_DATABASE_URL": urlunsplit(urlsplit(url)._replace(path="/" + DATABASE))
        for name, url in servers.database_urls().items()
    }
    print("Starting the services (logs in .cache/logs/), each as its own Kafka principal ...")
    # SMS go to the provider stand-in (simulators/gateway, Twilio's API), whose signed receipts
    # come back to notifications' /receipts/twilio.
    provider_settings = GatewaySimulatorSettings(GATEWAY_SIMULATOR_RECORD=str(PROVIDER_RECORD))
    PROVIDER_RECORD.unlink(missing_ok=True)
    ports = UsualPorts()
    env = {
        **databases,
        "NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "NOTIFICATIONS_SMTP_PORT": str(settings.smtp_port),
        "NOTIFICATIONS_SMTP_SECURITY": "none",
        "NOTIFICATIONS_WEBHOOK_DELIVERY": "true",
        "GATEWAY_SIMULATOR_RECORD": str(PROVIDER_RECORD),
        "NOTIFICATIONS_TWILIO_ACCOUNT_SID": provider_settings.twilio_account_sid,
        "NOTIFICATIONS_TWILIO_AUTH_TOKEN": provider_settings.twilio_auth_token,
        "NOTIFICATIONS_TWILIO_API_URL": f"http://127.0.0.1:{ports.gateway}",
        "NOTIFICATIONS_TWILIO_SMS_FROM": "+6281100000000",
        "NOTIFICATIONS_TWILIO_WHATSAPP_FROM": "+6281100000001",
        "NOTIFICATIONS_RECEIPT_URL": f"http://127.0.0.1:{ports.notifications}/receipts/twilio",
    }
    with Stack(fixed_ports=True, env=env) as stack:  # its database, and where messages go
        stack.start("gateway")
        stack.start_all()
        stack.start_dashboard()
        health = stack.wait_ready()
        for label, status in health.items():
            port = next(p.port for p in stack.processes if p.label == label)
            print(
                f"  {label:<18} http://127.0.0.1:{port:<5}  {status.get('status')}"
                + (
                    f"  broker={status['broker']} database={status['database']}"
                    if "database" in status
                    else ""
                )
            )
        print("The office imports the regency's own APBD list (PAKE KELAMBU): never double-funded ...")
        import_funders()
        print(f"Playing the programme (run {run}, {settings.workers} workers) ...")
        played_from_ms = int(time.time() * 1000)
        try:
            counts = asyncio.run(play(run, settings.workers, catcher, GatewaySimulator(provider_settings)))
        finally:
            if not settings.keep_running:
                catcher.stop()
        dashboard = check_dashboard(ports.dashboard)
        feed_line, feed = check_feed_subscriber(played_from_ms, counts)
        counts["feed_read_by_subscriber"] = sum(feed.events.values())
        rows = summary(counts)
        width = max(len(label) for label, _ in rows)
        print("\nSummary")
        for label, value in rows:
            print(f"  {label:<{width}}  {value:>6}")
        if settings.keep_running:
            print("\nThe services keep running; press Ctrl+C to stop them.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    catcher.stop()
    print(f"\n{dashboard}")
    print(feed_line)
    if not dashboard.startswith("The dashboard") or not feed_line.startswith("The public feed"):
        return 1
    empty = [label for label, value in rows if value == 0]
    if empty:
        print(f"\ndemo: these rows are empty, something is wrong: {', '.join(empty)}", file=sys.stderr)
        return 1
    wrong = {
        "webhooks whose signature did not verify": counts["webhooks_unverified"],
        "e-mails beyond those announced": counts["emails_in_mailbox"] - counts["emails_announced"],
        "webhooks beyond those announced": counts["webhooks_verified"] - counts["webhooks_announced"],
        "SMS stored but not accepted by the provider": counts["texts_stored"]
        - counts["texts_accepted_by_provider"],
        "SMS the provider delivered without a notification-delivered": counts["texts_delivered_receipts"]
        - counts["texts_delivered_events"],
        "SMS accepted without a sent event": counts["texts_accepted_by_provider"]
        - counts["texts_sent_events"],
    }
    if any(wrong.values()):
        print(f"\ndemo: {wrong}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
