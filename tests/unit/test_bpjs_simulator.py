"""The simulated BPJS side's decisions: pure rules, no Kafka."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from shared import contracts
from shared.envelope import event_type, parse_envelope
from shared.events.bpjs import EnrollmentConfirmed, EnrollmentRejected, EnrollmentRequested
from simulators.bpjs.settings import SimulatorSettings
from simulators.bpjs.simulator import (
    ALREADY_MEMBER,
    DATA_MISMATCH,
    NAMESPACE,
    NIK_NOT_FOUND,
    SOURCE,
    Rules,
    answer_id,
    answer_message,
    coverage_end,
    decide,
    kpj_number,
    rejection_score,
)
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


def test_same_request_same_answer_and_same_event_id() -> None:
    first, again = decide(request("enr-7")), decide(request("enr-7"))
    assert first == again
    assert answer_message(first, "corr-1") == answer_message(again, "corr-1")
    assert answer_id("enr-7") == str(uuid.uuid5(NAMESPACE, "bpjs-answer:enr-7"))
    assert answer_id("enr-7") != answer_id("enr-8")


def test_an_answer_depends_on_the_enrollment_id_not_on_when_it_is_made() -> None:
    """Redelivered hours later (the simulator restarted): still the identical bytes."""
    assert (
        answer_message(decide(request("enr-9")), "c").body
        == answer_message(decide(request("enr-9")), "c").body
    )
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


def test_serial_9998_is_already_a_member() -> None:
    answer = decide(request(serial=9998))
    assert isinstance(answer, EnrollmentRejected)
    assert answer.reason_code == ALREADY_MEMBER
    assert "sudah terdaftar" in answer.reason_message


@pytest.mark.parametrize("nik", ["160601520890000", "16060152089000031", "16060152089O0003", ""])
def test_a_nik_that_is_not_16_digits_is_not_found(nik: str) -> None:
    answer = decide(request(nik=nik))
    assert isinstance(answer, EnrollmentRejected)
    assert answer.reason_code == NIK_NOT_FOUND


def test_other_serials_are_confirmed() -> None:
    for serial in (1, 9, 999, 9000, 9997):
        assert isinstance(decide(request(serial=serial)), EnrollmentConfirmed)


def test_the_serials_are_configurable() -> None:
    rules = Rules(nik_not_found_serial="0001", already_member_serial="0002")
    assert decide(request(serial=1), rules).reason_code == NIK_NOT_FOUND  # type: ignore[union-attr]
    assert decide(request(serial=2), rules).reason_code == ALREADY_MEMBER  # type: ignore[union-attr]
    assert isinstance(decide(request(serial=9999), rules), EnrollmentConfirmed)


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
    answer = decide(request(serial=9998), Rules(reject_percent=100))
    assert isinstance(answer, EnrollmentRejected)
    assert answer.reason_code == ALREADY_MEMBER


# --- the message ----------------------------------------------------------------------------------


def test_a_confirmation_message_carries_cloudevents_headers_and_the_models_json() -> None:
    answer = decide(request("enr-3"))
    message = answer_message(answer, "corr-abc")
    assert message.topic == contracts.ENROLLMENT_CONFIRMED.topic
    assert message.key == "wrk-enr-3"
    envelope = parse_envelope(message.headers)
    assert envelope is not None
    assert envelope.id == answer_id("enr-3")
    assert envelope.type == event_type("enrollment-confirmed.v1")
    assert envelope.source == SOURCE == "/bpjs-ketenagakerjaan/kc-musi-banyuasin"
    assert envelope.correlation_id == "corr-abc"
    assert envelope.subject == "wrk-enr-3"
    assert envelope.time == REQUESTED_AT
    assert message.headers["ce_specversion"] == "1.0"
    assert EnrollmentConfirmed.model_validate_json(message.body) == answer


def test_a_rejection_message_goes_to_the_rejected_topic() -> None:
    message = answer_message(decide(request("enr-4", serial=9999)), "corr-x")
    assert message.topic == contracts.ENROLLMENT_REJECTED.topic
    assert message.headers["ce_type"] == event_type("enrollment-rejected.v1")
    assert message.headers["ce_id"] == answer_id("enr-4")
    body = EnrollmentRejected.model_validate_json(message.body)
    assert body.reason_code == NIK_NOT_FOUND
    assert make_nik("01", date(1990, 8, 12), "P", 9999).encode() not in message.body


def test_settings_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SIMULATOR_DELAY_MS",
        "SIMULATOR_REJECT_PERCENT",
        "BPJS_SIMULATOR_HTTP_PORT",
        "TOPIC_PREFIX",
    ):
        monkeypatch.delenv(name, raising=False)
    defaults = SimulatorSettings()
    assert (defaults.http_port, defaults.delay_ms, defaults.reject_percent, defaults.kpj_digits) == (
        8004,
        0,
        0,
        11,
    )
    assert Rules.from_settings(defaults) == Rules()
    monkeypatch.setenv("SIMULATOR_DELAY_MS", "250")
    monkeypatch.setenv("SIMULATOR_REJECT_PERCENT", "12.5")
    monkeypatch.setenv("SIMULATOR_NIK_NOT_FOUND_SERIAL", "0000")
    monkeypatch.setenv("TOPIC_PREFIX", "t1.")
    configured = SimulatorSettings()
    rules = Rules.from_settings(configured)
    assert rules.processing_time == timedelta(milliseconds=250)
    assert (rules.reject_percent, rules.nik_not_found_serial) == (12.5, "0000")
    assert configured.topic(contracts.ENROLLMENT_REQUESTED.topic) == "t1.bpjs.enrollment-requested.v1"
    monkeypatch.setenv("SIMULATOR_REJECT_PERCENT", "101")
    with pytest.raises(ValueError, match="less than or equal to 100"):
        SimulatorSettings()
