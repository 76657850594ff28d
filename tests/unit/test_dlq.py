"""Dead letters read and replayed without Kafka: headers kept byte for byte, ids that do not
change between runs, the replay order and the copies, and a `list` that nothing can break."""

import json

from aiokafka import TopicPartition

from shared.dlq import DeadLetter, replay_plan, shown_text
from shared.envelope import REPLAY_FOR_HEADER, REPLAY_HEADER

DLQ = "registry.registration-submitted.v1.dlq"
ORIGINAL = "registry.registration-submitted.v1"


def letter(
    offset: int,
    *,
    partition: int = 0,
    original_partition: int = 0,
    original_offset: int | None = None,
    dlq_id: str | None = "letter",
    original: tuple[tuple[str, bytes | None], ...] = (),
    key: bytes | None = b"worker-1",
    extra: dict[str, str] | None = None,
) -> DeadLetter:
    ours = {
        "dlq_reason": "HANDLER_FAILED",
        "dlq_error": "RuntimeError: a bug",
        "dlq_original_topic": ORIGINAL,
        "dlq_original_partition": str(original_partition),
        "dlq_original_offset": str(offset if original_offset is None else original_offset),
        "dlq_original_event_id": "evt-1",
        "dlq_consumer": "registry",
        **({"dlq_id": f"{dlq_id}-{original_partition}-{original_offset or offset}"} if dlq_id else {}),
        **(extra or {}),
    }
    headers = original + tuple((name, value.encode()) for name, value in ours.items())
    return DeadLetter(DLQ, partition, offset, key, headers, b'{"n": 1}')


def test_replay_keeps_the_original_headers_byte_for_byte_and_in_order() -> None:
    original = (
        ("ce_id", b"partner-7"),
        ("trace", b"\xff\xfe not utf-8"),
        ("empty", None),
        ("hop", b"a"),
        (REPLAY_HEADER, b"an-earlier-replay"),
        ("hop", b"b"),
        ("nul", b"x\x00y"),
    )
    replayed = letter(5, original=original).replay_headers()
    assert replayed == [
        ("ce_id", b"partner-7"),
        ("trace", b"\xff\xfe not utf-8"),
        ("empty", None),
        ("hop", b"a"),
        ("hop", b"b"),
        ("nul", b"x\x00y"),
        (REPLAY_HEADER, b"letter-0-5"),
        (REPLAY_FOR_HEADER, b"registry"),  # only the consumer that dead-lettered it sees it anew
    ]
    assert not any(name.startswith("dlq_") for name, _ in replayed)


def test_a_letter_replays_to_the_same_identity_every_time() -> None:
    assert letter(5).letter_id == letter(5).letter_id == "letter-0-5"
    without = letter(5, dlq_id=None)
    again = letter(5, dlq_id=None)
    assert without.letter_id == again.letter_id  # derived from where it sits
    assert without.letter_id != letter(6, dlq_id=None).letter_id
    assert without.letter_id != DeadLetter(DLQ, 1, 5, None, (), b"").letter_id
    assert without.replay_headers()[-2] == (REPLAY_HEADER, without.letter_id.encode())


def test_a_header_named_like_ours_by_a_partner_loses_to_ours() -> None:
    spoofed = letter(3, original=(("dlq_id", b"spoofed"), ("dlq_original_topic", b"elsewhere")))
    assert spoofed.letter_id == "letter-0-3"
    assert spoofed.original_topic == ORIGINAL
    assert ("dlq_id", b"spoofed") not in spoofed.replay_headers()


def tp(partition: int) -> TopicPartition:
    return TopicPartition(DLQ, partition)


def test_the_plan_keeps_each_dlq_partition_in_order_and_merges_by_original_position() -> None:
    # Original partition 0 had offsets 10..14; its letters sit on two .dlq partitions (two keys).
    p0 = [letter(0, partition=0, original_offset=10), letter(1, partition=0, original_offset=13)]
    p1 = [
        letter(0, partition=1, original_offset=11, key=b"w2"),
        letter(1, partition=1, original_offset=12, key=b"w2"),
        letter(2, partition=1, original_offset=14, key=b"w2"),
    ]
    plan = replay_plan({tp(0): p0, tp(1): p1}, replayed_ids=())
    assert [s.letter.original_offset for s in plan] == [10, 11, 12, 13, 14]
    assert all(s.send for s in plan)


def test_copies_are_replayed_once_even_when_the_first_copy_was_replayed_in_an_earlier_run() -> None:
    first = letter(0, original_offset=10)
    copy_later = letter(3, original_offset=10)  # the outbox published it again after a crash
    other = letter(1, original_offset=11)
    plan = replay_plan({tp(0): [first, other, copy_later]}, replayed_ids=())
    assert [(s.letter.offset, s.send) for s in plan] == [(0, True), (1, True), (3, False)]
    # The first copy sits before the committed position: replayed by an earlier run.
    plan = replay_plan({tp(0): [other, copy_later]}, replayed_ids={first.letter_id})
    assert [(s.letter.offset, s.send) for s in plan] == [(1, True), (3, False)]


def test_a_plan_never_reorders_a_dlq_partition_even_when_its_letters_are_out_of_original_order() -> None:
    # Committing offset + 1 after each send must never pass a letter that was not sent.
    p0 = [letter(0, original_offset=20), letter(1, original_offset=5), letter(2, original_offset=7)]
    plan = replay_plan({tp(0): p0}, replayed_ids=())
    assert [s.letter.offset for s in plan] == [0, 1, 2]


def test_list_survives_any_bytes_and_masks_personal_data() -> None:
    nik = "1606014501900001"
    odd = DeadLetter(
        DLQ,
        2,
        9,
        f"{nik}\x00tail-{'x' * 200}".encode(),
        (
            ("bin", b"\xff\xfe"),
            ("null", None),
            ("dlq_error", f"nik {nik} phone 081234567890 bad".encode()),
            ("dlq_original_event_id", f"evt-{nik}".encode()),
            ("dlq_reason", b"NOT_JSON\xff"),
        ),
        None,
    )
    shown = odd.summary(replayed=False)
    text = json.dumps(shown, ensure_ascii=False)
    assert nik not in text and "081234567890" not in text
    assert shown["key"].startswith("160601********01\\x00tail-")
    assert len(shown["key"]) == 60 and shown["key"].endswith("…")
    assert shown["original_event_id"] == "evt-160601********01"
    assert shown["reason"] == "NOT_JSON\ufffd"
    assert shown["bytes"] == 0 and shown["replayed"] is False
    assert DeadLetter(DLQ, 0, 0, None, (), b"").summary()["key"] is None


def test_ids_are_shown_with_a_nik_in_them_masked_but_hashes_and_uuids_intact() -> None:
    assert shown_text("reg-1606014501900001", 80) == "reg-160601********01"
    assert shown_text("1606014501900001.v2", 80) == "160601********01.v2"
    sha = "18d2bc9235f60eb8ee7c880453b153213438c3de180922123456789032c9bb26"
    assert shown_text(sha, 80) == sha
    assert shown_text("1e05e906-0c63-4fb1-9013-360754650a4c", 80) == "1e05e906-0c63-4fb1-9013-360754650a4c"


def test_shown_text_masks_before_it_cuts() -> None:
    # Cut first, a NIK loses its 16th digit and is no longer recognised as one.
    assert "1606014501" not in (shown_text("id " + "1606014501900001", 18) or "")
