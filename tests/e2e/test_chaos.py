"""The fault campaign, smaller (`make chaos` is the full one): two instances of every service,
the fuzzer's messages in waves, and every fault class the suite may inject on shared servers —
SIGKILL and SIGSTOP of every kind of process (relay leaders included), restarts under new
instance ids, scale out/in, a clock step, a late commitment, and the database cut, read-only
and refusing the services' logins (per database). The independent checker must find nothing
lost, nothing twice, nothing wrong, and nothing wedged. MUBA_FUZZ_SEED replays a failure."""

import os

from deploy.chaos import FAULT_CLASSES, Settings, run_campaign
from testkit.infra import Infra
from tests.support import truncate_schema

SEED = int(os.environ.get("MUBA_FUZZ_SEED", "20261129"))


async def test_nothing_lost_nothing_twice_under_faults(infra: Infra, topic_prefix: str) -> None:
    for service in ("registry", "sponsorship", "notifications"):
        await truncate_schema(infra, service)
    settings = Settings(
        seed=SEED,
        registrations=600,
        commitments=20,
        answers=20,
        big=False,
        instances=2,
        faults=tuple(f for f in FAULT_CLASSES if f != "broker"),  # the suite's broker is shared
        stop_s=(28.0, 32.0),
        read_only_s=10.0,
        credentials_s=8.0,
        wedge_after_s=25.0,
        recover_timeout_s=90.0,
        budget_s=330.0,
        pg_mode="database",  # the suite's PostgreSQL may be shared: faults per database only
        broker_mode="off",
    )
    result = await run_campaign(
        settings, database_urls=infra.database_urls, admin_url=infra.admin_database_url, prefix=topic_prefix
    )
    print(result.report())
    assert result.verdict.ok, f"seed={SEED} (set MUBA_FUZZ_SEED={SEED} to replay)\n{result.verdict.explain()}"
    assert result.wedged == []
    assert [f.name for f in result.faults if f.unrecovered] == []
    assert all(f.injected > 0 for f in result.faults), [f.line() for f in result.faults]
    figures = result.verdict.figures
    assert figures["enrolled"] > 0 and figures["bpjs_rejected"] > 0
