"""The checker (deploy/checker.py) on records made by hand: it must see a loss, a duplicate, a
wrong outcome and a message sent twice, and must not count copies of one event (at-least-once)
or a provider retry under the same idempotency key."""

import json
import uuid
from typing import Any

from deploy.checker import Published, Record, Sent, TopicTail, check
from deploy.fuzz import DEAD_LETTERED, NOTHING, REGISTERED, REJECTED, Case, Owed
from shared import contracts, topics

PREFIX = "t."


def case(
    n: int, owed: Owed, identity: tuple[str, str] | None = None, body: bytes | None = None, **kw: Any
) -> Case:
    return Case(
        n=n,
        kind=kw.pop("kind", "valid"),
        topic=kw.pop("topic", contracts.REGISTRATION_SUBMITTED.topic),
        key=None,
        headers=kw.pop("headers", ()),
        body=body if body is not None else f'{{"n": {n}}}'.encode(),
        owed=owed,
        identity=identity,
        **kw,
    )


class Tail(TopicTail):
    def __init__(self) -> None:
        super().__init__("unused:9092", PREFIX)
        self.offsets: dict[str, int] = {}

    def add(
        self, topic: str, payload: Any, *, ce_id: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        offset = self.offsets.get(topic, 0)
        self.offsets[topic] = offset + 1
        h = {"ce_id": ce_id or str(uuid.uuid4()), **(headers or {})}
        self.records[topic].append(Record(topic, 0, offset, None, h, json.dumps(payload).encode()))

    def letter(self, of: Published, position: int = 0) -> None:
        partition, offset = of.positions[position]
        self.add(
            topics.dead_letter_topic(of.case.topic),
            None,
            headers={
                "dlq_original_topic": of.topic,
                "dlq_original_partition": str(partition),
                "dlq_original_offset": str(offset),
                "dlq_id": f"{of.topic}/{partition}/{offset}",
                "dlq_reason": "NOT_JSON",
            },
        )


def published(*cases: Case) -> list[Published]:
    return [Published(c, PREFIX + c.topic, [(0, 100 + c.n)]) for c in cases]


def registered(
    tail: Tail, identity: tuple[str, str], worker_id: str | None = None, ce_id: str | None = None
) -> str:
    worker_id = worker_id or str(uuid.uuid4())
    body = {
        "worker_id": worker_id,
        "source": identity[0],
        "submission_id": identity[1],
        "kecamatan_code": "01",
    }
    tail.add(contracts.WORKER_REGISTERED.topic, body, ce_id=ce_id)
    tail.add(contracts.WORKER_WAITLISTED.topic, {"worker_id": worker_id, "phone": "+6281200000001"})
    return worker_id


def test_every_outcome_once_is_clean_and_copies_of_one_event_count_once() -> None:
    tail = Tail()
    a = case(1, Owed.of(REGISTERED), ("p", "1"))
    r = case(2, Owed.of(REJECTED, codes={"NIK_FORMAT"}), ("p", "2"))
    rep = case(3, Owed.of(NOTHING), ("p", "1"), repeat_of=1, kind="repeat")
    bad1 = case(4, Owed.of(DEAD_LETTERED), body=b"null", kind="unreadable")
    bad2 = case(5, Owed.of(DEAD_LETTERED), body=b"null", kind="unreadable")
    pub = published(a, r, rep, bad1, bad2)
    registered(tail, ("p", "1"), worker_id="w1", ce_id="e1")
    tail.add(
        contracts.WORKER_REGISTERED.topic,
        tail.records[contracts.WORKER_REGISTERED.topic][0].payload(),
        ce_id="e1",
    )  # a copy
    tail.add(
        contracts.REGISTRATION_REJECTED.topic,
        {"source": "p", "submission_id": "2", "reasons": [{"code": "NIK_FORMAT"}]},
    )
    tail.letter(pub[3])  # identical content sent twice: one message, one letter
    verdict = check(tail, pub, seed=7)
    assert verdict.ok, verdict.explain()
    assert verdict.figures["workers_registered"] == 1 and verdict.figures["final_waitlisted"] == 1


def test_a_loss_a_duplicate_and_a_wrong_outcome_are_seen() -> None:
    tail = Tail()
    lost = case(1, Owed.of(REGISTERED), ("p", "1"))
    twice = case(2, Owed.of(REGISTERED), ("p", "2"))
    wrong_codes = case(3, Owed.of(REJECTED, codes={"NIK_FORMAT"}), ("p", "3"))
    garbage = case(4, Owed.of(DEAD_LETTERED), body=b"\xff", kind="unreadable")
    pub = published(lost, twice, wrong_codes, garbage)
    registered(tail, ("p", "2"))
    registered(tail, ("p", "2"))  # processed twice: two workers for one submission
    tail.add(
        contracts.REGISTRATION_REJECTED.topic,
        {"source": "p", "submission_id": "3", "reasons": [{"code": "SEX_INVALID"}]},
    )
    verdict = check(tail, pub, seed=7)
    assert len(verdict.lost) == 2, verdict.explain()  # the registration and the dead letter
    assert any("case #1 " in x and "seed=7" in x for x in verdict.lost)
    assert any("case #4 " in x for x in verdict.lost)
    assert any("case #2 " in x for x in verdict.duplicated)
    assert any("case #3 " in x and "SEX_INVALID" in x for x in verdict.wrong)


def test_an_outcome_nobody_was_owed_is_wrong() -> None:
    tail = Tail()
    registered(tail, ("p", "never-sent"))
    verdict = check(tail, [], seed=1)
    assert any("never submitted" in x for x in verdict.wrong)


def test_enrollments_and_commitments_are_reconciled() -> None:
    tail = Tail()
    tail.add(
        contracts.COMMITMENT_ACCEPTED.topic,
        {
            "commitment_id": "c",
            "slots": 1,
            "budget_idr": 100_000,
            "months": 1,
            "package": "JKK_JKM",
            "whole_regency": True,
            "kecamatan_codes": [],
        },
    )
    pub = published(
        case(
            1,
            Owed.of("accepted"),
            ("commitment", "c"),
            topic=contracts.COMMITMENT_SUBMITTED.topic,
            kind="commitment",
        ),
        case(2, Owed.of(REGISTERED), ("p", "1")),
        case(3, Owed.of(REGISTERED), ("p", "2")),
    )
    for i, wid in enumerate(("w1", "w2")):
        tail.add(
            contracts.WORKER_REGISTERED.topic, {"worker_id": wid, "source": "p", "submission_id": str(i + 1)}
        )
        tail.add(
            contracts.SPONSOR_MATCHED.topic,
            {"worker_id": wid, "enrollment_id": f"e{i}", "commitment_id": "c", "contribution_idr": 16_800},
        )
        tail.add(contracts.ENROLLMENT_REQUESTED.topic, {"enrollment_id": f"e{i}"})
        tail.add(contracts.ENROLLMENT_CONFIRMED.topic, {"enrollment_id": f"e{i}"})
    tail.add(contracts.ENROLLMENT_COMPLETED.topic, {"enrollment_id": "e0", "phone": "+6281200000001"})
    verdict = check(tail, pub, seed=1)
    assert any("over-committed: 2/1 slots" in x for x in verdict.wrong), verdict.explain()
    assert any("e1 confirmed, completed 0 times" in x for x in verdict.lost)


def test_the_gateway_must_send_each_owed_message_under_one_key() -> None:
    tail = Tail()
    pub = published(case(1, Owed.of(REGISTERED), ("p", "1")), case(2, Owed.of(REGISTERED), ("p", "2")))
    registered(tail, ("p", "1"))
    tail.add(contracts.WORKER_REGISTERED.topic, {"worker_id": "w2", "source": "p", "submission_id": "2"})
    tail.add(contracts.WORKER_WAITLISTED.topic, {"worker_id": "w2", "phone": "+6281200000002"})
    gateway = [
        Sent("k1", "sms", "+6281200000001", "worker_waitlisted"),
        Sent("k1", "sms", "+6281200000001", "worker_waitlisted"),  # a retry the provider drops
        Sent("k2", "sms", "+6281200000002", "worker_waitlisted"),
        Sent("k3", "sms", "+6281200000002", "worker_waitlisted"),  # sent twice
    ]
    verdict = check(tail, pub, seed=1, gateway=gateway)
    assert verdict.figures["gateway_resent_same_key"] == 1
    assert [x for x in verdict.duplicated if "gateway" in x] and not verdict.lost, verdict.explain()
    verdict = check(tail, pub, seed=1, gateway=gateway[:1])
    assert any("+62812*** sent 0 times" in x for x in verdict.lost), verdict.explain()
