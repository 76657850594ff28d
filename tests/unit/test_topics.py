"""shared/topics.py's catalogue: every topic the code names is provisioned, every consumed topic
has its dead-letter topic, sizes fit what we send, and the replication rule (pure, no servers)."""

import re

import pytest

from shared import contracts, topics
from shared.kafka_admin import min_insync_for, replication_for
from tests.unit.test_contracts import service_apps

# Any partner: the catalogue of a system with this one partner has its intake and dead letters.
PARTNER = "desa-online"


def consumed_topics() -> dict[str, set[str]]:
    """consumer -> the topics its app subscribes to (the partners' intakes as PARTNER's intake)."""
    found: dict[str, set[str]] = {}
    for name, app in service_apps().items():
        subscribed: set[str] = set()
        for subscriber in app.broker.subscribers:
            subscribed |= {t.name if hasattr(t, "name") else str(t) for t in subscriber.topics}
            if subscriber._pattern == topics.intake_pattern():
                subscribed.add(topics.intake_topic(PARTNER))
        found[name] = subscribed
    return found


def test_every_consumed_topic_is_catalogued_with_its_consumer_and_its_dead_letter_topic() -> None:
    by_name = {spec.name: spec for spec in topics.catalogue((PARTNER,))}
    consumed = consumed_topics()
    assert all(consumed.values()), f"no subscriptions found: {consumed}"
    # The registry reads the partners' intakes, one per partner, and nothing else.
    assert consumed["registry"] == {topics.intake_topic(PARTNER)}
    for consumer, names in consumed.items():
        for name in names:
            assert name in by_name, f"{consumer} consumes {name}, which is not in the catalogue"
            assert consumer in by_name[name].consumed_by, f"{name}: consumed_by misses {consumer}"
            assert topics.dead_letter_topic(name) in by_name, f"{name} has no .dlq in the catalogue"
    # And the other way round: nothing claims a consumer that does not consume it.
    for spec in by_name.values():
        for consumer in spec.consumed_by:
            assert spec.name in consumed[consumer], f"{spec.name}: {consumer} does not consume it"


def test_every_topic_name_is_catalogued_once() -> None:
    names = [spec.name for spec in topics.catalogue((PARTNER, "kud-sekayu"))]
    assert len(names) == len(set(names))
    constants = {
        value
        for key, value in vars(topics).items()
        if key.isupper() and isinstance(value, str) and "." in value
    } - {topics.DEAD_LETTER_SUFFIX}
    # REGISTRATION_SUBMITTED is no topic of its own any more: the stem of every partner's intake.
    assert contracts.REGISTRATION_SUBMITTED.topic not in names
    assert constants - {contracts.REGISTRATION_SUBMITTED.topic} <= set(names), sorted(constants - set(names))
    intakes = [n for n in names if n.startswith(contracts.REGISTRATION_SUBMITTED.topic)]
    assert sorted(intakes) == sorted(
        [
            topics.intake_topic(PARTNER),
            topics.dead_letter_topic(topics.intake_topic(PARTNER)),
            topics.intake_topic("kud-sekayu"),
            topics.dead_letter_topic(topics.intake_topic("kud-sekayu")),
        ]
    )


def test_sizes_fit_what_partners_publish_and_what_a_dead_letter_adds() -> None:
    for spec in topics.catalogue((PARTNER,)):
        assert spec.max_message_bytes >= topics.RECORD_MAX_BYTES, spec.name
        if spec.name.endswith(topics.DEAD_LETTER_SUFFIX):
            original = topics.spec_for(spec.name.removesuffix(topics.DEAD_LETTER_SUFFIX))
            assert original is not None
            assert spec.max_message_bytes >= original.max_message_bytes + topics.DEAD_LETTER_HEADERS_MAX_BYTES
            assert spec.partitions == original.partitions, "a dead letter keeps its key's partition order"
    partner = [spec.name for spec in topics.catalogue((PARTNER,)) if spec.partner_facing]
    assert sorted(partner) == sorted(
        [
            topics.intake_topic(PARTNER),
            contracts.COMMITMENT_SUBMITTED.topic,
            contracts.PAYMENT_SUBMITTED.topic,
            contracts.COMMITMENT_EXTENSION_SUBMITTED.topic,
        ]
    )


def test_catalogue_entries_are_found_under_any_prefix() -> None:
    for topic in (topics.intake_topic(PARTNER), contracts.WORKER_REGISTERED.topic):
        dlq = topics.dead_letter_topic(topic)
        assert topics.spec_for("t1." + dlq, "t1.") == topics.find_spec("t1." + dlq)
        found = topics.find_spec("t1." + dlq)
        assert found is not None and found.name == dlq  # the .dlq, not the topic it ends with a prefix of
        assert found.max_message_bytes == topics.DEAD_LETTER_MAX_BYTES
        plain = topics.find_spec("t1." + topic)
        assert plain is not None and plain == topics.spec_for(topic) and plain.name == topic
        assert topics.spec_for(dlq, "t1.") is None
    assert topics.find_spec("foundation-1234") is None
    # The intakes' stem is no topic; nor is an intake of a name no partner may have.
    assert topics.find_spec("t1." + contracts.REGISTRATION_SUBMITTED.topic) is None
    assert topics.spec_for(contracts.REGISTRATION_SUBMITTED.topic + ".Not_A_Partner") is None


def test_partner_intakes_and_their_names() -> None:
    assert topics.intake_topic("desa-online") == "registry.registration-submitted.v1.desa-online"
    assert topics.partner_principal("desa-online") == "partner-desa-online"
    assert topics.partner_of("t1.registry.registration-submitted.v1.desa-online", "t1.") == "desa-online"
    assert topics.partner_of("registry.registration-submitted.v1.desa-online.dlq") is None
    assert topics.partner_of(contracts.WORKER_REGISTERED.topic) is None
    for bad in ("", "Desa", "-desa", "desa_online", "desa.online", "mitra:kud-sekayu", "d" * 64):
        with pytest.raises(ValueError):
            topics.intake_topic(bad)
        with pytest.raises(ValueError):
            topics.partner_principal(bad)
    assert topics.intake_topic("d" * 63).endswith("." + "d" * 63)
    # The registry's subscription: every partner's intake under its prefix, never a dead-letter topic.
    pattern = re.compile(topics.intake_pattern("t1."))
    assert pattern.fullmatch("t1." + topics.intake_topic("kud-sekayu"))
    assert not pattern.fullmatch("t1." + topics.dead_letter_topic(topics.intake_topic("kud-sekayu")))
    assert not pattern.fullmatch(topics.intake_topic("kud-sekayu"))  # another prefix's
    assert not pattern.fullmatch("t2." + topics.intake_topic("kud-sekayu"))
    assert not pattern.fullmatch("t1x" + topics.intake_topic("kud-sekayu"))  # the '.' is literal
    assert not pattern.fullmatch("t1." + contracts.REGISTRATION_SUBMITTED.topic + "xkud-sekayu")


def test_used_by_holds_what_a_service_reads_and_writes() -> None:
    registry = {spec.name for spec in topics.used_by("registry")}
    assert registry == {
        contracts.WORKER_REGISTERED.topic,
        contracts.REGISTRATION_REJECTED.topic,
        contracts.WORKER_FUNDED_ELSEWHERE.topic,
    }
    sponsorship = {spec.name for spec in topics.used_by("sponsorship")}
    assert topics.dead_letter_topic(contracts.WORKER_REGISTERED.topic) in sponsorship
    assert (
        contracts.COMMITMENT_SUBMITTED.topic in sponsorship
        and contracts.ENROLLMENT_REQUESTED.topic in sponsorship
        and contracts.CONTRIBUTION_PAID.topic in sponsorship
        and topics.dead_letter_topic(contracts.CONTRIBUTION_CONFIRMED.topic) in sponsorship
    )


@pytest.mark.parametrize(("brokers", "expected"), [(1, (1, 1)), (2, (2, 1)), (3, (3, 2)), (5, (3, 2))])
def test_replication_follows_the_cluster(brokers: int, expected: tuple[int, int]) -> None:
    assert replication_for(brokers) == expected


def test_min_insync_never_exceeds_what_a_topic_can_reach() -> None:
    assert [min_insync_for(r) for r in (1, 2, 3, 4)] == [1, 1, 2, 2]
