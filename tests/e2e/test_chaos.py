"""A small fault-injection run in the suite: a few hundred workers, two instances of every
service, SIGKILLs at random moments; nothing lost, nothing twice (`make chaos` is the full one)."""

from deploy.chaos import run_chaos
from shared.testing import Infra
from tests.support import truncate_schema


async def test_nothing_lost_nothing_twice_under_kills(infra: Infra, topic_prefix: str) -> None:
    for service in ("registry", "sponsorship", "notifications"):
        await truncate_schema(infra, service)
    result = await run_chaos(
        workers=300,
        database_urls=infra.database_urls,
        prefix=topic_prefix,
        kills_per_service=2,
        restart_servers=False,
        timeout_s=240,
        seed=20261128,
    )
    print(result.line(), result.kills, f"{result.seconds:.0f} s")
    assert result.problems == []
    assert (result.lost, result.duplicated, result.overcommitted) == (0, 0, 0)
    assert result.registered == result.valid and result.enrolled > 0 and result.notified == result.enrolled
    assert result.dead_letters == result.poison
    assert sum(result.kills.values()) == 6
