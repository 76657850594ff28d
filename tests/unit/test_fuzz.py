"""The fuzzer (deploy/fuzz.py): the same cases for the same seed, every case class present, and
what it says the system owes agrees with the programme's rules (checked here against the
registry's and sponsorship's pure validators, so a wrong expectation fails fast, not in an
end-to-end run)."""

import json
import os
from datetime import date

import pytest

from deploy.fuzz import ACCEPTED, DEAD_LETTERED, NOTHING, PARTNER_TOPICS, REGISTERED, REJECTED, generate
from services.registry.domain.registration import Registration, validate_from_intake
from services.sponsorship.domain import validate_commitment
from shared import contracts

SEED = int(os.environ.get("MUBA_FUZZ_SEED", "20261128"))
TODAY = date(2026, 11, 28)
KINDS = {
    "valid",
    "valid_odd_envelope",
    "valid_bpjs_refuses",
    "valid_extra_fields",
    "valid_nik_warning",
    "valid_ce_id_collision",
    "duplicate_nik",
    "invalid",
    "invalid_identity",
    "invalid_anonymous",
    "invalid_source",
    "valid_no_source",
    "unreadable",
    "other_version",
    "repeat",
    "repeat_new_envelope",
    "commitment",
    "commitment_invalid",
    "bpjs_answer",
}


def test_the_same_seed_gives_the_same_bytes_and_another_seed_others() -> None:
    a, b, c = (
        generate(SEED, registrations=400),
        generate(SEED, registrations=400),
        generate(SEED + 1, registrations=400),
    )
    assert a.cases == b.cases
    assert [x.body for x in a.cases] != [x.body for x in c.cases]


def test_every_case_class_and_every_partner_topic_is_there() -> None:
    run = generate(SEED, registrations=2000)
    assert set(run.kinds()) == KINDS
    assert {c.topic for c in run.cases} == set(PARTNER_TOPICS)
    assert all(c.key is not None or c.body is not None for c in run.cases), "Kafka takes no empty record"
    assert len(run.on(contracts.REGISTRATION_SUBMITTED.topic)) >= 1800, "thousands of messages per run"
    notes = {c.note for c in run.cases}
    for wanted in (
        "non-UTF-8 header value",
        "null header value",
        "duplicate header names",
        "NUL in the key",
        "ce_id with a NUL",
        "ce_id of 3-10 kB",
        "UTF-16 with a BOM",
        "latin-1 encoded",
        "tombstone (null value)",
        "truncated JSON",
        "NIK with a JSON \\u0000",
        "income as a string",
        "desa nested 200 deep",
    ):
        assert any(wanted in n for n in notes), wanted
    sizes = [len(c.body) for c in run.cases if c.body]
    assert any(1024 * 1024 - 4096 < s < 1024 * 1024 + 4096 for s in sizes), "a message near 1 MiB"
    assert any(2 * 1024 * 1024 - 4096 < s < 2 * 1024 * 1024 for s in sizes), "a message near 2 MiB"
    # Odd messages are mixed with valid ones: no long run of one kind in the publishing order.
    kinds = [c.kind.startswith("valid") for c in run.on(contracts.REGISTRATION_SUBMITTED.topic)]
    longest, current = 0, 0
    for k in kinds:
        current = current + 1 if k else 0
        longest = max(longest, current)
    assert longest < 40


def test_small_runs_leave_the_big_cases_out() -> None:
    run = generate(SEED, registrations=300, big=False)
    assert max(len(c.body or b"") for c in run.cases) < 512 * 1024
    assert all(c.repeat_of is None or any(o.n == c.repeat_of for o in run.cases) for c in run.cases)


def test_what_is_owed_agrees_with_the_registry_rules() -> None:
    run = generate(SEED, registrations=2000)
    wrong = []
    for case in run.on(contracts.REGISTRATION_SUBMITTED.topic):
        if case.kind in ("unreadable", "other_version", "repeat", "repeat_new_envelope"):
            continue
        assert case.body is not None
        assert case.partner is not None, "a registration goes to a partner's intake"
        result = validate_from_intake(json.loads(case.body), case.partner, today=TODAY)
        if case.owed.outcomes == {REGISTERED} or case.group:
            ok = isinstance(result, Registration)
        elif case.owed.outcomes == {REJECTED}:
            ok = not isinstance(result, Registration) and {r.code for r in result} == case.owed.codes
        else:
            continue
        if not ok:
            wrong.append((case.describe(SEED), result))
    assert wrong == []


def test_what_is_owed_agrees_with_the_sponsorship_rules() -> None:
    run = generate(SEED, registrations=300, commitments=200)
    for case in run.on(contracts.COMMITMENT_SUBMITTED.topic):
        if case.kind == "unreadable":
            assert case.owed.outcomes == {DEAD_LETTERED}
            continue
        assert case.body is not None and case.identity is not None
        result = validate_commitment(json.loads(case.body))
        if case.owed.outcomes == {ACCEPTED}:
            assert not isinstance(result, list), case.describe(SEED)
        elif case.owed.codes is not None:
            assert isinstance(result, list) and {r.code for r in result} == case.owed.codes, case.describe(
                SEED
            )


def test_repeats_point_at_an_identified_original_and_owe_nothing() -> None:
    run = generate(SEED, registrations=1000)
    by_n = {c.n: c for c in run.cases}
    repeats = [c for c in run.cases if c.repeat_of is not None]
    assert repeats
    for r in repeats:
        original = by_n[r.repeat_of]  # type: ignore[index]
        assert r.owed.outcomes == {NOTHING} and r.identity == original.identity and r.body == original.body
    exact = [r for r in repeats if r.kind == "repeat"]
    assert all((r.key, r.headers) == (by_n[r.repeat_of].key, by_n[r.repeat_of].headers) for r in exact)  # type: ignore[index]


def test_identities_and_niks_are_distinct_where_they_must_be() -> None:
    run = generate(SEED, registrations=2000)
    originals = [c for c in run.cases if c.identity and c.repeat_of is None]
    assert len({c.identity for c in originals}) == len(originals)
    workers = [c.worker for c in run.cases if c.worker and c.repeat_of is None and not c.group]
    assert len({w["nik"] for w in workers}) == len(workers)
    assert len({w["phone"] for w in workers}) == len(workers)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_case_describes_itself_with_its_seed(seed: int) -> None:
    case = generate(seed, registrations=100, big=False).cases[0]
    assert f"seed={seed} case #{case.n}" in case.describe(seed)


def test_a_repeat_goes_to_the_intake_of_its_original() -> None:
    """A re-send is the same partner's: on its original's intake, even when the body names another
    partner (make chaos found repeats of SOURCE_MISMATCH cases sent on the named partner's intake)."""
    run = generate(SEED, registrations=3000)
    by_n = {c.n: c for c in run.cases}
    repeats = [c for c in run.cases if c.repeat_of is not None]
    assert repeats
    for r in repeats:
        assert r.wire_topic == by_n[r.repeat_of].wire_topic, r.describe(SEED)
