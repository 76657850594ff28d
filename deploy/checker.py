"""An independent checker: holds the system to what it owes each message, from what clients see.

It reads only the topics (the outcome events and every `.dlq`) and the gateway stand-in's
record of what was actually sent, never the services' tables: a count that a unique constraint
forces proves nothing. Every message published through `publish_cases` is accounted for:

- a registration by (source, submission_id): registered, rejected with exactly the owed reasons,
  or dead-lettered (found by the partition/offset the producer got back when publishing);
- a commitment by its id: accepted or rejected; a BPJS answer nobody asked for: dead-lettered;
- every registered worker: matched or waitlisted; every enrollment requested once, answered by
  BPJS once, completed or failed once; no worker enrolled twice;
- every commitment: live enrollments <= slots, their contributions <= budget, released on BPJS
  rejections (no worker left waiting while a commitment covering them has room);
- the gateway: each message a worker, company or the office is owed, sent under exactly one
  idempotency key (the same key twice is a retry the provider drops, and is only counted).

Totals: `lost` (owed, never happened), `duplicated` (happened twice: two distinct events for one
fact, not two copies of one event id, which at-least-once publishing may produce), `wrong`
(an outcome that differs from what is owed, or one that nobody was owed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from deploy.fuzz import ACCEPTED, DEAD_LETTERED, REGISTERED, REJECTED, Case
from shared import contracts, topics
from shared.kafka_admin import ensure_topic
from shared.kafka_security import KafkaConnection, kafka_producer

# What the checker reads (besides every `.dlq` under the prefix).
OUTCOME_TOPICS = (
    contracts.WORKER_REGISTERED.topic,
    contracts.REGISTRATION_REJECTED.topic,
    contracts.COMMITMENT_ACCEPTED.topic,
    contracts.COMMITMENT_REJECTED.topic,
    contracts.SPONSOR_MATCHED.topic,
    contracts.WORKER_WAITLISTED.topic,
    contracts.ENROLLMENT_REQUESTED.topic,
    contracts.ENROLLMENT_CONFIRMED.topic,
    contracts.ENROLLMENT_REJECTED.topic,
    contracts.ENROLLMENT_COMPLETED.topic,
    contracts.ENROLLMENT_FAILED.topic,
)

# The programme's tariff, written down again here (not imported) so that the checker can tell
# whether a waiting worker would have fitted a commitment's remaining budget: the default table
# (services/sponsorship/tariffs/bpu.json) without PP 50/2025, so never less than is charged.
INCOME_FLOOR_IDR = 1_000_000
JKM_FLAT_IDR = 6_800
JKK_BAND_WIDTH_IDR = 500_000  # each band's nominal income is its upper bound...
JKK_TOP_BAND = (20_500_000, 207_000)  # ...up to the top band: above Rp20,500,000, JKK Rp207,000


def monthly_cost(package: str, income: int | None) -> int:
    base = max(income or 0, INCOME_FLOOR_IDR)
    if base > JKK_TOP_BAND[0]:
        jkk = JKK_TOP_BAND[1]
    else:
        jkk = -(-base // JKK_BAND_WIDTH_IDR) * JKK_BAND_WIDTH_IDR // 100
    cost = jkk + JKM_FLAT_IDR
    if package == "JKK_JKM_JHT":
        cost += (2 * base * 20 + 1000) // 2000
    return cost


# --- publishing, with the positions the broker gave back ---------------------------------------


@dataclass
class Published:
    case: Case
    topic: str  # with the prefix
    positions: list[tuple[int, int]] = field(default_factory=list)  # (partition, offset) acknowledged


async def publish_cases(
    kafka: KafkaConnection,
    prefix: str,
    cases: Sequence[Case],
    *,
    attempts: int = 60,
    linger_ms: int = 5,
) -> list[Published]:
    """Publish each case's exact bytes; partitions round-robin so that odd and valid messages
    share batches. A send the broker refused (it may be away: a fault) is sent again by a new
    producer until acknowledged; every acknowledged position is recorded."""
    out = [Published(c, prefix + c.wire_topic) for c in cases]
    pending = list(out)
    partitions: dict[str, int] = {}
    for attempt in range(attempts):
        producer = kafka_producer(kafka, linger_ms=linger_ms, request_timeout_ms=20_000)
        try:
            await producer.start()
            pending = await _send(kafka, producer, pending, partitions)
        except (KafkaError, OSError) as exc:
            del exc
        finally:
            with contextlib.suppress(Exception):
                await producer.stop()
        if not pending:
            return out
        await asyncio.sleep(min(1.0 + attempt, 5.0))
    raise RuntimeError(f"{len(pending)} cases could not be published: {pending[0].case.describe(0)}")


async def _send(
    kafka: KafkaConnection, producer: AIOKafkaProducer, pending: list[Published], partitions: dict[str, int]
) -> list[Published]:
    """Send every pending case once; records the acknowledged positions, returns the refused."""
    for p in pending:
        if p.topic not in partitions:
            found = await _partitions(kafka, producer, p.topic)
            partitions[p.topic] = len(found)
    futures = []
    for i, p in enumerate(pending):
        c = p.case
        futures.append(
            await producer.send(
                p.topic,
                value=c.body,
                key=c.key,
                headers=list(c.headers),
                partition=(c.n + i) % partitions[p.topic],
            )
        )
    results = await asyncio.gather(*futures, return_exceptions=True)
    failed = []
    for p, r in zip(pending, results, strict=True):
        if isinstance(r, BaseException):
            failed.append(p)
        else:
            p.positions.append((r.partition, r.offset))
    return failed


async def _partitions(kafka: KafkaConnection, producer: AIOKafkaProducer, topic: str) -> set[int]:
    with contextlib.suppress(KafkaError, asyncio.TimeoutError):
        async with asyncio.timeout(10):
            found = await producer.partitions_for(topic)
            if found:
                return set(found)
    await ensure_topic(kafka, topic)  # a broker that creates nothing by itself
    return set(await producer.partitions_for(topic))


# --- reading the topics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: dict[str, str]
    value: bytes | None

    @property
    def event_id(self) -> str:
        return self.headers.get("ce_id") or f"{self.topic}/{self.partition}/{self.offset}"

    def payload(self) -> Any:
        try:
            return json.loads(self.value or b"null")
        except ValueError:
            return None


class TopicTail:
    """Everything published under a prefix so far: reads on from where it stopped each refresh."""

    def __init__(self, kafka: KafkaConnection, prefix: str) -> None:
        self.kafka = kafka
        self.prefix = prefix
        self.records: dict[str, list[Record]] = defaultdict(list)
        self._positions: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> TopicTail:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _topics(self) -> list[str]:
        admin = AIOKafkaAdminClient(**self.kafka.options())
        await admin.start()
        try:
            names = await admin.list_topics()
        finally:
            await admin.close()
        wanted = {self.prefix + t for t in OUTCOME_TOPICS}
        return sorted(
            t
            for t in names
            if t in wanted or (t.startswith(self.prefix) and t.endswith(topics.DEAD_LETTER_SUFFIX))
        )

    async def refresh(self) -> int:
        """Read up to the current end of every topic; returns how many records were new."""
        consumer = await self._started()
        partitions = await self._assign(consumer)
        ends = await consumer.end_offsets(partitions)
        new = 0
        deadline = time.monotonic() + 120
        while any(self._positions.get(tp, -1) < end and end > 0 for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError("the topics could not be read to their end in 120 s")
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batches.items():
                new += self._keep(tp, records)
            for tp, end in ends.items():
                if self._positions.get(tp, -1) < end:
                    # Transaction markers or compacted gaps: trust the consumer's own position.
                    with contextlib.suppress(Exception):
                        position = await consumer.position(tp)
                        if position >= end:
                            self._positions[tp] = position
        return new

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(
                **self.kafka.options(),
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_partition_fetch_bytes=8 * 1024 * 1024,
                fetch_max_bytes=64 * 1024 * 1024,
            )
            await self._consumer.start()
        return self._consumer

    async def _assign(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """Every partition of the topics read, each from where this tail stopped (a new one from
        its beginning)."""
        partitions = []
        for name in await self._topics():
            for p in consumer.partitions_for_topic(name) or await self._partitions(name):
                partitions.append(TopicPartition(name, p))
        if set(partitions) != set(consumer.assignment()):
            consumer.assign(partitions)
            for tp in partitions:
                if tp in self._positions:
                    consumer.seek(tp, self._positions[tp])
                else:
                    await consumer.seek_to_beginning(tp)
        return partitions

    def _keep(self, tp: TopicPartition, records: list[ConsumerRecord[Any, Any]]) -> int:
        for r in records:
            self.records[tp.topic.removeprefix(self.prefix)].append(
                Record(
                    tp.topic.removeprefix(self.prefix),
                    r.partition,
                    r.offset,
                    r.key,
                    {k: (v or b"").decode(errors="replace") for k, v in (r.headers or ())},
                    r.value,
                )
            )
        if records:
            self._positions[tp] = records[-1].offset + 1
        return len(records)

    async def _partitions(self, name: str) -> set[int]:
        assert self._consumer is not None
        await self._consumer._client.force_metadata_update()  # a topic created since the start
        return self._consumer.partitions_for_topic(name) or set()

    def on(self, topic: str) -> list[Record]:
        return self.records.get(topic, [])

    def dead_letters(self) -> list[Record]:
        return [r for t, rs in self.records.items() if t.endswith(topics.DEAD_LETTER_SUFFIX) for r in rs]


# --- the gateway's record ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    key: str
    channel: str
    recipient: str
    template: str


def read_gateway_record(path: Path | None) -> list[Sent] | None:
    """What the gateway stand-in accepted (its JSONL record), or None when there is none.

    Requests it answered 503, refused, or that the sender gave up on (`abandoned`) were not
    sent; a request accepted again under the same key is a retry a provider drops."""
    if path is None or not path.exists():
        return None
    sent = []
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        with contextlib.suppress(ValueError):
            d = json.loads(line)
            if d.get("outcome", "accepted") != "accepted":
                continue
            sent.append(
                Sent(
                    str(d.get("idempotency_key") or d.get("key") or d.get("notification_id")),
                    str(d.get("channel")),
                    str(d.get("recipient")),
                    str(d.get("template")),
                )
            )
    return sent


# --- the verdict --------------------------------------------------------------------------------


@dataclass
class Verdict:
    seed: int
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.wrong)

    def line(self) -> str:
        return f"lost={len(self.lost)} duplicated={len(self.duplicated)} wrong={len(self.wrong)}"

    def explain(self, limit: int = 12) -> str:
        """The totals and the first few of each kind, each naming the seed and the case."""
        lines = [self.line()]
        for name in ("lost", "duplicated", "wrong"):
            items = getattr(self, name)
            by_kind = Counter(i.split(":", 1)[0] for i in items)
            if items:
                lines.append(f"{name} ({len(items)}; by class {dict(by_kind)}):")
                lines += [f"  {i}" for i in items[:limit]]
        lines += [f"note: {n}" for n in self.notes[:limit]]
        return "\n".join(lines)


def _distinct(records: Iterable[Record]) -> dict[str, Record]:
    """One record per event id: copies of one event (at-least-once) count once."""
    return {r.event_id: r for r in records}


def check(
    tail: TopicTail,
    published: Sequence[Published],
    *,
    seed: int,
    gateway: list[Sent] | None = None,
    office_email: str = "disnakertrans@mubakab.go.id",
) -> Verdict:
    """The verdict on everything `published` so far (call it once the system is quiet)."""
    v = Verdict(seed)
    submissions = _Submissions(v, tail, published)
    submissions.check_headerless()
    submissions.check_identified()
    submissions.check_anonymous()
    submissions.check_strays()
    _check_groups(v, published, tail, seed)
    _check_pipeline(v, tail, published, gateway, office_email)
    return v


def _codes(r: Record) -> frozenset[str]:
    return frozenset(x.get("code") for x in (r.payload() or {}).get("reasons", []))


def _has_envelope(c: Case) -> bool:
    return any(name == "ce_id" for name, _ in c.headers)


def _letters_by_origin(v: Verdict, tail: TopicTail) -> dict[tuple[str, int, int], dict[str, Record]]:
    """Dead letters by where their original sat; a letter that does not say so is wrong."""
    letters: dict[tuple[str, int, int], dict[str, Record]] = defaultdict(dict)
    for r in tail.dead_letters():
        h = r.headers
        try:
            where = (h["dlq_original_topic"], int(h["dlq_original_partition"]), int(h["dlq_original_offset"]))
        except (KeyError, ValueError):
            v.wrong.append(f"dead_letter: a letter without its origin at {r.topic}/{r.partition}/{r.offset}")
            continue
        letters[where][h.get("dlq_id") or r.event_id] = r
    return letters


def _by_commitment(tail: TopicTail, topic: str) -> dict[str, dict[str, Record]]:
    found: dict[str, dict[str, Record]] = defaultdict(dict)
    for r in _distinct(tail.on(topic)).values():
        found[str((r.payload() or {}).get("commitment_id"))][r.event_id] = r
    return found


class _Submissions:
    """Every published case against the outcome events and dead letters that name it.

    The outcome indexes are consumed as cases claim them (`pop`): what is left at the end is
    stray, an outcome nobody submitted."""

    def __init__(self, v: Verdict, tail: TopicTail, published: Sequence[Published]) -> None:
        self.v = v
        self.published = published
        self.letters = _letters_by_origin(v, tail)
        self.accounted_letters: set[tuple[str, int, int]] = set()
        self.registered: dict[tuple[str, str], dict[str, Record]] = defaultdict(dict)
        for r in _distinct(tail.on(contracts.WORKER_REGISTERED.topic)).values():
            body = r.payload() or {}
            identity = (str(body.get("source")), str(body.get("submission_id")))
            self.registered[identity][str(body.get("worker_id"))] = r
        self.rejected: dict[tuple[str, str], dict[str, Record]] = defaultdict(dict)
        self.anonymous: list[Record] = []
        for r in _distinct(tail.on(contracts.REGISTRATION_REJECTED.topic)).values():
            body = r.payload() or {}
            if body.get("source") is None or body.get("submission_id") is None:
                self.anonymous.append(r)
            else:
                self.rejected[(body["source"], body["submission_id"])][r.event_id] = r
        self.accepted = _by_commitment(tail, contracts.COMMITMENT_ACCEPTED.topic)
        self.refused = _by_commitment(tail, contracts.COMMITMENT_REJECTED.topic)
        self.anonymous_owed: Counter[frozenset[str]] = Counter()
        self.unmatched_identities: list[Published] = []

    def about(self, p: Published, what: str) -> str:
        return f"{p.case.kind}: {what}: {p.case.describe(self.v.seed)} at {p.topic} {p.positions}"

    def letters_of(self, p: Published) -> dict[str, Record]:
        found: dict[str, Record] = {}
        for partition, offset in p.positions:
            where = (p.topic, partition, offset)
            self.accounted_letters.add(where)
            found.update(self.letters.get(where, {}))
        return found

    # --- cases no outcome event can name -------------------------------------------------------

    def check_headerless(self) -> None:
        """The cases without an identity: owed a dead letter (once per content) or an anonymous
        rejection (counted here, matched in `check_anonymous`)."""
        # A message without CloudEvents headers is known by its content: two partners' identical
        # garbage (b"null", an empty body, a tombstone) is one message, owed one dead letter.
        same_content: dict[tuple[str, Any], list[Published]] = defaultdict(list)
        for p in self.published:
            c = p.case
            if c.identity is not None:
                continue
            if c.owed.outcomes == {DEAD_LETTERED}:
                same_content[(c.wire_topic, c.n if _has_envelope(c) else (c.key, c.body or b""))].append(p)
            elif c.owed.outcomes == {REJECTED}:
                found = self.letters_of(p)
                if found:
                    self.v.wrong.append(self.about(p, f"dead-lettered ({_reasons(found)}), owed a rejection"))
                else:
                    self.anonymous_owed[c.owed.codes or frozenset()] += 1
        for group in same_content.values():
            self._check_content(group)

    def _check_content(self, group: list[Published]) -> None:
        found = {}
        for p in group:
            found.update(self.letters_of(p))
        first = group[0]
        if not found:
            self.v.lost.append(self.about(first, f"no dead letter (sent {len(group)} times)"))
        elif len(found) > 1:
            self.v.duplicated.append(
                self.about(first, f"{len(found)} dead letters for {len(group)} sends of one content")
            )
        self.v.figures["dead_lettered"] += bool(found)
        _dlq_reason(self.v, first, found, self.about)

    # --- cases an outcome event names --------------------------------------------------------

    def check_identified(self) -> None:
        """Each identity submitted (with its repeats): exactly one outcome, the one owed."""
        by_identity: dict[tuple[str, str], list[Published]] = defaultdict(list)
        for p in self.published:
            if p.case.identity is not None:
                by_identity[p.case.identity].append(p)
        # The dead letters of headerless content, whoever sent it: the consumer knows such a record
        # by its key and body, so of identical ones only the first is dead-lettered.
        letters_of_content: dict[tuple[str, bytes | None, bytes], dict[str, Record]] = defaultdict(dict)
        for p in self.published:
            if not _has_envelope(p.case):
                letters_of_content[(p.case.wire_topic, p.case.key, p.case.body or b"")].update(
                    self.letters_of(p)
                )
        for identity, group in by_identity.items():
            self._check_identity(identity, group, letters_of_content)

    def _check_identity(
        self,
        identity: tuple[str, str],
        group: list[Published],
        letters_of_content: dict[tuple[str, bytes | None, bytes], dict[str, Record]],
    ) -> None:
        original = next((p for p in group if p.case.repeat_of is None), group[0])
        c = original.case
        found_letters: dict[str, Record] = {}
        for p in group:
            mine = self.letters_of(p)
            if p is not original and mine and DEAD_LETTERED not in c.owed.outcomes:
                self.v.wrong.append(self.about(p, f"a repeat was dead-lettered ({_reasons(mine)})"))
            found_letters.update(mine)
        outcomes = self._claim_outcomes(identity, c)
        outcomes.update({k: (DEAD_LETTERED, r) for k, r in found_letters.items()})
        kinds = sorted({k for k, _ in outcomes.values()})
        self.v.figures[f"{c.topic.split('.')[0]}:{'+'.join(kinds) or 'none'}"] += 1
        if not outcomes:
            same = (c.wire_topic, c.key, c.body or b"")
            if c.owed.outcomes == {DEAD_LETTERED} and same in letters_of_content and letters_of_content[same]:
                return  # identical to content dead-lettered before: one message, one letter
            if c.owed.outcomes & {REJECTED} and c.identity and "\x00" in "".join(c.identity):
                self.unmatched_identities.append(original)  # its rejection may name it otherwise
            else:
                self.v.lost.append(self.about(original, "no outcome"))
            return
        # A case the publisher had to send twice (a broker fault) may sit at two positions.
        n_letters = len(found_letters)
        effective = len(outcomes) - n_letters + (1 if 0 < n_letters <= len(original.positions) else n_letters)
        if effective > 1:
            self.v.duplicated.append(self.about(original, f"{len(outcomes)} outcomes: {kinds}"))
            return
        self._check_outcome(original, *next(iter(outcomes.values())), found_letters)

    def _claim_outcomes(self, identity: tuple[str, str], c: Case) -> dict[str, tuple[str, Record]]:
        """The outcome events naming the identity, taken out of the indexes."""
        if c.topic == contracts.COMMITMENT_SUBMITTED.topic:
            return {
                **{k: (ACCEPTED, r) for k, r in self.accepted.pop(identity[1], {}).items()},
                **{k: (REJECTED, r) for k, r in self.refused.pop(identity[1], {}).items()},
            }
        return {
            **{k: (REGISTERED, r) for k, r in self.registered.pop(identity, {}).items()},
            **{k: (REJECTED, r) for k, r in self.rejected.pop(identity, {}).items()},
        }

    def _check_outcome(
        self, original: Published, kind: str, record: Record, found_letters: dict[str, Record]
    ) -> None:
        """The one outcome a case got, against what it is owed."""
        owed = original.case.owed
        if kind not in owed.outcomes:
            self.v.wrong.append(self.about(original, f"{kind}, owed {owed}"))
        elif kind == REJECTED and owed.codes is not None and _codes(record) != owed.codes:
            self.v.wrong.append(
                self.about(original, f"rejected with {sorted(_codes(record))}, owed {sorted(owed.codes)}")
            )
        elif kind == DEAD_LETTERED:
            _dlq_reason(self.v, original, found_letters, self.about)

    # --- what is left over ---------------------------------------------------------------------

    def check_anonymous(self) -> None:
        """Anonymous rejections, by their reason codes; what is left over may be the submissions
        whose id could not be an id (a NUL in it): the registry rejects those without naming them."""
        v, seed = self.v, self.v.seed
        seen_anonymous = Counter(_codes(r) for r in self.anonymous)
        short: dict[frozenset[str], int] = {}
        for reason_codes, owed in self.anonymous_owed.items():
            got = min(seen_anonymous[reason_codes], owed)
            seen_anonymous[reason_codes] -= got
            if got < owed:
                short[reason_codes] = owed - got
        spare = sum(seen_anonymous.values())
        for p in self.unmatched_identities:
            if spare:
                spare -= 1
            else:
                v.lost.append(self.about(p, "no outcome"))
        for reason_codes, n in short.items():
            v.lost.append(
                f"invalid_anonymous: {n} anonymous rejections {sorted(reason_codes)} missing (seed={seed})"
            )
        if spare:
            left = {tuple(sorted(k)): n for k, n in seen_anonymous.items() if n}
            v.duplicated.append(
                f"registration: {spare} anonymous rejections more than owed: {left} (seed={seed})"
            )

    def check_strays(self) -> None:
        """Outcomes and dead letters no submission claimed."""
        v = self.v
        for identity, rs in self.registered.items():
            v.wrong.append(f"stray: worker-registered for {identity}, never submitted ({len(rs)})")
        for identity, rs in self.rejected.items():
            v.wrong.append(f"stray: registration-rejected for {identity}, never submitted ({len(rs)})")
        for cid in {*self.accepted, *self.refused}:
            v.wrong.append(f"stray: a commitment outcome for {cid!r}, never submitted")
        for where, rs in self.letters.items():
            if where not in self.accounted_letters:
                reason = {r.headers.get("dlq_reason") for r in rs.values()}
                v.wrong.append(
                    f"stray: dead letter of {where[0]}/{where[1]}/{where[2]} ({reason}) matches no submission"
                )


def _reasons(found: dict[str, Record]) -> list[str]:
    return sorted({r.headers.get("dlq_reason", "?") for r in found.values()})


def _dlq_reason(v: Verdict, p: Published, found: dict[str, Record], about: Any) -> None:
    want = p.case.owed.dlq_reason
    if want and found and want not in _reasons(found):
        v.notes.append(about(p, f"dead-lettered as {_reasons(found)}, expected {want}"))
        v.figures["dlq_reason_differs"] += 1


def _check_groups(v: Verdict, published: Sequence[Published], tail: TopicTail, seed: int) -> None:
    """One NIK submitted twice: exactly one of the submissions is registered."""
    registered_ids = {
        (str(b.get("source")), str(b.get("submission_id")))
        for b in (r.payload() or {} for r in tail.on(contracts.WORKER_REGISTERED.topic))
    }
    groups: dict[str, list[Case]] = defaultdict(list)
    for p in published:
        if p.case.group:
            groups[p.case.group].append(p.case)
    for group, members in groups.items():
        n = sum(1 for c in members if c.identity in registered_ids)
        if n == 0:
            v.lost.append(f"duplicate_nik: group {group}: no submission registered (seed={seed})")
        elif n > 1:
            v.duplicated.append(f"duplicate_nik: group {group}: one NIK registered {n} times (seed={seed})")


@dataclass
class _Enrollments:
    """The enrollment events by enrollment id (waitlisted ones by worker id), copies counted once."""

    matched: dict[str, dict[str, Record]]
    requested: dict[str, dict[str, Record]]
    confirmed: dict[str, dict[str, Record]]
    refused: dict[str, dict[str, Record]]
    completed: dict[str, dict[str, Record]]
    failed: dict[str, dict[str, Record]]
    waitlisted: dict[str, dict[str, Record]]

    @staticmethod
    def read(tail: TopicTail, published: Sequence[Published]) -> _Enrollments:
        def by(topic: str, key: str) -> dict[str, dict[str, Record]]:
            out: dict[str, dict[str, Record]] = defaultdict(dict)
            for r in _distinct(tail.on(topic)).values():
                out[str((r.payload() or {}).get(key))][r.event_id] = r
            return out

        matched = by(contracts.SPONSOR_MATCHED.topic, "enrollment_id")
        requested = by(contracts.ENROLLMENT_REQUESTED.topic, "enrollment_id")
        fuzz_positions = {(p.topic, pos) for p in published for pos in p.positions}
        confirmed: dict[str, dict[str, Record]] = defaultdict(dict)
        refused: dict[str, dict[str, Record]] = defaultdict(dict)
        for topic, into in (
            (contracts.ENROLLMENT_CONFIRMED.topic, confirmed),
            (contracts.ENROLLMENT_REJECTED.topic, refused),
        ):
            for r in _distinct(tail.on(topic)).values():
                if (tail.prefix + r.topic, (r.partition, r.offset)) in fuzz_positions:
                    continue  # an answer nobody asked for: accounted for as a submission
                into[str((r.payload() or {}).get("enrollment_id"))][r.event_id] = r
        completed = by(contracts.ENROLLMENT_COMPLETED.topic, "enrollment_id")
        failed = by(contracts.ENROLLMENT_FAILED.topic, "enrollment_id")
        waitlisted = by(contracts.WORKER_WAITLISTED.topic, "worker_id")
        return _Enrollments(matched, requested, confirmed, refused, completed, failed, waitlisted)


def _first_payloads(tail: TopicTail, topic: str, key: str) -> dict[str, dict[str, Any]]:
    """The first payload of each id named by `key` on the topic."""
    found: dict[str, dict[str, Any]] = {}
    for r in _distinct(tail.on(topic)).values():
        b = r.payload() or {}
        found.setdefault(str(b.get(key)), b)
    return found


def _check_pipeline(
    v: Verdict,
    tail: TopicTail,
    published: Sequence[Published],
    gateway: list[Sent] | None,
    office_email: str,
) -> None:
    """From registered workers to enrollments, commitments and what the gateway sent."""
    workers = _first_payloads(tail, contracts.WORKER_REGISTERED.topic, "worker_id")
    v.figures["workers_registered"] = len(workers)
    refused_serials = {
        p.case.identity: p.case.worker["serial"]
        for p in published
        if p.case.worker and p.case.worker["serial"] == "9999"  # 9998/9997: existing members, confirmed
    }
    commitments = _first_payloads(tail, contracts.COMMITMENT_ACCEPTED.topic, "commitment_id")
    e = _Enrollments.read(tail, published)
    enrollments_of: dict[str, list[str]] = defaultdict(list)
    for enrollment, events in e.matched.items():
        _check_enrollment(v, e, enrollment, events, enrollments_of, workers, commitments)
    for enrollment in {*e.requested, *e.confirmed, *e.refused, *e.completed, *e.failed} - set(e.matched):
        v.wrong.append(f"enrollment: {enrollment} seen on the BPJS/enrollment topics, never matched")
    serial_of = {(str(b.get("source")), str(b.get("submission_id"))): wid for wid, b in workers.items()}
    refused_workers = {serial_of[i] for i in refused_serials if i in serial_of}
    final = _final_states(v, e, workers, enrollments_of, refused_workers)
    v.figures.update(Counter(f"final_{s}" for s in final.values()))
    room = _check_commitments(v, e, commitments)
    _check_waitlist(v, final, workers, commitments, room)
    if gateway is None:
        v.notes.append("gateway: no record of what was sent; the messages were not checked")
        return
    _check_gateway(v, tail, e.completed, e.failed, e.waitlisted, gateway, office_email)


def _check_enrollment(
    v: Verdict,
    e: _Enrollments,
    enrollment: str,
    events: dict[str, Record],
    enrollments_of: dict[str, list[str]],
    workers: dict[str, dict[str, Any]],
    commitments: dict[str, dict[str, Any]],
) -> None:
    """One match: for a registered worker under an accepted commitment, requested from BPJS
    once, answered once, completed or failed once."""
    if len(events) > 1:
        v.duplicated.append(f"enrollment: {enrollment} matched {len(events)} times")
    b = next(iter(events.values())).payload() or {}
    enrollments_of[str(b.get("worker_id"))].append(enrollment)
    if str(b.get("worker_id")) not in workers:
        v.wrong.append(f"enrollment: {enrollment} for a worker nobody registered")
    if str(b.get("commitment_id")) not in commitments:
        v.wrong.append(
            f"enrollment: {enrollment} under commitment {b.get('commitment_id')!r}, never accepted"
        )
    answers = len(e.confirmed.get(enrollment, {})) + len(e.refused.get(enrollment, {}))
    if enrollment not in e.requested:
        v.lost.append(f"enrollment: {enrollment} matched, never requested from BPJS")
    elif len(e.requested[enrollment]) > 1:
        v.duplicated.append(f"enrollment: {enrollment} requested {len(e.requested[enrollment])} times")
    if answers == 0:
        v.lost.append(f"enrollment: {enrollment} never answered by BPJS")
    elif answers > 1:
        v.duplicated.append(f"enrollment: {enrollment} answered {answers} times (distinct answers)")
    if enrollment in e.confirmed:
        v.figures["enrolled"] += 1
        n = len(e.completed.get(enrollment, {}))
        if n != 1:
            (v.lost if n == 0 else v.duplicated).append(
                f"enrollment: {enrollment} confirmed, completed {n} times"
            )
    if enrollment in e.refused:
        v.figures["bpjs_rejected"] += 1
        n = len(e.failed.get(enrollment, {}))
        if n != 1:
            (v.lost if n == 0 else v.duplicated).append(f"enrollment: {enrollment} refused, failed {n} times")


def _final_states(
    v: Verdict,
    e: _Enrollments,
    workers: dict[str, dict[str, Any]],
    enrollments_of: dict[str, list[str]],
    refused_workers: set[str],
) -> dict[str, str]:
    """Where each registered worker ended: enrolled, failed, requested or waitlisted."""
    final: dict[str, str] = {}
    for wid in workers:
        mine = enrollments_of.get(wid, [])
        if len(mine) > 1:
            v.duplicated.append(f"worker: {wid} has {len(mine)} enrollments")
        if len(e.waitlisted.get(wid, {})) > 1:
            v.duplicated.append(f"worker: {wid} waitlisted {len(e.waitlisted[wid])} times")
        if not mine and wid not in e.waitlisted:
            v.lost.append(f"worker: {wid} registered, neither matched nor waitlisted")
            continue
        if mine:
            last = mine[-1]
            final[wid] = "enrolled" if last in e.confirmed else "failed" if last in e.refused else "requested"
            if wid in refused_workers and last in e.confirmed:
                v.wrong.append(f"worker: {wid} enrolled although BPJS refuses their NIK serial")
        else:
            final[wid] = "waitlisted"
    return final


def _check_commitments(
    v: Verdict, e: _Enrollments, commitments: dict[str, dict[str, Any]]
) -> dict[str, tuple[int, int]]:
    """Slots and budget against the enrollments seen, released on rejections; returns each
    commitment's room left (slots, Rupiah)."""
    used: dict[str, list[int]] = defaultdict(list)
    for enrollment, events in e.matched.items():
        if enrollment in e.refused:
            continue
        b = next(iter(events.values())).payload() or {}
        used[str(b.get("commitment_id"))].append(int(b.get("contribution_idr") or 0))
    room: dict[str, tuple[int, int]] = {}
    for cid, c in commitments.items():
        slots_used, budget_used = len(used.get(cid, [])), sum(used.get(cid, []))
        if slots_used > int(c["slots"]) or budget_used > int(c["budget_idr"]):
            v.wrong.append(
                f"commitment: {cid} over-committed: {slots_used}/{c['slots']} slots, "
                f"{budget_used}/{c['budget_idr']} Rupiah"
            )
        room[cid] = (int(c["slots"]) - slots_used, int(c["budget_idr"]) - budget_used)
        v.figures["budget_bound"] += room[cid][0] > 0 and room[cid][1] < monthly_cost(
            c["package"], None
        ) * int(c["months"])
    return room


def _check_waitlist(
    v: Verdict,
    final: dict[str, str],
    workers: dict[str, dict[str, Any]],
    commitments: dict[str, dict[str, Any]],
    room: dict[str, tuple[int, int]],
) -> None:
    """No worker left waiting while a commitment covering them has room for their cost."""
    for wid, state in final.items():
        if state != "waitlisted":
            continue
        w = workers[wid]
        for cid, c in commitments.items():
            covers = c.get("whole_regency") or w.get("kecamatan_code") in (c.get("kecamatan_codes") or [])
            cost = monthly_cost(c["package"], w.get("declared_income_idr")) * int(c["months"])
            if covers and room[cid][0] > 0 and room[cid][1] >= cost + 1000:
                v.lost.append(
                    f"waitlist: worker {wid} waits although {cid} covers them and has room {room[cid]}"
                )
                break


def _check_gateway(
    v: Verdict,
    tail: TopicTail,
    completed: dict[str, dict[str, Record]],
    failed: dict[str, dict[str, Record]],
    waitlisted: dict[str, dict[str, Record]],
    gateway: list[Sent],
    office_email: str,
) -> None:
    """Each message owed sent under exactly one idempotency key; nothing sent that nobody was owed."""
    owed, optional, office = _owed_messages(tail, completed, failed, waitlisted)
    keys: dict[tuple[str, str], set[str]] = defaultdict(set)
    for s in gateway:
        if s.recipient == office_email:
            keys[("office:" + s.template, "")].add(s.key)
        else:
            keys[(s.template, s.recipient)].add(s.key)
    v.figures["gateway_sent"] = len(gateway)
    v.figures["gateway_resent_same_key"] = len(gateway) - sum(len(k) for k in keys.values())
    for template, n in office.items():
        got = len(keys.pop(("office:" + template, ""), set()))
        if got != n:
            (v.lost if got < n else v.duplicated).append(
                f"gateway: {template} to the office sent {got} times, owed {n}"
            )
    for what in optional.keys() - owed.keys():
        owed[what] = 0
    for what, n in owed.items():
        got = len(keys.pop(what, set()))
        if n <= got <= n + optional[what]:
            continue
        if got < n:
            v.lost.append(f"gateway: {what[0]} to {what[1][:6]}*** sent {got} times, owed {n}")
        elif got > n:
            v.duplicated.append(
                f"gateway: {what[0]} to {what[1][:6]}*** sent {got} times (distinct keys), owed {n}"
            )
    for what, k in keys.items():
        v.wrong.append(f"gateway: {what[0]} to {what[1][:6]}*** sent {len(k)} times, owed to nobody")


def _owed_messages(
    tail: TopicTail,
    completed: dict[str, dict[str, Record]],
    failed: dict[str, dict[str, Record]],
    waitlisted: dict[str, dict[str, Record]],
) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]], Counter[str]]:
    """The messages owed by (template, recipient), those that may be left out, and the office's
    by template."""
    owed: Counter[tuple[str, str]] = Counter()
    office: Counter[str] = Counter()
    # A worker enrolled by the time notifications read the waitlisted event is not told "you wait"
    # after "you are insured" (the two arrive on different topics): then that message is optional.
    optional: Counter[tuple[str, str]] = Counter()
    enrolled = {
        str((r.payload() or {}).get("worker_id")) for events in completed.values() for r in events.values()
    }
    for worker_id, events in waitlisted.items():
        b = next(iter(events.values())).payload() or {}
        (optional if worker_id in enrolled else owed)[("worker_waitlisted", str(b.get("phone")))] += 1
    for events in completed.values():
        b = next(iter(events.values())).payload() or {}
        owed[("enrollment_confirmed", str(b.get("phone")))] += 1
        if b.get("company_email"):
            owed[("enrollment_confirmed", str(b["company_email"]).strip())] += 1
        if b.get("company_webhook_url"):
            owed[("enrollment_confirmed", str(b["company_webhook_url"]).strip())] += 1
    for events in failed.values():
        b = next(iter(events.values())).payload() or {}
        owed[("enrollment_rejected", str(b.get("phone")))] += 1
        office["enrollment_rejected"] += 1
    for r in _distinct(tail.on(contracts.REGISTRATION_REJECTED.topic)).values():
        b = r.payload() or {}
        codes = {x.get("code") for x in b.get("reasons", [])}
        phone = b.get("phone")
        if isinstance(phone, str) and phone.startswith("+628") and "PHONE_INVALID" not in codes:
            owed[("registration_rejected", phone)] += 1
        office["registration_rejected"] += 1
    return owed, optional, office
