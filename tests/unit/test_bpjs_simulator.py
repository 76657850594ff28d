"""The simulated BPJS side's decisions (pure rules) and its handler, in memory: no Kafka, no
database (the handler's outbox rows are read from its publisher; it has no store to touch)."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import pytest
from aiokafka import ConsumerRecord

from shared import contracts
from shared.consumer import Incoming, MessageContext, PoisonMessage, Publisher
from shared.envelope import event_type, new_envelope, parse_envelope
from shared.events.bpjs import EnrollmentConfirmed, EnrollmentRejected, EnrollmentRequested
from shared.outbox import OutboxRow
from simulators.bpjs.domain import (
    DATA_MISMATCH,
    DEFAULT_RULES,
    NAMESPACE,
    NIK_NOT_FOUND,
    SOURCE,
    Rules,
    answer_id,
    coverage_end,
    decide,
    dukcapil_mismatch_score,
    kpj_number,
    member_kpj_number,
    rejection_score,
)
from simulators.bpjs.handlers import BpjsHandlers
from simulators.bpjs.settings import SimulatorSettings
from testkit.samples import make_nik

REQUESTED_AT = datetime(2026, 3, 20, 8, 30, tzinfo=UTC)


def request(
    enrollment_id: str = "enr-0001",
    *,
    serial: int = 3,
    months: int = 12,
    start: date = date(2026, 4, 1),
    **extra: Any,
) -> EnrollmentRequested:
    fields: dict[str, Any] = {
        "enrollment_id": enrollment_id,
        "worker_id": "wrk-" + enrollment_id,
        "nik": make_nik("01", date(1990, 8, 12), "P", serial),
        "full_name": "Siti Aminah",
        "birth_date": date(1990, 8, 12),
        "sex": "P",
        "phone": "+6281234567890",
        "address": "Desa Kayuara, Sekayu, Kabupaten Musi Banyuasin, Sumatera Selatan",
        "kecamatan_code": "01",
        "occupation": "penyadap karet",
        "declared_income_idr": 1_000_000,
        "package": "JKK_JKM",
        "months": months,
        "coverage_start": start,
        "monthly_contribution_idr": 16_800,
        "total_contribution_idr": 16_800 * months,
        "payer": {"company_id": "cmp-1", "company_name": "PT Hindoli", "commitment_id": "cmt-1"},
        "requested_at": REQUESTED_AT,
    }
    fields.update(extra)
    return EnrollmentRequested.model_validate(fields)


def delivered(body: bytes, correlation_id: str = "corr-abc", prefix: str = "") -> Incoming:
    """A request as the consumer hands it over: sponsorship's CloudEvents headers, our topic."""
    envelope = new_envelope(
        event_type("enrollment-requested.v1"), "/muba/sponsorship", correlation_id, subject="wrk-x"
    )
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic=prefix + contracts.ENROLLMENT_REQUESTED.topic,
        partition=0,
        offset=7,
        timestamp=int(REQUESTED_AT.timestamp() * 1000),
        timestamp_type=0,
        key=b"wrk-x",
        value=body,
        checksum=None,
        serialized_key_size=5,
        serialized_value_size=len(body),
        headers=[(k, v.encode()) for k, v in envelope.headers().items()],
    )
    return Incoming.from_record(record)


async def answered(
    body: bytes | EnrollmentRequested,
    rules: Rules = DEFAULT_RULES,
    correlation_id: str = "corr-abc",
    prefix: str = "",
) -> OutboxRow:
    """The one outbox row the handler records for a request (the database is never reached)."""
    raw = body.model_dump_json().encode() if isinstance(body, EnrollmentRequested) else body
    publisher = Publisher("bpjs-simulator", prefix)
    ctx = MessageContext(
        delivered(raw, correlation_id, prefix), contracts.ENROLLMENT_REQUESTED, cast(Any, None), publisher
    )
    await BpjsHandlers(rules).on_enrollment_requested(ctx)
    assert len(publisher.rows) == 1 and len(publisher.envelopes) == 1
    return publisher.rows[0]


# --- KPJ number and event id ----------------------------------------------------------------------


def test_kpj_number_is_11_digits_deterministic_and_differs_between_enrollments() -> None:
    numbers = {kpj_number(f"enr-{i}") for i in range(2000)}
    assert len(numbers) == 2000
    assert all(len(n) == 11 and n.isdigit() and n[0] != "0" for n in numbers)
    assert kpj_number("enr-42") == kpj_number("enr-42")


def test_kpj_length_follows_the_setting() -> None:
    assert len(kpj_number("enr-1", 13)) == 13
    answer = decide(request(), Rules(kpj_digits=9))
    assert isinstance(answer, EnrollmentConfirmed)
    assert len(answer.kpj_number) == 9


async def test_same_request_same_answer_and_same_event_id() -> None:
    first, again = decide(request("enr-7")), decide(request("enr-7"))
    assert first == again
    one, other = await answered(request("enr-7")), await answered(request("enr-7"))
    assert (one.event_id, one.topic, one.key, one.body) == (
        other.event_id,
        other.topic,
        other.key,
        other.body,
    )
    assert answer_id("enr-7") == str(uuid.uuid5(NAMESPACE, "bpjs-answer:enr-7"))
    assert answer_id("enr-7") != answer_id("enr-8")


async def test_an_answer_depends_on_the_enrollment_id_not_on_when_it_is_made() -> None:
    """Redelivered hours later (the simulator restarted): still the identical answer and id."""
    first = await answered(request("enr-9"))
    later = await answered(request("enr-9"), correlation_id="corr-later")
    assert (first.event_id, first.body) == (later.event_id, later.body) == (answer_id("enr-9"), later.body)
    assert decide(request("enr-9")).confirmed_at == REQUESTED_AT  # type: ignore[union-attr]
    delayed = decide(request("enr-9"), Rules(processing_time=timedelta(milliseconds=1500)))
    assert isinstance(delayed, EnrollmentConfirmed)
    assert delayed.confirmed_at == REQUESTED_AT + timedelta(seconds=1.5)


def test_naive_requested_at_is_read_as_utc() -> None:
    answer = decide(request(requested_at=datetime(2026, 3, 20, 8, 30)))
    assert isinstance(answer, EnrollmentConfirmed)
    assert answer.confirmed_at == REQUESTED_AT


# --- confirmations --------------------------------------------------------------------------------


def test_a_valid_request_is_confirmed_with_its_coverage() -> None:
    answer = decide(request("enr-1", months=12, start=date(2026, 4, 1)))
    assert isinstance(answer, EnrollmentConfirmed)
    assert answer.enrollment_id == "enr-1"
    assert answer.worker_id == "wrk-enr-1"
    assert answer.kpj_number == kpj_number("enr-1")
    assert (answer.coverage_start, answer.coverage_end) == (date(2026, 4, 1), date(2027, 3, 31))


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (date(2026, 1, 1), 1, date(2026, 1, 31)),
        (date(2026, 1, 1), 12, date(2026, 12, 31)),
        (date(2026, 4, 1), 3, date(2026, 6, 30)),
        (date(2026, 11, 1), 3, date(2027, 1, 31)),  # across the year end
        (date(2026, 8, 15), 6, date(2027, 2, 14)),
        (date(2026, 2, 1), 1, date(2026, 2, 28)),
        (date(2028, 2, 1), 1, date(2028, 2, 29)),  # leap year
        (date(2027, 12, 1), 3, date(2028, 2, 29)),  # ends in a leap February
        (date(2026, 1, 31), 1, date(2026, 2, 28)),  # no 31 February: to the month's end
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2028, 1, 30), 1, date(2028, 2, 29)),  # 30 February neither
        (date(2026, 1, 29), 1, date(2026, 2, 28)),  # 29 February only in leap years
        (date(2028, 1, 29), 1, date(2028, 2, 28)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 5, 31), 1, date(2026, 6, 30)),
        (date(2026, 8, 31), 3, date(2026, 11, 30)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),  # from a leap day
        (date(2028, 2, 29), 48, date(2032, 2, 28)),  # to the next leap year's eve
        (date(2026, 3, 1), 1, date(2026, 3, 31)),
    ],
)
def test_coverage_ends_the_day_before_the_same_day_months_later(start: date, months: int, end: date) -> None:
    assert coverage_end(start, months) == end
    answer = decide(request(start=start, months=months))
    assert isinstance(answer, EnrollmentConfirmed)
    assert answer.coverage_end == end


def test_consecutive_periods_leave_no_gap_and_no_overlap() -> None:
    start = date(2026, 1, 31)
    for _ in range(30):
        end = coverage_end(start, 1)
        assert end >= start
        start = end + timedelta(days=1)
    assert start == date(2028, 8, 1)


def test_months_below_one_cannot_be_answered() -> None:
    with pytest.raises(ValueError, match="months"):
        decide(request(months=0))


# --- rejections -----------------------------------------------------------------------------------


def test_serial_9999_is_not_found_in_dukcapil() -> None:
    answer = decide(request("enr-2", serial=9999))
    assert isinstance(answer, EnrollmentRejected)
    assert (answer.enrollment_id, answer.worker_id) == ("enr-2", "wrk-enr-2")
    assert answer.reason_code == NIK_NOT_FOUND
    assert answer.reason_message == "NIK tidak ditemukan di Dukcapil"
    assert answer.rejected_at == REQUESTED_AT


@pytest.mark.parametrize(("serial", "membership"), [(9998, "continued"), (9997, "resumed")])
def test_an_existing_member_is_confirmed_on_their_own_kpj_number(serial: int, membership: str) -> None:
    """An active (9998) or lapsed (9997) member is not refused: the sponsor pays on the KPJ number
    they hold, the same whichever enrollment asks, for the requested months."""
    nik = make_nik("01", date(1990, 8, 12), "P", serial)
    first = decide(request("enr-a", serial=serial, months=6, start=date(2026, 4, 1)))
    second = decide(request("enr-b", serial=serial))
    assert isinstance(first, EnrollmentConfirmed) and isinstance(second, EnrollmentConfirmed)
    assert (first.membership, second.membership) == (membership, membership)
    assert first.kpj_number == second.kpj_number == member_kpj_number(nik)
    assert first.kpj_number not in (kpj_number("enr-a"), kpj_number("enr-b"))
    assert len(first.kpj_number) == 11 and first.kpj_number.isdigit() and first.kpj_number[0] != "0"
    assert (first.coverage_start, first.coverage_end) == (date(2026, 4, 1), date(2026, 9, 30))
    assert first.confirmed_at == REQUESTED_AT
    other_person = decide(request("enr-a", serial=serial, nik=make_nik("02", date(1990, 8, 12), "P", serial)))
    assert isinstance(other_person, EnrollmentConfirmed) and other_person.kpj_number != first.kpj_number
    assert len(member_kpj_number(nik, 13)) == 13


def test_a_new_member_is_confirmed_new() -> None:
    answer = decide(request("enr-n"))
    assert isinstance(answer, EnrollmentConfirmed)
    assert (answer.membership, answer.kpj_number) == ("new", kpj_number("enr-n"))


def warned(i: int, *codes: str, serial: int | None = None) -> EnrollmentRequested:
    """Request `i` of a NIK of its own whose digits the registry warned about."""
    birth = date(1970 + i % 30, 1 + i % 12, 1 + i % 28)
    nik = make_nik(f"{1 + i % 15:02d}", birth, "L", serial if serial is not None else 1 + i % 9000)
    return request(f"enr-w{i}", nik=nik, nik_warnings=list(codes))


def test_a_warned_nik_is_refused_data_mismatch_for_the_configured_share_the_same_ones_every_time() -> None:
    """The registry let it through with a warning; Dukcapil's record decides: for some the stated
    birth date or sex is what Dukcapil holds (a corrected record), for the others it is not."""
    requests = [warned(i, "NIK_BIRTH_DATE_MISMATCH" if i % 2 else "NIK_SEX_MISMATCH") for i in range(4000)]
    answers = [decide(r, Rules(warning_mismatch_percent=30)) for r in requests]
    refused = {a.enrollment_id for a in answers if isinstance(a, EnrollmentRejected)}
    assert 0.26 < len(refused) / len(requests) < 0.34
    assert refused == {r.enrollment_id for r in requests if dukcapil_mismatch_score(r.nik) < 30}
    assert all(a.reason_code == DATA_MISMATCH for a in answers if isinstance(a, EnrollmentRejected))
    assert all(
        "Dukcapil" in a.reason_message and a.rejected_at == REQUESTED_AT
        for a in answers
        if isinstance(a, EnrollmentRejected)
    )
    assert answers == [decide(r, Rules(warning_mismatch_percent=30)) for r in requests]
    # Decided by the person's record, not by the enrollment: the same NIK again, the same answer.
    again = [r.model_copy(update={"enrollment_id": r.enrollment_id + "-again"}) for r in requests[:200]]
    assert [type(decide(r, Rules(warning_mismatch_percent=30))) for r in again] == [
        type(a) for a in answers[:200]
    ]
    # The default share is a half.
    default = sum(isinstance(decide(r), EnrollmentRejected) for r in requests) / len(requests)
    assert 0.45 < default < 0.55
    assert all(
        isinstance(decide(r, Rules(warning_mismatch_percent=100)), EnrollmentRejected) for r in requests
    )
    assert all(
        isinstance(decide(r, Rules(warning_mismatch_percent=0)), EnrollmentConfirmed) for r in requests
    )


def test_only_the_birth_date_and_sex_warnings_go_to_dukcapil() -> None:
    everything = Rules(warning_mismatch_percent=100)
    assert isinstance(decide(warned(1, "NIK_AREA_UNKNOWN"), everything), EnrollmentConfirmed)
    assert isinstance(decide(warned(1), everything), EnrollmentConfirmed)
    assert isinstance(
        decide(warned(1, "NIK_AREA_UNKNOWN", "NIK_SEX_MISMATCH"), everything), EnrollmentRejected
    )


def test_a_warned_existing_member_is_checked_against_dukcapil_first() -> None:
    for serial, membership in ((9998, "continued"), (9997, "resumed")):
        refused = decide(
            warned(5, "NIK_BIRTH_DATE_MISMATCH", serial=serial), Rules(warning_mismatch_percent=100)
        )
        assert isinstance(refused, EnrollmentRejected) and refused.reason_code == DATA_MISMATCH
        agreed = decide(
            warned(5, "NIK_BIRTH_DATE_MISMATCH", serial=serial), Rules(warning_mismatch_percent=0)
        )
        assert isinstance(agreed, EnrollmentConfirmed) and agreed.membership == membership
    unknown = decide(warned(5, "NIK_SEX_MISMATCH", serial=9999), Rules(warning_mismatch_percent=0))
    assert isinstance(unknown, EnrollmentRejected) and unknown.reason_code == NIK_NOT_FOUND


@pytest.mark.parametrize("nik", ["160601520890000", "16060152089000031", "16060152089O0003", ""])
def test_a_nik_that_is_not_16_digits_is_not_found(nik: str) -> None:
    answer = decide(request(nik=nik))
    assert isinstance(answer, EnrollmentRejected)
    assert answer.reason_code == NIK_NOT_FOUND


def test_other_serials_are_confirmed_new() -> None:
    for serial in (1, 9, 999, 9000, 9996):
        answer = decide(request(serial=serial))
        assert isinstance(answer, EnrollmentConfirmed) and answer.membership == "new"


def test_the_serials_are_configurable() -> None:
    rules = Rules(nik_not_found_serial="0001", active_member_serial="0002", lapsed_member_serial="0003")
    assert decide(request(serial=1), rules).reason_code == NIK_NOT_FOUND  # type: ignore[union-attr]
    assert decide(request(serial=2), rules).membership == "continued"  # type: ignore[union-attr]
    assert decide(request(serial=3), rules).membership == "resumed"  # type: ignore[union-attr]
    for serial in (9999, 9998, 9997):
        answer = decide(request(serial=serial), rules)
        assert isinstance(answer, EnrollmentConfirmed) and answer.membership == "new"
    with pytest.raises(ValueError, match="must differ"):
        Rules(active_member_serial="9997")


def test_the_rejection_rate_picks_the_same_enrollments_every_time() -> None:
    ids = [f"enr-{i}" for i in range(4000)]
    rules = Rules(reject_percent=25)
    answers = [decide(request(i), rules) for i in ids]
    rejected = {a.enrollment_id for a in answers if isinstance(a, EnrollmentRejected)}
    assert 0.21 < len(rejected) / len(ids) < 0.29
    assert rejected == {i for i in ids if rejection_score(i) < 25}
    assert rejected == {
        a.enrollment_id for a in (decide(request(i), rules) for i in ids) if isinstance(a, EnrollmentRejected)
    }
    assert all(a.reason_code == DATA_MISMATCH for a in answers if isinstance(a, EnrollmentRejected))
    assert not any(isinstance(decide(request(i), Rules(reject_percent=0)), EnrollmentRejected) for i in ids)
    assert all(
        isinstance(decide(request(i), Rules(reject_percent=100)), EnrollmentRejected) for i in ids[:200]
    )


def test_the_nik_rules_come_before_the_rejection_rate() -> None:
    """The rejection share stands for a new member's data that BPJS refuses; an existing member's
    data BPJS holds already."""
    assert decide(request(serial=9999), Rules(reject_percent=100)).reason_code == NIK_NOT_FOUND  # type: ignore[union-attr]
    for serial in (9998, 9997):
        answer = decide(request(serial=serial), Rules(reject_percent=100))
        assert isinstance(answer, EnrollmentConfirmed) and answer.membership != "new"


# --- the message ----------------------------------------------------------------------------------


async def test_a_confirmation_message_carries_cloudevents_headers_and_the_models_json() -> None:
    answer = decide(request("enr-3"))
    row = await answered(request("enr-3"), prefix="t1.")
    assert row.topic == "t1." + contracts.ENROLLMENT_CONFIRMED.topic
    assert row.key == b"wrk-enr-3"
    envelope = parse_envelope(row.headers)
    assert envelope is not None
    assert row.event_id == envelope.id == answer_id("enr-3")
    assert row.event_type == envelope.type == event_type("enrollment-confirmed.v1")
    assert envelope.source == SOURCE == "/bpjs-ketenagakerjaan/kc-musi-banyuasin"
    assert envelope.correlation_id == "corr-abc"
    assert envelope.subject == "wrk-enr-3"
    assert row.headers["ce_specversion"] == "1.0"
    assert EnrollmentConfirmed.model_validate_json(row.body) == answer


async def test_a_rejection_message_goes_to_the_rejected_topic() -> None:
    row = await answered(request("enr-4", serial=9999), correlation_id="corr-x")
    assert row.topic == contracts.ENROLLMENT_REJECTED.topic
    assert row.headers["ce_type"] == event_type("enrollment-rejected.v1")
    assert row.headers["ce_id"] == answer_id("enr-4")
    assert row.headers["ce_correlationid"] == "corr-x"
    body = EnrollmentRejected.model_validate_json(row.body)
    assert body.reason_code == NIK_NOT_FOUND
    assert make_nik("01", date(1990, 8, 12), "P", 9999).encode() not in row.body


@pytest.mark.parametrize(
    ("body", "reason", "detail"),
    [
        (b"\xff\xfe not json", "NOT_JSON", "not UTF-8 JSON"),
        (b"[1, 2]", "NOT_A_JSON_OBJECT", ""),
        (
            b'{"enrollment_id": "enr-x", "worker_id": "wrk-x"}',
            "CONTRACT_VIOLATION",
            "full_name: Field required",
        ),
        (
            request("enr-5").model_dump_json().replace('"months":12', '"months":0').encode(),
            "CONTRACT_VIOLATION",
            "months must be at least 1",
        ),
    ],
)
async def test_a_request_that_breaks_the_contract_is_poison(body: bytes, reason: str, detail: str) -> None:
    """Raised to the consumer, which dead-letters the request (shared/consumer.py) and records nothing."""
    with pytest.raises(PoisonMessage) as raised:
        await answered(body)
    assert raised.value.reason == reason
    assert detail in raised.value.detail


def test_settings_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SIMULATOR_DELAY_MS",
        "SIMULATOR_REJECT_PERCENT",
        "BPJS_SIMULATOR_HTTP_PORT",
        "TOPIC_PREFIX",
        "KAFKA_USERNAME",
        "BPJS_DATABASE_URL",
        "SIMULATOR_WARNING_MISMATCH_PERCENT",
        "SIMULATOR_ACTIVE_MEMBER_SERIAL",
        "SIMULATOR_ALREADY_MEMBER_SERIAL",
        "SIMULATOR_LAPSED_MEMBER_SERIAL",
    ):
        monkeypatch.delenv(name, raising=False)
    defaults = SimulatorSettings()
    # The process is `bpjs-simulator` in the catalogue; it connects as the principal `bpjs`, to its
    # own schema through the role `bpjs`.
    assert defaults.kafka("bpjs-simulator").username == "bpjs"
    assert defaults.database_url == "postgresql://bpjs:bpjs@127.0.0.1:5432/muba"
    assert (defaults.http_port, defaults.delay_ms, defaults.reject_percent, defaults.kpj_digits) == (
        8004,
        0,
        0,
        11,
    )
    assert defaults.rules() == Rules()
    assert (defaults.active_member_serial, defaults.lapsed_member_serial) == ("9998", "9997")
    assert defaults.warning_mismatch_percent == 50
    monkeypatch.setenv("SIMULATOR_DELAY_MS", "250")
    monkeypatch.setenv("SIMULATOR_REJECT_PERCENT", "12.5")
    monkeypatch.setenv("SIMULATOR_NIK_NOT_FOUND_SERIAL", "0000")
    monkeypatch.setenv("TOPIC_PREFIX", "t1.")
    configured = SimulatorSettings()
    rules = configured.rules()
    assert rules.processing_time == timedelta(milliseconds=250)
    assert (rules.reject_percent, rules.nik_not_found_serial) == (12.5, "0000")
    assert configured.topic(contracts.ENROLLMENT_REQUESTED.topic) == "t1.bpjs.enrollment-requested.v1"
    monkeypatch.setenv("SIMULATOR_REJECT_PERCENT", "101")
    with pytest.raises(ValueError, match="less than or equal to 100"):
        SimulatorSettings()
    monkeypatch.setenv("SIMULATOR_REJECT_PERCENT", "0")
    monkeypatch.setenv("SIMULATOR_WARNING_MISMATCH_PERCENT", "100")
    monkeypatch.setenv("SIMULATOR_LAPSED_MEMBER_SERIAL", "0001")
    monkeypatch.setenv("SIMULATOR_ALREADY_MEMBER_SERIAL", "0002")  # the active serial's old name
    rules = SimulatorSettings().rules()
    assert (rules.warning_mismatch_percent, rules.lapsed_member_serial, rules.active_member_serial) == (
        100,
        "0001",
        "0002",
    )
    monkeypatch.setenv("SIMULATOR_ACTIVE_MEMBER_SERIAL", "0003")  # the new name wins
    assert SimulatorSettings().rules().active_member_serial == "0003"
    monkeypatch.setenv("SIMULATOR_ACTIVE_MEMBER_SERIAL", "0000")  # the not-found serial
    with pytest.raises(ValueError, match="must differ"):
        SimulatorSettings()
    monkeypatch.delenv("SIMULATOR_ACTIVE_MEMBER_SERIAL")
    monkeypatch.setenv("SIMULATOR_WARNING_MISMATCH_PERCENT", "101")
    with pytest.raises(ValueError, match="less than or equal to 100"):
        SimulatorSettings()
    monkeypatch.delenv("SIMULATOR_WARNING_MISMATCH_PERCENT")
    # The batch's transaction waits out the delay: kept below the roles' 60 s idle-in-transaction bound.
    monkeypatch.setenv("SIMULATOR_DELAY_MS", "60000")
    with pytest.raises(ValueError, match="less than or equal to 30000"):
        SimulatorSettings()
