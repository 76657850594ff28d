"""The year's summary counts each event once: a relay killed between publishing and marking its
rows sends them again with the same `ce_id`, and January's five invoices must not read as ten."""

from deploy.year import _distinct
from testkit.kafka import RecordedEvent


def _event(topic: str, ce_id: str, offset: int, source: str = "/muba/sponsorship") -> RecordedEvent:
    headers = {"ce_id": ce_id, "ce_source": source}
    return RecordedEvent(topic, "k", headers, b"{}", 0, offset)


def test_a_redelivered_event_counts_once_and_distinct_events_all_count() -> None:
    events = [
        _event("p.invoice-issued.v1", "a", 0),
        _event("p.invoice-issued.v1", "b", 1),
        _event("p.invoice-issued.v1", "a", 2),  # the relay's second send
        _event("p.payment-recorded.v1", "a", 0),  # another topic: another event
        _event("p.invoice-issued.v1", "a", 3, source="/muba/other"),  # another source
    ]
    assert [(e.topic, e.offset) for e in _distinct(events)] == [
        ("p.invoice-issued.v1", 0),
        ("p.invoice-issued.v1", 1),
        ("p.payment-recorded.v1", 0),
        ("p.invoice-issued.v1", 3),
    ]
