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


# --- the programme clock (issue 13) ------------------------------------------------------------

PROGRAMME_VARIABLES = (clock.EPOCH_VARIABLE, clock.ANCHOR_VARIABLE, clock.SPEED_VARIABLE, clock.SKEW_VARIABLE)


@pytest.fixture
def real_time(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for variable in PROGRAMME_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def fix_real_time(monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
    monkeypatch.setattr(clock, "real_now", lambda: at)


def test_unset_the_programme_clock_is_real_time(real_time: pytest.MonkeyPatch) -> None:
    assert clock.programme_time() is None and clock.speed() == 1.0
    before = datetime.now(UTC)
    stamped = clock.programme_now()
    assert before <= stamped <= datetime.now(UTC) and stamped.utcoffset() == timedelta(0)


def test_an_accelerated_clock_reads_epoch_at_the_anchor_and_runs_speed_times_faster(
    real_time: pytest.MonkeyPatch,
) -> None:
    real_time.setenv(clock.EPOCH_VARIABLE, "2027-01-01T00:00:00+07:00")
    real_time.setenv(clock.ANCHOR_VARIABLE, "2026-05-04T10:00:00Z")
    real_time.setenv(clock.SPEED_VARIABLE, "86400")  # a programme day per real second
    anchor = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    fix_real_time(real_time, anchor)
    assert clock.programme_now() == datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    assert clock.programme_today() == date(2027, 1, 1) == clock.today_in_jakarta()
    fix_real_time(real_time, anchor + timedelta(seconds=31.5))
    assert clock.programme_now() == datetime(2027, 2, 1, 5, 0, tzinfo=UTC)  # 31.5 days on
    assert clock.now() == clock.programme_now() and clock.PROGRAMME.now() == clock.programme_now()
    assert clock.real_now() == anchor + timedelta(seconds=31.5)  # real time stays real
    # The fault-injection skew is added on top, in real seconds, not scaled by the speed.
    real_time.setenv(clock.SKEW_VARIABLE, "-3600")
    assert clock.programme_now() == datetime(2027, 2, 1, 4, 0, tzinfo=UTC)


def test_two_processes_with_the_same_settings_read_the_same_programme_time(
    real_time: pytest.MonkeyPatch,
) -> None:
    settings = clock.ProgrammeTime(
        datetime(2027, 1, 1, tzinfo=clock.JAKARTA), datetime(2026, 5, 4, tzinfo=UTC), 3600.0
    )
    same = clock.ProgrammeTime(
        datetime(2026, 12, 31, 17, tzinfo=UTC), datetime(2026, 5, 4, 7, tzinfo=clock.JAKARTA), 3600.0
    )
    real = datetime(2026, 5, 4, 0, 0, 10, tzinfo=UTC)
    assert settings.at(real) == same.at(real) == datetime(2026, 12, 31, 17, tzinfo=UTC) + timedelta(hours=10)


@pytest.mark.parametrize(
    ("epoch", "anchor", "speed", "complaint"),
    [
        ("2027-01-01T00:00:00+07:00", "", "", "go together"),
        ("", "2026-05-04T10:00:00Z", "", "go together"),
        ("", "", "86400", "go together"),
        ("2027-01-01T00:00:00", "2026-05-04T10:00:00Z", "", "offset"),
        ("2027-01-01", "2026-05-04T10:00:00Z", "", "offset"),
        ("1 January", "2026-05-04T10:00:00Z", "", "ISO 8601"),
        ("2027-01-01T00:00:00+07:00", "2026-05-04T10:00:00Z", "fast", "must be a number"),
        ("2027-01-01T00:00:00+07:00", "2026-05-04T10:00:00Z", "0", "above 0"),
        ("2027-01-01T00:00:00+07:00", "2026-05-04T10:00:00Z", "-1", "above 0"),
        ("2027-01-01T00:00:00+07:00", "2026-05-04T10:00:00Z", "nan", "above 0"),
        ("2027-01-01T00:00:00+07:00", "2026-05-04T10:00:00Z", "1e9", "at most"),
    ],
)
def test_programme_settings_that_do_not_make_a_clock_are_refused_at_start(
    real_time: pytest.MonkeyPatch, epoch: str, anchor: str, speed: str, complaint: str
) -> None:
    for variable, value in zip(PROGRAMME_VARIABLES, (epoch, anchor, speed), strict=False):
        real_time.setenv(variable, value)
    with pytest.raises(ValueError, match=complaint):
        clock.check_skew()
    with pytest.raises(ValueError, match=complaint):
        clock.programme_now()


def test_an_accelerated_clock_says_so_once_in_the_log(
    real_time: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_time.setattr(clock, "_announced", set())
    real_time.setenv(clock.EPOCH_VARIABLE, "2027-01-01T00:00:00+07:00")
    real_time.setenv(clock.ANCHOR_VARIABLE, "2026-05-04T10:00:00Z")
    with caplog.at_level("WARNING", logger="shared.clock"):
        clock.check_skew()
        clock.programme_now()
        clock.programme_today()
    [record] = caplog.records
    assert record.getMessage() == "programme clock is not real time"
    assert record.__dict__["programme_speed"] == 1.0


def test_a_manual_clock_stands_still_until_set_or_advanced() -> None:
    manual = clock.ManualClock(datetime(2027, 1, 31, 23, 59, tzinfo=clock.JAKARTA))
    assert manual.now() == datetime(2027, 1, 31, 16, 59, tzinfo=UTC) == manual.now()
    assert manual.now().utcoffset() == timedelta(0)
    assert clock.today_of(manual) == date(2027, 1, 31)
    assert manual.advance(timedelta(minutes=1)) == datetime(2027, 1, 31, 17, 0, tzinfo=UTC)
    assert clock.today_of(manual) == date(2027, 2, 1)  # midnight in Jakarta, 17:00 UTC
    manual.set(datetime(2028, 2, 29, 8, tzinfo=clock.JAKARTA))
    assert clock.today_of(manual) == date(2028, 2, 29)
    with pytest.raises(ValueError, match="timezone-aware"):
        manual.set(datetime(2028, 2, 29, 8))
