"""The consume path's pure parts: reading any record without failing, what an event is known by,
and which failures are the database's (retry the batch) rather than the message's (isolate it)."""

from typing import Any

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from shared import contracts, topics
from shared.consumer import Incoming, PoisonMessage, check_version, event_identity, is_transient
from shared.envelope import REPLAY_HEADER, parse_envelope


def record(
    key: bytes | None = None,
    headers: list[tuple[str, bytes | None]] | None = None,
    value: bytes = b"{}",
    topic: str = "registry.registration-submitted.v1",
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=tuple(headers or ()),
    )


def ce(source: str, event_id: str) -> list[tuple[str, bytes | None]]:
    return [("ce_id", event_id.encode()), ("ce_source", source.encode()), ("ce_type", b"x.v1")]


def test_any_record_can_be_read_and_keeps_its_bytes() -> None:
    headers = [("a", b"\xff\xfe"), ("a", None), ("nul", b"x\x00y"), ("ce_id", b"\xc3\x28")]
    message = Incoming.from_record(record(b"\x00\xff", headers, b"\x00 not json"))
    assert message.raw_key == b"\x00\xff" and message.raw_headers == tuple(headers)
    assert message.headers["a"] == "\ufffd\ufffd"  # lenient view; the null value is left out
    assert message.envelope is None  # a ce_id alone is not an envelope
    assert len(message.event_id) == 64


def test_a_cloudevent_is_known_by_its_source_and_id() -> None:
    a1 = Incoming.from_record(record(headers=ce("/partner/a", "1")))
    b1 = Incoming.from_record(record(headers=ce("/partner/b", "1")))
    a1_again = Incoming.from_record(record(headers=ce("/partner/a", "1"), value=b'{"other": 1}'))
    assert a1.event_id != b1.event_id
    assert a1.event_id == a1_again.event_id  # the id names the event, whatever the body


def test_ids_of_any_size_or_content_give_a_fixed_size_key() -> None:
    huge = Incoming.from_record(record(headers=ce("/partner/a", "x" * 10_000)))
    nul = Incoming.from_record(record(headers=ce("/partner/a", "a\x00b")))
    assert len(huge.event_id) == len(nul.event_id) == 64
    assert "\x00" not in nul.event_id and "\x00" not in nul.wire_id
    assert huge.correlation_id == huge.event_id  # a 10 kB id is not carried onward


def test_a_plain_json_message_is_known_by_its_content_not_its_position() -> None:
    first = Incoming.from_record(record(value=b'{"submission_id": "1"}'))
    moved = Incoming.from_record(record(value=b'{"submission_id": "1"}'))
    other = Incoming.from_record(record(value=b'{"submission_id": "2"}'))
    assert first.event_id == moved.event_id != other.event_id


def test_a_replay_is_new_to_the_inbox_and_the_same_replay_twice_is_one() -> None:
    body = b'{"n": 1}'
    envelope = parse_envelope({"ce_id": "1", "ce_source": "/a", "ce_type": "x.v1"})
    original = event_identity(envelope, body)
    replayed = Incoming.from_record(record(headers=[*ce("/a", "1"), (REPLAY_HEADER, b"letter-1")]))
    again = Incoming.from_record(record(headers=[*ce("/a", "1"), (REPLAY_HEADER, b"letter-1")]))
    assert replayed.event_id != original
    assert replayed.event_id == again.event_id == event_identity(envelope, body, "letter-1")


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (asyncpg.exceptions.ReadOnlySQLTransactionError("read-only"), True),
        (asyncpg.exceptions.InvalidPasswordError("password authentication failed"), True),
        (asyncpg.exceptions.InsufficientPrivilegeError("permission denied"), True),
        (asyncpg.exceptions.UndefinedTableError("relation does not exist"), True),
        (asyncpg.exceptions.QueryCanceledError("statement timeout"), True),
        (asyncpg.exceptions.IdleInTransactionSessionTimeoutError("idle"), True),
        (asyncpg.exceptions.DeadlockDetectedError("deadlock"), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("closed"), True),
        (ConnectionResetError(), True),
        (asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence 0x00"), False),
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), False),
        (asyncpg.exceptions.CheckViolationError("check"), False),
        (asyncpg.exceptions.ProgramLimitExceededError("index row size exceeds btree maximum"), False),
        (ValueError("a bug"), False),
        (KeyError("a bug"), False),
    ],
)
def test_which_failures_are_the_databases(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_a_replay_is_new_only_to_the_consumer_that_dead_lettered_it() -> None:
    from shared.envelope import REPLAY_FOR_HEADER

    original = Incoming.from_record(record(headers=ce("/a", "1")))
    replay = Incoming.from_record(
        record(headers=[*ce("/a", "1"), (REPLAY_HEADER, b"letter-1"), (REPLAY_FOR_HEADER, b"group-a")])
    )
    assert replay.for_consumer("group-a").event_id != original.event_id
    assert replay.for_consumer("group-b").event_id == original.event_id  # it processed the original


def _ce(event_type: str) -> list[tuple[str, bytes | None]]:
    return [
        ("ce_id", b"e-1"),
        ("ce_source", b"/partner/x"),
        ("ce_type", event_type.encode()),
        ("ce_specversion", b"1.0"),
    ]


@pytest.mark.parametrize("prefix", ["", "t1234abcd."])
def test_a_v2_event_on_a_partners_v1_intake_is_refused(prefix: str) -> None:
    """The version checked is the contract's, not read from the topic's name: the fault campaign
    once found v2 events registered when the check looked for it at the intake topic's end."""
    import dataclasses

    from shared.consumer import PoisonMessage, check_version

    topic = prefix + topics.intake_topic("desa-online")
    v2 = dataclasses.replace(
        record(headers=_ce("id.go.mubakab.disnaker.registration-submitted.v2")), topic=topic
    )
    with pytest.raises(PoisonMessage, match=r"version 2"):
        check_version(Incoming.from_record(v2), contracts.REGISTRATION_SUBMITTED)
    v1 = dataclasses.replace(record(headers=_ce(contracts.REGISTRATION_SUBMITTED.event_type)), topic=topic)
    check_version(Incoming.from_record(v1), contracts.REGISTRATION_SUBMITTED)  # its own version passes


def test_the_partner_is_part_of_a_message_on_an_intake() -> None:
    """Two partners' byte-identical messages (same CloudEvents id) are two messages: one partner
    cannot make the inbox ignore another's by copying it."""
    import dataclasses

    same = record(headers=_ce("id.go.mubakab.disnaker.registration-submitted.v1"), value=b'{"a": 1}')
    a = Incoming.from_record(dataclasses.replace(same, topic="registry.registration-submitted.v1.desa-a"))
    b = Incoming.from_record(dataclasses.replace(same, topic="registry.registration-submitted.v1.desa-b"))
    again = Incoming.from_record(dataclasses.replace(same, topic="registry.registration-submitted.v1.desa-a"))
    assert a.event_id != b.event_id
    assert a.event_id == again.event_id


@pytest.mark.parametrize("contract", contracts.CONTRACTS, ids=lambda c: c.topic)
def test_an_event_of_another_version_than_its_contract_is_not_read(contract: contracts.Contract[Any]) -> None:
    def typed(event_type: str) -> Incoming:
        headers = [*ce("/partner/a", "1")[:2], ("ce_type", event_type.encode()), ("ce_specversion", b"1.0")]
        return Incoming.from_record(record(headers=headers, topic="t1." + contract.topic))

    check_version(typed(contract.event_type), contract)  # the contract's own version: fine
    check_version(typed("com.partner.its-own-name"), contract)  # no version named: nothing to check
    other = contract.version + 1
    with pytest.raises(PoisonMessage) as caught:
        check_version(
            typed(contract.event_type.removesuffix(f".v{contract.version}") + f".v{other}"), contract
        )
    assert caught.value.reason == "UNKNOWN_VERSION" and f"version {contract.version}" in caught.value.detail
