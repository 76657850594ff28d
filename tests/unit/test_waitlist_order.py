"""The waitlist's order (services/sponsorship/domain/matching.py waitlist_position): the registry's number
first, host clocks only among workers the registry did not number, arrival here last."""

from datetime import UTC, datetime, timedelta

from services.sponsorship.domain import waitlist_position

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def test_the_registry_number_wins_over_a_skewed_clock() -> None:
    # Registered second by a host an hour behind: stamped earlier, still served second.
    first = waitlist_position(1, T0, seq=7)
    second_on_a_slow_host = waitlist_position(2, T0 - timedelta(hours=1), seq=3)
    assert sorted([second_on_a_slow_host, first]) == [first, second_on_a_slow_host]


def test_workers_without_a_number_come_first_by_registered_at_then_by_arrival() -> None:
    numbered = waitlist_position(1, T0 - timedelta(days=1), seq=1)
    old_late = waitlist_position(None, T0, seq=2)
    old_early = waitlist_position(None, T0 - timedelta(minutes=5), seq=9)
    old_same_time_later_arrival = waitlist_position(None, T0, seq=5)
    ordered = sorted([numbered, old_same_time_later_arrival, old_late, old_early])
    assert ordered == [old_early, old_late, old_same_time_later_arrival, numbered]


def test_the_order_is_total_no_two_workers_tie() -> None:
    positions = {
        waitlist_position(n, T0 + timedelta(seconds=s), seq)
        for seq, (n, s) in enumerate([(None, 0), (None, 0), (3, 0), (3, 0), (1, 5)])
    }
    assert len(positions) == 5
