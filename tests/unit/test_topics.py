"""shared/topics.py's catalogue: every topic the code names is provisioned, every consumed topic
has its dead-letter topic, sizes fit what we send, and the replication rule (pure, no servers)."""

import ast
from pathlib import Path

import pytest

from shared import topics
from shared.kafka_admin import min_insync_for, replication_for

ROOT = Path(__file__).resolve().parents[2]
# Where a process names the topics it consumes: a service's app.py subscribes to every topic it
# names; the BPJS simulator consumes the one it keeps as `request_topic`.
SUBSCRIBERS = {
    "registry": ROOT / "services" / "registry" / "app.py",
    "sponsorship": ROOT / "services" / "sponsorship" / "app.py",
    "notifications": ROOT / "services" / "notifications" / "app.py",
}
SIMULATOR = ROOT / "simulators" / "bpjs" / "simulator.py"


def _topic_constants(node: ast.AST) -> set[str]:
    return {
        getattr(topics, n.attr)
        for n in ast.walk(node)
        if isinstance(n, ast.Attribute)
        and isinstance(n.value, ast.Name)
        and n.value.id == "topics"
        and isinstance(getattr(topics, n.attr, None), str)
        and n.attr.isupper()
    }


def consumed_topics() -> dict[str, set[str]]:
    found = {name: _topic_constants(ast.parse(path.read_text())) for name, path in SUBSCRIBERS.items()}
    simulator: set[str] = set()
    for node in ast.walk(ast.parse(SIMULATOR.read_text())):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Attribute) and t.attr == "request_topic" for t in node.targets
        ):
            simulator |= _topic_constants(node.value)
    found["bpjs-simulator"] = simulator
    return found


def test_every_consumed_topic_is_catalogued_with_its_consumer_and_its_dead_letter_topic() -> None:
    by_name = {spec.name: spec for spec in topics.CATALOGUE}
    consumed = consumed_topics()
    assert all(consumed.values()), f"no subscriptions found: {consumed}"
    for consumer, names in consumed.items():
        for name in names:
            assert name in by_name, f"{consumer} consumes {name}, which is not in the catalogue"
            assert consumer in by_name[name].consumed_by, f"{name}: consumed_by misses {consumer}"
            assert topics.dead_letter_topic(name) in by_name, f"{name} has no .dlq in the catalogue"
    # And the other way round: nothing claims a consumer that does not consume it.
    for spec in topics.CATALOGUE:
        for consumer in spec.consumed_by:
            assert spec.name in consumed[consumer], f"{spec.name}: {consumer} does not consume it"


def test_every_topic_name_is_catalogued_once() -> None:
    names = [spec.name for spec in topics.CATALOGUE]
    assert len(names) == len(set(names))
    constants = {
        value
        for key, value in vars(topics).items()
        if key.isupper() and isinstance(value, str) and "." in value
    } - {topics.DEAD_LETTER_SUFFIX}
    assert constants <= set(names), sorted(constants - set(names))


def test_sizes_fit_what_partners_publish_and_what_a_dead_letter_adds() -> None:
    for spec in topics.CATALOGUE:
        assert spec.max_message_bytes >= topics.RECORD_MAX_BYTES, spec.name
        if spec.name.endswith(topics.DEAD_LETTER_SUFFIX):
            original = topics.spec_for(spec.name.removesuffix(topics.DEAD_LETTER_SUFFIX))
            assert original is not None
            assert spec.max_message_bytes >= original.max_message_bytes + topics.DEAD_LETTER_HEADERS_MAX_BYTES
            assert spec.partitions == original.partitions, "a dead letter keeps its key's partition order"
    partner = [spec.name for spec in topics.CATALOGUE if spec.partner_facing]
    assert sorted(partner) == sorted([topics.REGISTRATION_SUBMITTED, topics.COMMITMENT_SUBMITTED])


def test_catalogue_entries_are_found_under_any_prefix() -> None:
    dlq = topics.dead_letter_topic(topics.REGISTRATION_SUBMITTED)
    assert topics.spec_for("t1." + dlq, "t1.") == topics.find_spec("t1." + dlq)
    found = topics.find_spec("t1." + dlq)
    assert found is not None and found.name == dlq  # the .dlq, not the topic it ends with a prefix of
    assert topics.find_spec("t1." + topics.REGISTRATION_SUBMITTED) == topics.spec_for(
        topics.REGISTRATION_SUBMITTED
    )
    assert topics.find_spec("foundation-1234") is None
    assert topics.spec_for(dlq, "t1.") is None


@pytest.mark.parametrize(("brokers", "expected"), [(1, (1, 1)), (2, (2, 1)), (3, (3, 2)), (5, (3, 2))])
def test_replication_follows_the_cluster(brokers: int, expected: tuple[int, int]) -> None:
    assert replication_for(brokers) == expected


def test_min_insync_never_exceeds_what_a_topic_can_reach() -> None:
    assert [min_insync_for(r) for r in (1, 2, 3, 4)] == [1, 1, 2, 2]
