"""The fuzzer's messages against the running stack, no faults: every message is accounted for
by the independent checker (registered, rejected with the owed reasons, dead-lettered, or
nothing new for a repeat) and nothing is wedged. Seeded: MUBA_FUZZ_SEED replays a failure."""

import os

from deploy.chaos import Settings, run_campaign
from testkit.infra import Infra
from tests.support import truncate_schema

SEED = int(os.environ.get("MUBA_FUZZ_SEED", "20261128"))


async def test_every_fuzzed_message_is_accounted_for(infra: Infra, topic_prefix: str) -> None:
    for service in ("registry", "sponsorship", "notifications"):
        await truncate_schema(infra, service)
    settings = Settings(
        seed=SEED,
        registrations=1000,
        commitments=30,
        answers=30,
        instances=1,
        faults=(),
        pg_mode="off",
        broker_mode="off",
        wedge_after_s=45,
        recover_timeout_s=120,
        budget_s=300,
    )
    result = await run_campaign(
        settings, database_urls=infra.database_urls, admin_url=infra.admin_database_url, prefix=topic_prefix
    )
    print(result.report())
    assert result.verdict.ok, f"seed={SEED} (set MUBA_FUZZ_SEED={SEED} to replay)\n{result.verdict.explain()}"
    assert result.wedged == []
    figures = result.verdict.figures
    assert figures["workers_registered"] > 300 and figures["enrolled"] > 0 and figures["bpjs_rejected"] > 0
