"""The fault campaign's monitor reads each consumer group's progress on the topic it consumes
(deploy/chaos._group_topic): a group mapped to the wrong topic shows a lag that never moves, and
the campaign calls it wedged."""

import pytest

from deploy.chaos import _group_topic
from shared import contracts
from simulators.bpjs.settings import SimulatorSettings


@pytest.mark.parametrize(
    ("group", "topic"),
    [
        ("bpjs-simulator", contracts.ENROLLMENT_REQUESTED.topic),
        # The simulator's second subscription, in a group of its own (simulators/bpjs/app.py).
        (f"bpjs-simulator.{contracts.CONTRIBUTION_PAID.topic}", contracts.CONTRIBUTION_PAID.topic),
        (
            f"sponsorship.{contracts.CONTRIBUTION_CONFIRMED.topic}",
            contracts.CONTRIBUTION_CONFIRMED.topic,
        ),
        (f"notifications.{contracts.COVERAGE_ENDED.topic}", contracts.COVERAGE_ENDED.topic),
        ("muba-dlq-replay", None),
    ],
)
def test_each_group_is_read_on_the_topic_it_consumes(group: str, topic: str | None) -> None:
    assert _group_topic(group) == topic


def test_the_simulators_default_group_is_the_one_the_monitor_knows() -> None:
    assert SimulatorSettings().group_id == "bpjs-simulator"
