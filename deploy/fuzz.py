"""A byte-level fuzzer of the partner-facing topics: what careless partners really publish.

Pure and seeded: `generate(seed, ...)` returns the same cases, byte for byte, for the same seed
and sizes, each with the outcome the system owes it. Nothing here does I/O; the campaign
(deploy/chaos.py) and the suite (tests/e2e/test_fuzz.py) publish the cases and the checker
(deploy/checker.py) holds the system to what is owed.

Every case is (key bytes | None, headers [(name, bytes | None)], body bytes | None) on one of
`registry.registration-submitted.v1` (each case on the intake topic of its partner,
`Case.wire_topic`: `<topic>.<partner>`), `sponsorship.commitment-submitted.v1` and the BPJS answers
(`bpjs.enrollment-confirmed.v1` / `-rejected.v1`). The classes (`Case.kind`):

- valid registrations, plain and with odd keys and headers (non-UTF-8 and null header values,
  duplicate names, NULs in keys, names and values, CloudEvents headers set by partners: ids that
  collide between two sources, ids with a NUL or 3-10 kB long): owed REGISTERED;
- the same, valid, but for a NIK BPJS refuses (serial 9999, not in Dukcapil), so release paths run;
- invalid registrations, every field broken in a known way (huge strings, deep nesting, NULs in
  JSON strings, numbers as strings, sizes near 1 MiB and near the broker's 2 MiB): owed REJECTED
  with exactly the reason codes listed (or, where the identity itself cannot be stored, REJECTED
  or DEAD-LETTERED);
- unreadable bodies (not JSON, UTF-16, latin-1, BOMs, truncated, tombstones, JSON that is not an
  object, an event of another version): owed DEAD-LETTERED;
- exact repeats and re-sends under a new envelope: owed nothing new;
- two submissions of one NIK: one REGISTERED, the other REJECTED DUPLICATE_NIK;
- commitments, valid (small, so they bind) and invalid: ACCEPTED / REJECTED;
- BPJS answers for enrollments nobody requested, or breaking the contract: DEAD-LETTERED.

Valid and odd cases are shuffled together, so odd messages share batches with valid neighbours
(the bug this was built to find: a batch with one odd message lost all of them).
"""

from __future__ import annotations

import codecs
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from shared import contracts, topics

REGISTERED: Final = "registered"
REJECTED: Final = "rejected"
DEAD_LETTERED: Final = "dead_lettered"
ACCEPTED: Final = "accepted"
NOTHING: Final = "nothing"  # a repeat: its original's outcome, once, and nothing more

BROKER_MESSAGE_LIMIT: Final = 2 * 1024 * 1024  # message.max.bytes of the local broker
MIB: Final = 1024 * 1024

PARTNER_TOPICS: Final = (
    contracts.REGISTRATION_SUBMITTED.topic,
    contracts.COMMITMENT_SUBMITTED.topic,
    contracts.ENROLLMENT_CONFIRMED.topic,
    contracts.ENROLLMENT_REJECTED.topic,
)

Header = tuple[str, bytes | None]
# How a case gets its key and headers, from its number.
Envelope = Callable[[int], tuple[bytes | None, list[Header]]]
# An invalid registration: what is broken, the change to a valid body, exactly the codes owed.
Variant = tuple[str, dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]], set[str]]
# An unreadable body: what is wrong with it, how to make it, the dead-letter reason when certain.
Unreadable = tuple[str, Callable[[], bytes | None], str | None]

OCCUPATIONS: Final = (
    "penyadap karet",
    "petani sawit",
    "nelayan",
    "buruh harian lepas",
    "pedagang kecil",
    "ojek",
    "kurir",
    "buruh bangunan",
)
GIVEN: Final = ("Siti", "Ahmad", "Dewi", "Rudi", "Nur", "Joko", "Rina", "Budi", "Sri", "Andi")
FAMILY: Final = ("Aminah", "Saputra", "Lestari", "Hartono", "Wahyuni", "Pratama", "Gunawan")
KECAMATAN_NAMES: Final = {"01": "Sekayu", "04": "Babat Toman", "09": "Bayung Lencir", "13": "Sungai Keruh"}


@dataclass(frozen=True)
class Owed:
    """What the system owes a case: one of `outcomes` and, for a rejection, exactly `codes`."""

    outcomes: frozenset[str]
    codes: frozenset[str] | None = None
    dlq_reason: str | None = None  # the expected dead-letter reason, when it is certain

    @staticmethod
    def of(*outcomes: str, codes: Iterable[str] | None = None, dlq_reason: str | None = None) -> Owed:
        return Owed(frozenset(outcomes), frozenset(codes) if codes is not None else None, dlq_reason)

    def __str__(self) -> str:
        text = "|".join(sorted(self.outcomes))
        if self.codes is not None:
            text += f" {sorted(self.codes)}"
        if self.dlq_reason:
            text += f" ({self.dlq_reason})"
        return text


@dataclass(frozen=True)
class Case:
    n: int  # the case's number in its run (stable: publishing order is a shuffle)
    kind: str
    topic: str  # the contract's name, without TOPIC_PREFIX
    key: bytes | None
    headers: tuple[Header, ...]
    body: bytes | None
    owed: Owed
    # (source, submission_id) of a registration, ("commitment", id) of a commitment, as the
    # system's outcome events name them; None when no outcome can name it (e.g. no source).
    identity: tuple[str, str] | None = None
    note: str = ""
    repeat_of: int | None = None
    group: str | None = None  # cases of one group: exactly one REGISTERED (same NIK twice)
    # What the checker needs of a valid registration: normalised phone, kecamatan code, income.
    worker: dict[str, Any] | None = None
    # A registration's partner: the intake topic it goes to (the registry's `source`).
    partner: str | None = None

    @property
    def wire_topic(self) -> str:
        """The topic it is published on (without TOPIC_PREFIX)."""
        if self.topic == contracts.REGISTRATION_SUBMITTED.topic and self.partner is not None:
            return topics.intake_topic(self.partner)
        return self.topic

    def describe(self, seed: int) -> str:
        """Enough to see the case again: `generate(seed)` and this case's number."""
        body = self.body if self.body is None else self.body[:160]
        headers = [(k[:40], v if v is None else v[:40]) for k, v in self.headers[:8]]
        return (
            f"seed={seed} case #{self.n} [{self.kind}] on {self.topic}: {self.note}; owed {self.owed}; "
            f"key={self.key[:40] if self.key else None!r} headers={headers!r}"
            f"{' (+more)' if len(self.headers) > 8 else ''} body={body!r}"
            f"{f' ({len(self.body)} bytes)' if self.body else ''}"
        )


@dataclass
class FuzzRun:
    seed: int
    cases: list[Case] = field(default_factory=list)

    def kinds(self) -> Counter[str]:
        return Counter(c.kind for c in self.cases)

    def on(self, topic: str) -> list[Case]:
        return [c for c in self.cases if c.topic == topic]

    def summary(self) -> str:
        by_topic = Counter(c.topic for c in self.cases)
        return f"fuzz seed={self.seed}: {len(self.cases)} messages " + ", ".join(
            f"{t}={n}" for t, n in sorted(by_topic.items())
        )


def _make_nik(kecamatan_code: str, birth: date, sex: str, serial: int) -> str:
    day = birth.day + (40 if sex == "P" else 0)
    return f"1606{kecamatan_code}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


# A partner names its events as it likes; the version after the last dot is what is checked.
PARTNER_EVENT_TYPE: Final = ("com.partner." + contracts.REGISTRATION_SUBMITTED.event_name).encode()
# The same event one version on: nobody reads it on a v1 intake.
NEXT_VERSION_TYPE: Final = contracts.REGISTRATION_SUBMITTED.event_type.removesuffix(".v1").encode() + b".v2"


def _ce(id_: bytes, source: bytes, type_: bytes = PARTNER_EVENT_TYPE) -> list[Header]:
    return [
        ("ce_id", id_),
        ("ce_source", source),
        ("ce_type", type_),
        ("ce_specversion", b"1.0"),
        ("content-type", b"application/json"),
    ]


def _odd_headers_and_keys() -> list[tuple[str, Envelope]]:
    """Keys and headers no contract forbids: non-UTF-8, null, duplicate, NUL-bearing, huge, many."""
    return [
        ("non-UTF-8 header value", lambda n: (None, [("x-trace", b"\xff\xfe\x80\xc3(")])),
        ("null header value", lambda n: (None, [("x-null", None)])),
        ("duplicate header names", lambda n: (None, [("x-dup", b"one"), ("x-dup", b"two")])),
        ("NUL in a header value", lambda n: (None, [("x-nul", b"a\x00b")])),
        ("NUL in a header name", lambda n: (None, [("x-\x00odd", b"v")])),
        ("empty header name", lambda n: (None, [("", b"v")])),
        ("NUL in the key", lambda n: (f"k\x00{n}".encode(), [])),
        ("non-UTF-8 key", lambda n: (b"\xff\xfe" + str(n).encode(), [])),
        ("a 60 kB header", lambda n: (None, [("x-big", b"h" * 60_000)])),
        ("300 headers", lambda n: (None, [(f"x-h{i}", str(i).encode()) for i in range(300)])),
    ]


def _broken_identity() -> list[Variant]:
    """NIK, sex and birth date broken, one at a time."""
    return [
        ("NIK of 11 digits", {"nik": "16060152089"}, {"NIK_FORMAT"}),
        (
            "NIK with a letter O",
            lambda b: {**b, "nik": b["nik"][:8] + "O" + b["nik"][9:]},
            {"NIK_FORMAT"},
        ),
        (
            "NIK with a JSON \\u0000",
            lambda b: {**b, "nik": b["nik"][:8] + "\u0000" + b["nik"][8:]},
            {"NIK_FORMAT"},
        ),
        ("NIK province 99", lambda b: {**b, "nik": "99" + b["nik"][2:]}, {"NIK_PROVINCE"}),
        ("NIK serial 0000", lambda b: {**b, "nik": b["nik"][:12] + "0000"}, {"NIK_SERIAL"}),
        ("NIK as a number", lambda b: {**b, "nik": int(b["nik"])}, {"INVALID_TYPE"}),
        ("sex X", {"sex": "X"}, {"SEX_INVALID"}),
        ("sex as true", {"sex": True}, {"INVALID_TYPE"}),
        ("birth date 1990-13-45", {"birth_date": "1990-13-45"}, {"BIRTH_DATE_FORMAT"}),
        ("birth date as a number", {"birth_date": 19900812}, {"INVALID_TYPE"}),
    ]


def _broken_contact() -> list[Variant]:
    """Kecamatan, phone and name broken, one at a time."""
    return [
        ("kecamatan Palembang", {"kecamatan": "Palembang"}, {"KECAMATAN_UNKNOWN"}),
        ("kecamatan as a list", {"kecamatan": ["01"]}, {"INVALID_TYPE"}),
        ("kecamatan with a \\u0000", {"kecamatan": "Palem\u0000bang"}, {"KECAMATAN_UNKNOWN"}),
        ("landline phone", {"phone": "021-555-1234"}, {"PHONE_INVALID"}),
        ("phone as a number", {"phone": 81234567890}, {"INVALID_TYPE"}),
        ("phone with a \\u0000", {"phone": "0812\u00003456789"}, {"PHONE_INVALID"}),
        ("name with digits", {"full_name": "Budi123"}, {"NAME_INVALID"}),
        ("name with a \\u0000", {"full_name": "Siti\u0000Aminah"}, {"NAME_INVALID"}),
        ("name with a lone surrogate", {"full_name": "Siti \ud800 Aminah"}, {"NAME_INVALID"}),
        ("name of 101 letters", {"full_name": "A" * 101}, {"NAME_TOO_LONG"}),
    ]


def _broken_details() -> list[Variant]:
    """Occupation, income and desa broken, required fields missing, four broken at once."""

    def without(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        return lambda b: {k: v for k, v in b.items() if k != name}

    def nested(depth: int) -> Any:
        value: Any = "Sekayu"
        for _ in range(depth):
            value = [value]
        return value

    return [
        ("occupation empty", {"occupation": ""}, {"MISSING_FIELD"}),
        ("occupation with a \\u0000", {"occupation": "nel\u0000ayan"}, {"OCCUPATION_INVALID"}),
        ("income as a string", {"declared_income_idr": "1500000"}, {"INCOME_INVALID"}),
        ("income negative", {"declared_income_idr": -5}, {"INCOME_INVALID"}),
        ("income with cents", {"declared_income_idr": 1500000.5}, {"INCOME_INVALID"}),
        ("income of 10^30", {"declared_income_idr": 10**30}, {"INCOME_INVALID"}),
        ("desa as a list", {"desa": ["a"]}, {"DESA_INVALID"}),
        ("desa nested 200 deep", {"desa": nested(200)}, {"DESA_INVALID"}),
        ("desa with a \\u0000", {"desa": "Teluk\u0000Kijing"}, {"DESA_INVALID"}),
        *[
            (f"no {f}", without(f), {"MISSING_FIELD"})
            for f in ("nik", "full_name", "birth_date", "phone", "kecamatan")
        ],
        ("null sex", {"sex": None}, {"MISSING_FIELD"}),
        (
            "four fields broken at once",
            {"phone": "12", "kecamatan": "Bandung", "full_name": "R2-D2", "desa": 7},
            {"PHONE_INVALID", "KECAMATAN_UNKNOWN", "NAME_INVALID", "DESA_INVALID"},
        ),
    ]


class _Generator:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.cases: list[Case] = []
        self.niks: set[str] = set()
        self.tag = f"fz{seed % 10**8}"
        self.sources = [f"{self.tag}-desa-online", f"{self.tag}-sipekerja", f"{self.tag}-koperasi"]
        self.phones = 0

    # --- building blocks -----------------------------------------------------------------------

    def add(self, **fields: Any) -> Case:
        if fields.get("topic") == contracts.REGISTRATION_SUBMITTED.topic and fields.get("partner") is None:
            fields["partner"] = self.partner_of(fields.get("body"))
        case = Case(n=len(self.cases), **fields)
        self.cases.append(case)
        return case

    def nik(self, kecamatan: str, birth: date, sex: str, serial: int | None = None) -> str:
        while True:
            nik = _make_nik(kecamatan, birth, sex, serial or self.rng.randrange(1, 9998))
            if nik not in self.niks:
                self.niks.add(nik)
                return nik
            if serial is not None:  # a fixed serial taken: move the birth date
                birth = birth.replace(day=1 + birth.day % 28)

    def phone(self) -> str:
        """A distinct mobile number per call, distinct in its last 4 digits too (masked logs)."""
        self.phones += 1
        n = self.phones
        return f"08{self.rng.choice(['12', '13', '21', '52', '57', '77', '81', '95'])}{n // 10_000:04d}{n % 10_000:04d}"

    def registration(
        self,
        n: int,
        *,
        source: str | None = None,
        serial: int | None = None,
        income: int | str | None = "random",
    ) -> dict[str, Any]:
        rng = self.rng
        sex = rng.choice("LP")
        birth = date(rng.randrange(1970, 2004), rng.randrange(1, 13), rng.randrange(1, 29))
        kecamatan = f"{rng.randrange(1, 16):02d}"
        if income == "random":
            # Incomes above the floor cost more than the floor-priced budget: budgets bind.
            income = rng.choice([None, None, 1_500_000, 3_000_000, 7_500_000])
        body: dict[str, Any] = {
            "submission_id": f"{self.tag}-{n}",
            "source": source or rng.choice(self.sources),
            "nik": self.nik(f"{rng.randrange(1, 16):02d}", birth, sex, serial),
            "full_name": f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}",
            "birth_date": birth.isoformat(),
            "sex": sex,
            "phone": self.phone(),
            "kecamatan": rng.choice([kecamatan, KECAMATAN_NAMES.get(kecamatan, kecamatan)]),
            "desa": None,
            "occupation": rng.choice(OCCUPATIONS),
            "declared_income_idr": income,
        }
        return body

    @staticmethod
    def encode(body: Any) -> bytes:
        return json.dumps(body).encode()

    def partner_of(self, body: object) -> str:
        """Whose intake a registration goes to: the partner its body names, if that is a
        partner's name, else the first partner (which the body then contradicts or omits)."""
        source = None
        if isinstance(body, bytes):
            try:
                decoded = json.loads(body)
                source = decoded.get("source") if isinstance(decoded, dict) else None
            except (ValueError, UnicodeDecodeError, RecursionError):  # the deeply nested bodies
                source = None
        elif isinstance(body, dict):
            source = body.get("source")
        return source if isinstance(source, str) and source in self.sources else self.sources[0]

    def identity(self, body: dict[str, Any]) -> tuple[str, str] | None:
        """How the registry's outcome events will name the submission: the intake's partner, and
        the submission id as the registry keeps it (trimmed; None past 100 characters)."""
        submission_id = body.get("submission_id")
        if not isinstance(submission_id, str):
            return None
        submission_id = submission_id.strip()
        if not submission_id or len(submission_id) > 100:
            return None
        return self.partner_of(body), submission_id

    @staticmethod
    def worker_facts(body: dict[str, Any]) -> dict[str, Any]:
        digits = "".join(ch for ch in body["phone"] if ch.isdigit())
        kecamatan = body["kecamatan"]
        code = next((c for c, name in KECAMATAN_NAMES.items() if name == kecamatan), kecamatan)
        return {
            "nik": body["nik"],
            "phone": "+62" + digits.removeprefix("62").removeprefix("0"),
            "kecamatan_code": code,
            "declared_income_idr": body.get("declared_income_idr"),
            "serial": body["nik"][-4:],
        }

    def valid(self, kind: str, body: dict[str, Any], note: str, **extra: Any) -> Case:
        fields: dict[str, Any] = {"key": None, "headers": (), "body": self.encode(body)}
        fields.update(extra)
        return self.add(
            kind=kind,
            topic=contracts.REGISTRATION_SUBMITTED.topic,
            owed=Owed.of(REGISTERED),
            identity=self.identity(body),
            note=note,
            worker=self.worker_facts(body),
            **fields,
        )

    # --- registrations ---------------------------------------------------------------------------

    def odd_envelopes(self) -> list[tuple[str, Envelope]]:
        """(what is odd, how to make a case's key and headers so) for valid registrations."""
        return [*_odd_headers_and_keys(), *self.odd_cloudevents()]

    def odd_cloudevents(self) -> list[tuple[str, Envelope]]:
        """CloudEvents headers as partners set them: colliding, NUL-bearing, huge, half or no version."""
        rng = self.rng

        def long_id(n: int) -> bytes:
            return f"{self.tag}-{n}-".encode() + b"x" * rng.randrange(3_000, 10_001)

        return [
            (
                "partner CloudEvents headers",
                lambda n: (None, _ce(f"{self.tag}-ce-{n}".encode(), b"/partner/sipekerja")),
            ),
            (
                "ce_id with a NUL",
                lambda n: (None, _ce(f"{self.tag}-\x00-{n}".encode(), b"/partner/sipekerja")),
            ),
            ("ce_id of 3-10 kB", lambda n: (None, _ce(long_id(n), b"/partner/koperasi"))),
            (
                "non-UTF-8 ce_id",
                lambda n: (None, _ce(b"\xff\xfe" + str(n).encode(), b"/partner/koperasi")),
            ),
            (
                "ce_id only (no source, no type)",
                lambda n: (None, [("ce_id", f"{self.tag}-only-{n}".encode())]),
            ),
            (
                "ce_type without a version",
                lambda n: (None, _ce(f"{self.tag}-nv-{n}".encode(), b"/p", b"com.partner.registration")),
            ),
            (
                "garbage ce_time and content-type",
                lambda n: (
                    None,
                    [
                        *_ce(f"{self.tag}-t-{n}".encode(), b"/p"),
                        ("ce_time", b"yesterday"),
                        ("content-type", b"text/plain; charset=latin-1"),
                    ],
                ),
            ),
            (
                "null ce_source",
                lambda n: (None, [("ce_id", f"{self.tag}-ns-{n}".encode()), ("ce_source", None)]),
            ),
        ]

    def valid_registrations(self, count: int) -> None:
        odd = self.odd_envelopes()
        for i in range(count):
            n = len(self.cases)
            roll = self.rng.random()
            if roll < 0.45:
                self.valid("valid", self.registration(n), "a plain valid registration")
            elif roll < 0.53:
                body = self.registration(n, serial=9999)
                self.valid("valid_bpjs_refuses", body, f"valid; BPJS refuses NIK serial {body['nik'][-4:]}")
            elif roll < 0.55:
                body = {**self.registration(n), "programme_note": "x", "extra": {"a": [1, 2]}}
                self.valid("valid_extra_fields", body, "valid, with fields the contract does not name")
            elif roll < 0.57:
                # A NIK never changes when Dukcapil corrects the sex behind it: registered, warned.
                body = self.registration(n)
                body = {**body, "sex": "P" if body["sex"] == "L" else "L"}
                self.valid("valid_nik_warning", body, "valid; sex against the NIK (NIK_SEX_MISMATCH warning)")
            else:
                picked = self.rng.sample(odd, k=self.rng.choice([1, 1, 2, 3]))
                key: bytes | None = None
                headers: list[Header] = []
                for _, make in picked:
                    k, h = make(n)
                    key = k or key
                    headers += h
                note = "valid, with " + " + ".join(name for name, _ in picked)
                self.valid("valid_odd_envelope", self.registration(n), note, key=key, headers=tuple(headers))
            del i

    def ce_id_collisions(self, pairs: int) -> None:
        """Two partners that both number their events 1, 2, 3: both registrations are owed."""
        for i in range(pairs):
            shared_id = f"{i + 1}".encode()
            for source in (b"/partner/desa-online", b"/partner/sipekerja"):
                n = len(self.cases)
                self.valid(
                    "valid_ce_id_collision",
                    self.registration(n),
                    f"valid; ce_id {shared_id.decode()} also used by another partner",
                    headers=tuple(_ce(shared_id + b"-" + self.tag.encode(), source)),
                )

    def duplicate_niks(self, pairs: int) -> None:
        for i in range(pairs):
            first = self.registration(len(self.cases))
            second = {**first, "submission_id": f"{first['submission_id']}-again", "phone": self.phone()}
            for body in (first, second):
                self.add(
                    kind="duplicate_nik",
                    topic=contracts.REGISTRATION_SUBMITTED.topic,
                    key=None,
                    headers=(),
                    body=self.encode(body),
                    owed=Owed.of(REGISTERED, REJECTED, codes={"DUPLICATE_NIK"}),
                    identity=self.identity(body),
                    note="one NIK in two submissions: one registered, one DUPLICATE_NIK",
                    group=f"nik-{first['nik']}",
                    worker=self.worker_facts(body),
                )
            del i

    def invalid_variants(self, n: int) -> list[Variant]:
        """(what is broken, the change, exactly the reason codes owed)."""
        return [*_broken_identity(), *_broken_contact(), *_broken_details()]

    def big_invalid_variants(
        self,
    ) -> list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], set[str]]]:
        """Huge strings, near 1 MiB and near the broker's 2 MiB limit (few of them: they are slow)."""
        size = self.rng.randrange(200_000, 1_000_001)
        return [
            (f"name of {size} bytes", lambda b: {**b, "full_name": "x" * size}, {"NAME_TOO_LONG"}),
            ("kecamatan of 500 kB", lambda b: {**b, "kecamatan": "k" * 500_000}, {"KECAMATAN_UNKNOWN"}),
            (
                "occupation near 1 MiB",
                lambda b: {**b, "occupation": "o" * (MIB - 600)},
                {"OCCUPATION_INVALID"},
            ),
            (
                "name near the broker's 2 MiB limit",
                lambda b: {**b, "full_name": "n" * (BROKER_MESSAGE_LIMIT - 1_024)},
                {"NAME_TOO_LONG"},
            ),
        ]

    def invalid_registrations(self, count: int) -> None:
        for _ in range(count):
            n = len(self.cases)
            base = self.registration(n)
            variants = self.big_invalid_variants() if self.rng.random() < 0.03 else self.invalid_variants(n)
            note, change, codes = self.rng.choice(variants)
            body = change(base) if callable(change) else {**base, **change}
            self.add(
                kind="invalid",
                topic=contracts.REGISTRATION_SUBMITTED.topic,
                key=None,
                headers=(),
                body=self.encode(body),
                owed=Owed.of(REJECTED, codes=codes),
                identity=self.identity(body),
                note=note,
            )

    def unstorable_identities(self, count: int) -> None:
        """A source or submission id no text column can hold: rejected or dead-lettered, never lost."""
        for _ in range(count):
            n = len(self.cases)
            body = self.registration(n)
            field_name = self.rng.choice(["source", "submission_id"])
            body[field_name] = body[field_name][:4] + "\u0000" + body[field_name][4:]
            self.add(
                kind="invalid_identity",
                topic=contracts.REGISTRATION_SUBMITTED.topic,
                key=None,
                headers=(),
                body=self.encode(body),
                owed=Owed.of(REJECTED, DEAD_LETTERED),
                identity=self.identity(body),
                note=f"{field_name} with a JSON \\u0000",
            )

    def foreign_sources(self, count: int) -> None:
        """A body naming another partner than its intake's, or none: the intake decides who sent
        it. Naming another is refused (SOURCE_MISMATCH); naming none is the intake's partner."""
        for _ in range(count):
            n = len(self.cases)
            body = self.registration(n, source=self.sources[1])
            if self.rng.random() < 0.5:
                del body["source"]
                self.valid("valid_no_source", body, "no source in the body: the intake's partner")
                continue
            self.add(
                kind="invalid_source",
                topic=contracts.REGISTRATION_SUBMITTED.topic,
                partner=self.sources[2],
                key=None,
                headers=(),
                body=self.encode(body),
                owed=Owed.of(REJECTED, codes={"SOURCE_MISMATCH"}),
                identity=(self.sources[2], str(body["submission_id"])),
                note=f"source {self.sources[1]!r} on the intake of {self.sources[2]!r}",
            )

    def anonymous(self, count: int) -> None:
        """No usable source/submission_id: rejected, and the rejection cannot name them."""
        variants: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], set[str]]] = [
            ("submission_id as a number", lambda b: {**b, "submission_id": 12345}, {"INVALID_TYPE"}),
            (
                "submission_id of 150 characters",
                lambda b: {**b, "submission_id": "s" * 150},
                {"INVALID_TYPE"},
            ),
        ]
        for _ in range(count):
            note, change, codes = self.rng.choice(variants)
            body = change(self.registration(len(self.cases)))
            self.add(
                kind="invalid_anonymous",
                topic=contracts.REGISTRATION_SUBMITTED.topic,
                key=None,
                headers=(),
                body=self.encode(body),
                owed=Owed.of(REJECTED, codes=codes),
                identity=None,
                note=note,
            )

    def unreadable_bodies(self, last: list[dict[str, Any]]) -> tuple[list[Unreadable], list[Unreadable]]:
        """(what is wrong, how to make the body, the dead-letter reason if certain): the usual ones
        and the big ones (near 1-2 MiB). A body encoding a registration appends it to `last`."""
        rng = self.rng

        def valid_bytes() -> bytes:
            last.append(self.registration(len(self.cases)))
            return self.encode(last[-1])

        def latin1() -> bytes:
            last.append({**self.registration(len(self.cases)), "full_name": "Aminah M\u00fcller"})
            return json.dumps(last[-1], ensure_ascii=False).encode("latin-1")

        variants: list[Unreadable] = [
            ("random bytes", lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))), None),
            ("truncated JSON", lambda: valid_bytes()[: rng.randrange(1, 60)], "NOT_JSON"),
            ("UTF-16 with a BOM", lambda: valid_bytes().decode().encode("utf-16"), None),
            ("UTF-16-LE without a BOM", lambda: valid_bytes().decode().encode("utf-16-le"), None),
            ("UTF-8 with a BOM", lambda: codecs.BOM_UTF8 + valid_bytes(), None),
            ("latin-1 encoded", latin1, "NOT_JSON"),
            ("invalid UTF-8 inside a string", lambda: b'{"nik": "\xc3\x28", "source": "x"}', "NOT_JSON"),
            ("empty body", lambda: b"", "NOT_JSON"),
            ("tombstone (null value)", lambda: None, None),
            ("a JSON array", lambda: b'[{"nik": "1606015208900003"}]', "NOT_A_JSON_OBJECT"),
            ("a JSON number", lambda: b"42", "NOT_A_JSON_OBJECT"),
            ("JSON null", lambda: b"null", "NOT_A_JSON_OBJECT"),
            ("a JSON string", lambda: b'"just a string"', "NOT_A_JSON_OBJECT"),
            ("deep nesting, 100000 levels", lambda: b"[" * 100_000 + b"]" * 100_000, None),
        ]
        big: list[Unreadable] = [
            ("~1 MiB of JSON cut short", lambda: b"{" + b'"a": 1, ' * (MIB // 8) + b'"b": 2', "NOT_JSON"),
            ("near-2 MiB not JSON", lambda: b"\x00" + b"z" * (BROKER_MESSAGE_LIMIT - 1_024), "NOT_JSON"),
        ]
        return variants, big

    def unreadable(self, count: int, topic: str = contracts.REGISTRATION_SUBMITTED.topic) -> None:
        rng = self.rng
        last: list[dict[str, Any]] = []  # the registration an encoding variant was made of
        variants, big = self.unreadable_bodies(last)
        for _ in range(count):
            note, make, reason = rng.choice(big if rng.random() < 0.05 else variants)
            last.clear()
            body = make()
            key = rng.choice([None, b"poison", b"\x00\xff"])
            self.add(
                kind="unreadable",
                topic=topic,
                key=key if body is not None or key is not None else b"tombstone",  # Kafka wants one
                headers=tuple(rng.choice([[], [("x-odd", b"\xff")], [("x-null", None)]])),
                body=body,
                owed=Owed.of(DEAD_LETTERED, dlq_reason=reason),
                # An encoding of a registration: if it is registered anyway, the checker can say so.
                identity=self.identity(last[0])
                if last and topic == contracts.REGISTRATION_SUBMITTED.topic
                else None,
                partner=self.partner_of(last[0])
                if last and topic == contracts.REGISTRATION_SUBMITTED.topic
                else None,
                note=note,
            )

    def other_versions(self, count: int) -> None:
        for _ in range(count):
            n = len(self.cases)
            self.add(
                kind="other_version",
                topic=contracts.REGISTRATION_SUBMITTED.topic,
                key=None,
                headers=tuple(
                    _ce(
                        f"{self.tag}-v2-{n}".encode(),
                        b"/partner/sipekerja",
                        NEXT_VERSION_TYPE,
                    )
                ),
                body=self.encode(self.registration(n)),
                owed=Owed.of(DEAD_LETTERED, dlq_reason="UNKNOWN_VERSION"),
                note="a v2 event on the v1 topic",
            )

    def repeats(self, count: int) -> None:
        """Exact repeats of identified cases, and re-sends of one under a new envelope."""
        originals = [
            c
            for c in self.cases
            if c.identity is not None
            and c.repeat_of is None
            and c.group is None
            and c.body is not None
            and len(c.body) < 100_000
            and c.topic == contracts.REGISTRATION_SUBMITTED.topic
            and c.owed.outcomes in (frozenset({REGISTERED}), frozenset({REJECTED}))
        ]
        for _ in range(min(count, len(originals))):
            original = self.rng.choice(originals)
            if self.rng.random() < 0.7:
                self.add(
                    kind="repeat",
                    topic=original.topic,
                    partner=original.partner,
                    key=original.key,
                    headers=original.headers,
                    body=original.body,
                    owed=Owed.of(NOTHING),
                    identity=original.identity,
                    note=f"exact repeat of #{original.n}",
                    repeat_of=original.n,
                )
            else:
                self.add(
                    kind="repeat_new_envelope",
                    topic=original.topic,
                    partner=original.partner,
                    key=None,
                    headers=tuple(_ce(f"{self.tag}-resend-{len(self.cases)}".encode(), b"/partner/retry")),
                    body=original.body,
                    owed=Owed.of(NOTHING),
                    identity=original.identity,
                    note=f"#{original.n} sent again by a partner that retries with a new ce_id",
                    repeat_of=original.n,
                )

    # --- commitments --------------------------------------------------------------------------

    def commitment(self, n: int) -> dict[str, Any]:
        rng = self.rng
        return {
            "commitment_id": f"{self.tag}-c{n}",
            "company_id": f"co-{n}",
            "company_name": f"PT Fuzz {n}",
            "kecamatan": rng.choice([["*"], [f"{rng.randrange(1, 16):02d}"], ["Sekayu", "09"]]),
            "slots": rng.randrange(1, 4),
            "months": rng.choice([1, 6, 12]),
            "package": rng.choice(["JKK_JKM", "JKK_JKM_JHT"]),
            "email": f"csr{n}@fuzz.example",
        }

    def commitments(self, count: int) -> None:
        invalid: list[tuple[str, dict[str, Any], set[str] | None, tuple[str, ...]]] = [
            ("package GOLD", {"package": "GOLD"}, {"PACKAGE_UNKNOWN"}, (REJECTED,)),
            ("slots -3", {"slots": -3}, {"SLOTS_INVALID"}, (REJECTED,)),
            ("months 0", {"months": 0}, {"MONTHS_INVALID"}, (REJECTED,)),
            ("no contact", {"email": None}, {"CONTACT_MISSING"}, (REJECTED,)),
            ("kecamatan Atlantis", {"kecamatan": ["Atlantis"]}, {"KECAMATAN_UNKNOWN"}, (REJECTED,)),
            ("slots as a string", {"slots": "5"}, {"INVALID_TYPE"}, (REJECTED,)),
            ("bad e-mail", {"email": "not-an-address"}, {"EMAIL_INVALID"}, (REJECTED,)),
        ]
        for _ in range(count):
            n = len(self.cases)
            body = self.commitment(n)
            roll = self.rng.random()
            if roll < 0.4:
                note, owed, headers = "a valid commitment", Owed.of(ACCEPTED), []
                if self.rng.random() < 0.3:
                    headers = [("x-trace", b"\xff"), ("x-null", None)]
                    note += " with odd headers"
            elif roll < 0.55:
                body["commitment_id"] = body["commitment_id"][:4] + "\u0000" + body["commitment_id"][4:]
                note, owed, headers = (
                    "commitment_id with a JSON \\u0000",
                    Owed.of(REJECTED, DEAD_LETTERED),
                    [],
                )
            else:
                note, change, codes, outcomes = self.rng.choice(invalid)
                body.update(change)
                owed, headers = Owed.of(*outcomes, codes=codes), []
            cid = body["commitment_id"]
            self.add(
                kind="commitment" if ACCEPTED in owed.outcomes else "commitment_invalid",
                topic=contracts.COMMITMENT_SUBMITTED.topic,
                key=self.rng.choice([None, cid.encode()]),
                headers=tuple(headers),
                body=self.encode(body),
                owed=owed,
                identity=("commitment", cid),
                note=note,
            )
        self.unreadable(max(1, count // 8), contracts.COMMITMENT_SUBMITTED.topic)

    # --- BPJS answers nobody asked for --------------------------------------------------------

    def answers(self, count: int) -> None:
        rng = self.rng
        for _ in range(count):
            n = len(self.cases)
            enrollment, worker = (
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            )
            confirmed = rng.random() < 0.5
            if confirmed:
                body: dict[str, Any] = {
                    "enrollment_id": enrollment,
                    "worker_id": worker,
                    "kpj_number": "12345678901",
                    "coverage_start": "2026-12-01",
                    "coverage_end": "2027-11-30",
                    "confirmed_at": "2026-11-28T00:00:00Z",
                }
            else:
                body = {
                    "enrollment_id": enrollment,
                    "worker_id": worker,
                    "reason_code": "DATA_MISMATCH",
                    "reason_message": "tidak sesuai",
                    "rejected_at": "2026-11-28T00:00:00Z",
                }
            variant = rng.choice(["unknown", "not an id", "contract", "not JSON", "odd headers"])
            headers: list[Header] = []
            if variant == "not an id":
                body["enrollment_id"] = "enr-\u0000-1"
            elif variant == "contract":
                body.pop("worker_id")
            elif variant == "odd headers":
                headers = [
                    *_ce(b"\xff" + str(n).encode(), b"/bpjs-ketenagakerjaan/kc-musi-banyuasin"),
                    ("x-null", None),
                ]
            raw = b"{not json" if variant == "not JSON" else self.encode(body)
            self.add(
                kind="bpjs_answer",
                topic=contracts.ENROLLMENT_CONFIRMED.topic
                if confirmed
                else contracts.ENROLLMENT_REJECTED.topic,
                key=worker.encode() if rng.random() < 0.8 else b"\x00",
                headers=tuple(headers),
                body=raw,
                owed=Owed.of(DEAD_LETTERED),
                note=f"a BPJS answer nobody asked for ({variant})",
            )


def generate(
    seed: int,
    *,
    registrations: int = 2000,
    commitments: int = 40,
    answers: int = 40,
    big: bool = True,
) -> FuzzRun:
    """The cases of one run, shuffled: the same for the same seed and sizes.

    `registrations` is the number of messages on the registration topic (about half valid);
    `big=False` leaves out the cases near 1-2 MiB (quick runs).
    """
    g = _Generator(seed)
    share = max(registrations, 60)
    g.valid_registrations(int(share * 0.55))
    g.ce_id_collisions(max(2, share // 100))
    g.duplicate_niks(max(2, share // 100))
    g.invalid_registrations(int(share * 0.2))
    g.unstorable_identities(max(2, share // 100))
    g.anonymous(max(2, share // 100))
    g.foreign_sources(max(4, share // 50))
    g.unreadable(max(8, int(share * 0.06)))
    g.other_versions(max(1, share // 200))
    g.repeats(max(3, int(share * 0.06)))
    g.commitments(commitments)
    g.answers(answers)
    cases = g.cases
    if not big:
        keep = {c.n for c in cases if c.body is None or len(c.body) < 512 * 1024}
        cases = [c for c in cases if c.n in keep and (c.repeat_of is None or c.repeat_of in keep)]
    order = list(range(len(cases)))
    g.rng.shuffle(order)
    return FuzzRun(seed, [cases[i] for i in order])
