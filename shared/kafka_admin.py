"""Small Kafka admin helpers: topics exist before someone assigns their partitions by hand."""

import asyncio
import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


async def ensure_topic(bootstrap_servers: str, topic: str, partitions: int = 4) -> int:
    """Create `topic` unless it exists; returns its number of partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        for _ in range(50):
            described = await admin.describe_topics([topic])
            found = described[0].get("partitions") or []
            if found and described[0].get("error_code", 0) == 0:
                return len(found)
            await asyncio.sleep(0.1)
        raise AssertionError(f"topic {topic} has no partitions")
    finally:
        await admin.close()
