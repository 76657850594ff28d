"""shared.clock: one "now" in UTC and one "today in Jakarta", with a fault-injection skew."""

from datetime import UTC, date, datetime, timedelta

import pytest

from shared import clock, format


def test_now_is_aware_utc_and_follows_the_real_clock_without_skew(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.SKEW_VARIABLE, raising=False)
    before = datetime.now(UTC)
    stamped = clock.now()
    after = datetime.now(UTC)
    assert stamped.utcoffset() == timedelta(0)
    assert before <= stamped <= after
    assert clock.skew() == timedelta(0)


@pytest.mark.parametrize(("raw", "seconds"), [("-3600", -3600.0), ("90.5", 90.5), (" 0 ", 0.0), ("", 0.0)])
def test_the_skew_shifts_now_by_the_given_seconds(
    monkeypatch: pytest.MonkeyPatch, raw: str, seconds: float
) -> None:
    monkeypatch.setenv(clock.SKEW_VARIABLE, raw)
    before = datetime.now(UTC)
    stamped = clock.now()
    after = datetime.now(UTC)
    shift = timedelta(seconds=seconds)
    assert before + shift <= stamped <= after + shift
    assert clock.skew() == shift


def test_the_skew_is_read_on_every_call_so_a_running_process_can_be_stepped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(clock.SKEW_VARIABLE, "0")
    first = clock.now()
    monkeypatch.setenv(clock.SKEW_VARIABLE, "-3600")  # an NTP step back by an hour
    stepped = clock.now()
    assert timedelta(minutes=59) < first - stepped < timedelta(minutes=61)


@pytest.mark.parametrize("raw", ["an hour", "nan", "inf", "-1e12", "3600s"])
def test_a_skew_that_is_not_a_sane_number_is_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(clock.SKEW_VARIABLE, raw)
    with pytest.raises(ValueError, match=clock.SKEW_VARIABLE):
        clock.check_skew()
    with pytest.raises(ValueError, match=clock.SKEW_VARIABLE):
        clock.now()


def test_check_skew_validates_and_a_skewed_clock_says_so_once_per_offset(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(clock, "_announced", set())
    monkeypatch.delenv(clock.SKEW_VARIABLE, raising=False)
    with caplog.at_level("WARNING", logger="shared.clock"):
        assert clock.check_skew() == timedelta(0)
        clock.now()
        assert not caplog.records
        monkeypatch.setenv(clock.SKEW_VARIABLE, "-3600")
        assert clock.check_skew() == timedelta(hours=-1)
        clock.now()
        clock.now()
        monkeypatch.setenv(clock.SKEW_VARIABLE, "-7200")  # stepped again
        clock.today_in_jakarta()
    assert [(r.getMessage(), r.__dict__["clock_skew_s"]) for r in caplog.records] == [
        ("clock skewed for fault injection", -3600.0),
        ("clock skewed for fault injection", -7200.0),
    ]


def test_today_in_jakarta_is_the_utc_plus_7_date_of_the_skewed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pick a skew that lands the clock on 2026-12-31 23:30 UTC: already 1 January 2027 in Jakarta.
    target = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    monkeypatch.setenv(clock.SKEW_VARIABLE, str((target - datetime.now(UTC)).total_seconds()))
    assert clock.today_in_jakarta() == date(2027, 1, 1)
    assert format.today_in_jakarta() == date(2027, 1, 1)  # the old name delegates to the clock
    assert clock.now().date() == date(2026, 12, 31)


def test_format_keeps_its_names() -> None:
    assert format.JAKARTA is clock.JAKARTA
    assert format.jakarta_date(datetime(2026, 12, 31, 17, 0, tzinfo=UTC)) == date(2027, 1, 1)
