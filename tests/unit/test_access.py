"""shared/access.py, the ACL table, checked against the topic catalogue and against the intent
written out here by hand: who may read the workers' personal data, and that a partner can write
its own intake and nothing else (pure: the brokers enforce these, tests/infra checks they do)."""

from collections.abc import Sequence

import pytest

from shared import access, contracts, topics
from shared.access import Grant
from shared.dlq import REPLAY_GROUP as DLQ_REPLAY_GROUP

PARTNERS = ("desa-online", "kud-sekayu")
PREFIXES = ("", "t1.")
# The catalogue's name of each principal that consumes and publishes.
PROCESSES = {"registry": "registry", "sponsorship": "sponsorship", "notifications": "notifications"}
PROCESSES[access.BPJS] = "bpjs-simulator"


def table(prefix: str = "") -> tuple[Grant, ...]:
    return access.grants(prefix, PARTNERS)


def universe(prefix: str = "") -> list[str]:
    """Every topic the system has with PARTNERS, as named on the brokers."""
    return [prefix + spec.name for spec in topics.catalogue(PARTNERS)]


def allowed(grants: Sequence[Grant], principal: str, operation: str, resource: str, name: str) -> bool:
    """What the StandardAuthorizer decides: deny unless an ALLOW ACL matches (LITERAL: the name
    itself, PREFIXED: every name starting so). Super users are not asked here."""
    return any(
        g.principal == principal
        and g.operation == operation
        and g.resource == resource
        and (g.name == name if g.pattern == "LITERAL" else name.startswith(g.name))
        for g in grants
    )


def readable(principal: str, prefix: str = "") -> set[str]:
    grants = table(prefix)
    return {t for t in universe(prefix) if allowed(grants, principal, "READ", "TOPIC", t)}


def writable(principal: str, prefix: str = "") -> set[str]:
    grants = table(prefix)
    return {t for t in universe(prefix) if allowed(grants, principal, "WRITE", "TOPIC", t)}


def intakes(prefix: str = "") -> set[str]:
    return {prefix + topics.intake_topic(p) for p in PARTNERS}


def dlq(names: set[str]) -> set[str]:
    return {topics.dead_letter_topic(n) for n in names}


def consumed(process: str, prefix: str = "") -> set[str]:
    found = {prefix + s.name for s in topics.EVENT_TOPICS if process in s.consumed_by}
    return found | (intakes(prefix) if process == "registry" else set())


def published(process: str, prefix: str = "") -> set[str]:
    return {prefix + s.name for s in topics.EVENT_TOPICS if s.published_by == process}


# --- services and the BPJS side -------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("principal", sorted(PROCESSES))
def test_each_process_reads_exactly_what_it_consumes(principal: str, prefix: str) -> None:
    wanted = consumed(PROCESSES[principal], prefix)
    assert wanted, f"{principal} consumes nothing?"
    assert readable(principal, prefix) == wanted


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("principal", sorted(PROCESSES))
def test_each_process_writes_what_it_publishes_and_the_dead_letters_of_what_it_reads(
    principal: str, prefix: str
) -> None:
    process = PROCESSES[principal]
    wanted = published(process, prefix) | dlq(consumed(process, prefix))
    assert published(process, prefix), f"{principal} publishes nothing?"
    assert writable(principal, prefix) == wanted


def test_the_consumers_by_hand() -> None:
    """The same rule, spelled out: a change to the catalogue that widens a reader shows here."""
    assert readable("registry") == intakes()
    assert readable("sponsorship") == {
        contracts.COMMITMENT_SUBMITTED.topic,
        contracts.WORKER_REGISTERED.topic,
        contracts.WORKER_FUNDED_ELSEWHERE.topic,
        contracts.ENROLLMENT_CONFIRMED.topic,
        contracts.ENROLLMENT_REJECTED.topic,
        contracts.PAYMENT_SUBMITTED.topic,
        contracts.CONTRIBUTION_CONFIRMED.topic,
        contracts.COMMITMENT_EXTENSION_SUBMITTED.topic,
    }
    assert readable("notifications") == {
        contracts.REGISTRATION_REJECTED.topic,
        contracts.WORKER_WAITLISTED.topic,
        contracts.ENROLLMENT_COMPLETED.topic,
        contracts.ENROLLMENT_FAILED.topic,
        contracts.INVOICE_ISSUED.topic,
        contracts.INVOICE_REMINDER.topic,
        contracts.COVERAGE_ENDING.topic,
        contracts.COVERAGE_EXTENDED.topic,
        contracts.COVERAGE_ENDED.topic,
    }
    assert readable(access.BPJS) == {contracts.ENROLLMENT_REQUESTED.topic, contracts.CONTRIBUTION_PAID.topic}
    assert writable(access.BPJS) == {
        contracts.ENROLLMENT_CONFIRMED.topic,
        contracts.ENROLLMENT_REJECTED.topic,
        contracts.CONTRIBUTION_CONFIRMED.topic,
        topics.dead_letter_topic(contracts.ENROLLMENT_REQUESTED.topic),
        topics.dead_letter_topic(contracts.CONTRIBUTION_PAID.topic),
    }
    assert writable("registry") == {
        contracts.WORKER_REGISTERED.topic,
        contracts.REGISTRATION_REJECTED.topic,
        contracts.WORKER_FUNDED_ELSEWHERE.topic,
        *dlq(intakes()),
    }


@pytest.mark.parametrize("prefix", PREFIXES)
def test_consumer_groups_are_each_principals_own(prefix: str) -> None:
    grants = table(prefix)
    groups = {
        "registry": prefix + f"registry.{contracts.REGISTRATION_SUBMITTED.topic}",
        "sponsorship": prefix + f"sponsorship.{contracts.WORKER_REGISTERED.topic}",
        "notifications": prefix + f"notifications.{contracts.ENROLLMENT_FAILED.topic}",
        access.BPJS: prefix + "bpjs-simulator",
        # `muba dlq` commits in the one group shared/dlq.py names, whatever TOPIC_PREFIX is.
        access.OPERATOR: DLQ_REPLAY_GROUP,
    }
    everyone = [*groups, *(topics.partner_principal(p) for p in PARTNERS)]
    for principal in everyone:
        for owner, group in groups.items():
            assert allowed(grants, principal, "READ", "GROUP", group) == (principal == owner), (
                principal,
                group,
            )
    # A prefix's groups are its own: another namespace's are not covered.
    other = "t2." if prefix != "t2." else "t3."
    for owner, group in groups.items():
        if owner != access.OPERATOR:
            assert not allowed(grants, owner, "READ", "GROUP", other + group.removeprefix(prefix))


# --- partners -------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("partner", PARTNERS)
def test_a_partner_writes_only_its_own_intake_and_reads_nothing(partner: str, prefix: str) -> None:
    principal = topics.partner_principal(partner)
    assert writable(principal, prefix) == {prefix + topics.intake_topic(partner)}
    assert readable(principal, prefix) == set()
    grants = table(prefix)
    assert not any(g.principal == principal and g.resource == "GROUP" for g in grants)
    assert not any(g.principal == principal and g.operation == "READ" for g in grants)
    # Not the other partner's, not one whose name merely starts with its own, not an unprefixed one.
    for other in ("kud-sekayu-2", "desa", "desa-online-palsu", "x"):
        assert not allowed(grants, principal, "WRITE", "TOPIC", prefix + topics.intake_topic(other))
    if prefix:
        assert not allowed(grants, principal, "WRITE", "TOPIC", topics.intake_topic(partner))


def test_a_partner_adds_only_its_own_grants() -> None:
    before = set(access.grants("", ("desa-online",)))
    after = set(access.grants("", ("desa-online", "kud-sekayu")))
    added = after - before
    assert added == set(access.partner_grants("kud-sekayu"))
    principals = {g.principal for g in added}
    # The partner itself, and the services that handle its intake; nobody else gains anything.
    assert principals <= {"partner-kud-sekayu", "registry", access.OPERATOR}
    assert "partner-kud-sekayu" in principals
    intake = topics.intake_topic("kud-sekayu")
    assert all(g.name in (intake, topics.dead_letter_topic(intake)) for g in added)


def test_partner_names_are_checked() -> None:
    for bad in ("Desa", "mitra:kud-sekayu", "csv upload", "", "a" * 64, "-x"):
        with pytest.raises(ValueError):
            access.partner_grants(bad)


# --- the workers' personal data ---------------------------------------------------------------

# Who needs each topic that carries NIKs, names, birth dates or phone numbers: its consumer only;
# its dead letters are for the office (the `operator`, who replays them) only.
PERSONAL_DATA_READERS = {
    contracts.WORKER_REGISTERED.topic: {"sponsorship"},
    contracts.REGISTRATION_REJECTED.topic: {"notifications"},
    contracts.ENROLLMENT_REQUESTED.topic: {access.BPJS},
    contracts.ENROLLMENT_COMPLETED.topic: {"notifications"},
    contracts.ENROLLMENT_FAILED.topic: {"notifications"},
    # KPJ numbers (the member's number at BPJS), with the worker id and month.
    contracts.CONTRIBUTION_PAID.topic: {access.BPJS},
    contracts.CONTRIBUTION_CONFIRMED.topic: {"sponsorship"},
    **{topics.intake_topic(p): {"registry"} for p in PARTNERS},
}


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("topic", sorted(PERSONAL_DATA_READERS))
def test_personal_data_is_readable_only_by_who_needs_it(topic: str, prefix: str) -> None:
    grants = table(prefix)
    assert access.readers_of(prefix + topic, grants) == PERSONAL_DATA_READERS[topic]
    letters = prefix + topics.dead_letter_topic(topic)
    assert access.readers_of(letters, grants) == {access.OPERATOR}


def test_every_topic_is_read_by_its_consumers_and_no_one_else() -> None:
    grants = table()
    for spec in topics.catalogue(PARTNERS):
        readers = access.readers_of(spec.name, grants)
        if spec.name.endswith(topics.DEAD_LETTER_SUFFIX):
            assert readers == {access.OPERATOR}, spec.name
        elif spec.name in {c.topic for c in contracts.FEED}:
            assert readers == {access.SUBSCRIBER}, spec.name  # the public feed: subscribers only
        else:
            expected = {p for p, process in PROCESSES.items() if process in spec.consumed_by}
            assert readers == expected, spec.name


def test_subscribers_read_the_public_feed_and_nothing_else() -> None:
    feed = {c.topic for c in contracts.FEED}
    assert readable(access.SUBSCRIBER) == feed
    mine = [g for g in table() if g.principal == access.SUBSCRIBER]
    assert {(g.resource, g.operation) for g in mine} == {("TOPIC", "READ"), ("GROUP", "READ")}
    assert [g.name for g in mine if g.resource == "GROUP"] == ["subscriber."]
    # Nothing personal on what they read: no field of a feed event names a person.
    for contract in contracts.FEED:
        fields = set(contract.model.model_fields)
        assert not fields & {
            "nik",
            "nik_masked",
            "full_name",
            "phone",
            "birth_date",
            "kpj_number",
            "worker_id",
        }


def test_outside_the_catalogue_no_one_reads() -> None:
    grants = table()
    for name in ("registry.worker-registered.v2", "payroll.salaries.v1", "__consumer_offsets", "t2.x"):
        assert access.readers_of(name, grants) == set(), name


# --- operators and super users ------------------------------------------------------------------


def test_operators_submit_commitments_and_look_after_dead_letters() -> None:
    replayable = {s.name for s in topics.catalogue(PARTNERS) if s.consumed_by}
    assert readable(access.OPERATOR) == dlq(replayable)
    # Commitments only: a replay (back into a consumed topic or an intake) is admin's, so the office
    # CLI's credentials forge no event and no partner.
    # and record companies' payments on their behalf (no company writes the topic itself)
    assert writable(access.OPERATOR) == {
        contracts.COMMITMENT_SUBMITTED.topic,
        contracts.PAYMENT_SUBMITTED.topic,
        contracts.COMMITMENT_EXTENSION_SUBMITTED.topic,
    }
    grants = table()
    assert allowed(grants, access.OPERATOR, "READ", "GROUP", topics.REPLAY_GROUP)


def test_super_users_have_no_acls_and_every_principal_has_a_password() -> None:
    grants = table()
    assert not any(g.principal in access.SUPER_USERS for g in grants)
    assert set(access.PRINCIPALS) >= {*access.SUPER_USERS, *access.SERVICES, access.BPJS, access.OPERATOR}
    named = {g.principal for g in grants}
    assert named <= set(access.PRINCIPALS) | {topics.partner_principal(p) for p in PARTNERS}


def test_grants_only_allow_reading_and_writing() -> None:
    for g in table("t1."):
        assert g.operation in ("READ", "WRITE")
        assert g.resource in ("TOPIC", "GROUP")
        if (g.principal, g.resource) != (access.OPERATOR, "GROUP"):
            assert g.name.startswith("t1."), g  # a prefix's table reaches no other namespace
        assert g.name not in ("", "t1.", "*"), g  # nothing matches everything


def test_the_table_for_the_readme() -> None:
    shown = access.markdown_table()
    lines = shown.splitlines()
    assert lines[0].startswith("| principal | writes | reads |")
    for principal in (*access.SERVICES, access.BPJS, access.OPERATOR):
        assert any(line.startswith(f"| `{principal}` |") for line in lines), principal
    partner_rows = [line for line in lines if line.startswith("| `partner-")]
    assert len(partner_rows) == 1 and "registration-submitted.v1." in partner_rows[0]
    assert access.main(["table"]) == 0
    assert access.main([]) == 2


def test_the_readme_shows_the_acl_table_of_the_code() -> None:
    """The README's table is what operators review: it must be the one provisioning creates."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert access.markdown_table() in readme, "README's ACL table is stale: python -m shared.access table"
