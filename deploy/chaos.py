"""`make chaos`: the promise "nothing lost, nothing twice" under fire.

Two instances of each service and of the BPJS simulator take N registrations (plus poison and
duplicates) while instances are SIGKILLed and restarted at random, the Kafka broker is restarted
once and PostgreSQL once. Then, when all is quiet, the databases and topics are checked.
Prints one line and exits non-zero on any violation.

`make chaos` runs in its own database (muba_chaos, recreated each run) and topic namespace, so the
programme's own data is never touched.
"""

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from deploy.stack import ROOT, SERVICES, Stack
from shared import topics
from shared.dlq import list_dead_letters
from shared.testing import publish_json, sample_registration

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


@dataclass
class ChaosResult:
    submitted: int = 0
    valid: int = 0
    registered: int = 0
    matched_or_waitlisted: int = 0
    enrolled: int = 0
    notified: int = 0
    lost: int = 0
    duplicated: int = 0
    overcommitted: int = 0
    dead_letters: int = 0
    poison: int = 0
    kills: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"chaos: submitted={self.submitted} registered={self.registered} enrolled={self.enrolled} "
            f"notified={self.notified} lost={self.lost} duplicated={self.duplicated} "
            f"overcommitted={self.overcommitted} dead_letters={self.dead_letters}"
        )

    @property
    def ok(self) -> bool:
        return not self.problems and self.lost == 0 and self.duplicated == 0 and self.overcommitted == 0


def poison_messages() -> list[tuple[str, bytes | dict[str, Any]]]:
    """Messages that can never be processed: each must end on its topic's .dlq, nothing else."""
    return [
        (topics.REGISTRATION_SUBMITTED, b"\xff\xfe\xfa not utf-8"),
        (topics.REGISTRATION_SUBMITTED, b'{"nik": '),
        (topics.REGISTRATION_SUBMITTED, b"[1, 2, 3]"),
        (topics.REGISTRATION_SUBMITTED, b'"just a string"'),
        (topics.COMMITMENT_SUBMITTED, b"not json at all"),
        (topics.COMMITMENT_SUBMITTED, b"null"),
        (
            topics.ENROLLMENT_CONFIRMED,
            {
                "enrollment_id": "00000000-0000-4000-8000-000000000000",
                "worker_id": "00000000-0000-4000-8000-000000000001",
                "kpj_number": "12345678901",
                "coverage_start": "2026-12-01",
                "coverage_end": "2027-11-30",
                "confirmed_at": "2026-11-28T00:00:00Z",
            },
        ),
        (topics.ENROLLMENT_REJECTED, {"enrollment_id": "not-an-id"}),
    ]


def commitments(run: str, workers: int) -> list[dict[str, Any]]:
    """Slots for about 80% of the workers (some kecamatan better served than others), so some wait;
    a last commitment arrives late and drains part of the waiting list."""
    share = max(1, int(workers * 0.8) // 4)
    names = [("medco", ["04", "13"]), ("phe", ["09", "12"]), ("hindoli", ["07", "08"]), ("bsb", ["*"])]
    return [
        {
            "commitment_id": f"{name}-{run}",
            "company_id": name,
            "company_name": f"PT {name.title()}",
            "kecamatan": kec,
            "slots": share,
            "months": 12,
            "package": "JKK_JKM",
            "email": f"csr@{name}.example",
        }
        for name, kec in names
    ]


async def _reset_database(admin_url: str, database: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()
    env = {**os.environ, "MUBA_DB_NAME": database}
    await asyncio.to_thread(
        subprocess.run,
        ["bash", str(ROOT / "deploy/local/postgres.sh"), "up"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


async def _quiet(database_urls: dict[str, str], expect_registered: int, timeout_s: float) -> None:
    """Until every valid worker has reached an end state and no outbox has anything to publish."""
    deadline = time.monotonic() + timeout_s
    stable_since, last = time.monotonic(), None
    while time.monotonic() < deadline:
        snapshot = []
        try:
            for service in SERVICES:
                conn = await asyncpg.connect(database_urls[service])
                try:
                    snapshot.append(
                        await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    )
                    snapshot.append(await conn.fetchval("SELECT count(*) FROM inbox"))
                    if service == "sponsorship":
                        snapshot.append(
                            await conn.fetchval(
                                "SELECT count(*) FROM worker WHERE status IN ('waitlisted', 'enrolled', 'failed')"
                            )
                        )
                        snapshot.append(
                            await conn.fetchval("SELECT count(*) FROM enrollment WHERE status = 'requested'")
                        )
                finally:
                    await conn.close()
        except (OSError, asyncpg.PostgresError):
            await asyncio.sleep(1)
            continue
        settled = snapshot[0] == 0 and snapshot[2] == 0 and snapshot[6] == 0
        settled = settled and snapshot[4] >= expect_registered and snapshot[5] == 0
        if snapshot != last:
            stable_since, last = time.monotonic(), snapshot
        elif settled and time.monotonic() - stable_since >= 5:
            return
        await asyncio.sleep(1)
    raise TimeoutError(f"not quiet after {timeout_s:.0f} s: {last}")


async def run_chaos(
    *,
    workers: int,
    database_urls: dict[str, str],
    prefix: str,
    kills_per_service: int,
    restart_servers: bool,
    timeout_s: float = 600,
    seed: int | None = None,
    log: Callable[[str], None] = print,
) -> ChaosResult:
    """The fault-injection run itself (`make chaos` and the suite's smaller run share it)."""
    rng = random.Random(seed)
    run = f"{int(time.time() * 1000) % 10**9:x}"
    result = ChaosResult()
    started = time.monotonic()
    valid = [
        dict(
            sample_registration(i, source=f"chaos-{run}", run=rng.randrange(10**6)), declared_income_idr=None
        )
        for i in range(workers)
    ]
    niks = {v["nik"] for v in valid}
    valid = list({v["nik"]: v for v in valid}.values())  # sample data may repeat a NIK: keep one
    invalid = [
        dict(v, submission_id=f"{v['submission_id']}-bad", nik="12345")
        for v in valid[: max(1, workers // 50)]
    ]
    repeats = rng.sample(valid, k=max(1, workers // 20))
    poison = poison_messages()
    result.valid, result.poison = len(niks), len(poison)
    result.submitted = (
        len(valid)
        + len(invalid)
        + len(repeats)
        + len([p for p in poison if p[0] == topics.REGISTRATION_SUBMITTED])
    )
    env = {
        "TOPIC_PREFIX": prefix,
        "KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        "CONSUMER_BATCH_SIZE": "100",
        **{f"{s.upper()}_DATABASE_URL": url for s, url in database_urls.items()},
    }
    kills = {s: 0 for s in SERVICES}
    with Stack(env=env, log_dir=ROOT / ".cache" / "logs" / f"chaos-{run}") as stack:
        stack.start_all(instances=2)
        await asyncio.to_thread(stack.wait_ready, 90)
        log(f"chaos: {len(stack.processes)} processes up; submitting {result.submitted} registrations")
        await publish_json(
            BOOTSTRAP,
            prefix + topics.COMMITMENT_SUBMITTED,
            [(c["commitment_id"], c) for c in commitments(run, workers)],
        )
        submissions: list[tuple[str | None, Any]] = [(None, s) for s in [*valid, *invalid, *repeats]]
        rng.shuffle(submissions)
        chunks = [submissions[i::20] for i in range(20)]

        async def publish(topic: str, messages: list[tuple[str | None, Any]]) -> None:
            await _retrying(lambda: publish_json(BOOTSTRAP, prefix + topic, messages))

        async def submit() -> None:
            for i, chunk in enumerate(chunks):
                await publish(topics.REGISTRATION_SUBMITTED, chunk)
                if i == 10:
                    for topic, body in poison:
                        await publish(topic, [("poison", body)])
                await asyncio.sleep(0.3)

        async def havoc() -> None:
            plan = [s for s in SERVICES for _ in range(kills_per_service)]
            rng.shuffle(plan)
            restarts = ["kafka", "postgres"] if restart_servers else []
            slots = sorted(rng.sample(range(len(plan) + len(restarts)), len(restarts))) if restarts else []
            events: list[str] = list(plan)
            for slot, server in zip(slots, restarts, strict=True):
                events.insert(slot, server)
            for event in events:
                await asyncio.sleep(rng.uniform(0.5, 2.0))
                if event in ("kafka", "postgres"):
                    log(f"chaos: restarting {event}")
                    await asyncio.to_thread(_restart_server, event)
                    continue
                victim = rng.choice([p for p in stack.processes if p.name == event])
                stack.kill(victim)
                kills[event] += 1
                await asyncio.sleep(rng.uniform(0.1, 1.0))
                stack.start(victim.name, victim.instance)

        await asyncio.gather(submit(), havoc())
        await publish_json(
            BOOTSTRAP,
            prefix + topics.COMMITMENT_SUBMITTED,
            [
                (
                    f"late-{run}",
                    {
                        "commitment_id": f"late-{run}",
                        "company_id": "late",
                        "company_name": "PT Terlambat",
                        "kecamatan": ["*"],
                        "slots": max(1, workers // 20),
                        "months": 6,
                        "package": "JKK_JKM",
                        "email": "csr@late.example",
                    },
                )
            ],
        )
        result.kills = kills
        log(f"chaos: havoc done ({sum(kills.values())} kills); waiting for quiet")
        await _quiet(database_urls, len(valid), timeout_s)
        await _verify(result, database_urls, prefix, valid, run)
    result.seconds = time.monotonic() - started
    return result


async def _retrying(call: Callable[[], Awaitable[None]], attempts: int = 30) -> None:
    """Partners retry when the broker is away (a restart): so does the submitter."""
    for attempt in range(attempts):
        try:
            await call()
            return
        except Exception:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(1)


def _restart_server(name: str) -> None:
    script = ROOT / "deploy" / "local" / f"{name}.sh"
    subprocess.run(["bash", str(script), "down"], check=True, stdout=subprocess.DEVNULL)
    time.sleep(1)
    subprocess.run(["bash", str(script), "up"], check=True, stdout=subprocess.DEVNULL)


async def _verify(
    result: ChaosResult, urls: dict[str, str], prefix: str, valid: list[dict[str, Any]], run: str
) -> None:
    registry = await asyncpg.connect(urls["registry"])
    sponsorship = await asyncpg.connect(urls["sponsorship"])
    notifications = await asyncpg.connect(urls["notifications"])
    try:
        niks = {v["nik"] for v in valid}
        registered = {
            r["nik"]: r["worker_id"]
            for r in await registry.fetch(
                "SELECT nik, worker_id FROM worker WHERE source = $1", f"chaos-{run}"
            )
        }
        result.registered = len(registered)
        lost_registrations = niks - set(registered)
        per_submission = await registry.fetch(
            "SELECT source, submission_id, count(*) AS n FROM submission GROUP BY 1, 2 HAVING count(*) > 1"
        )
        workers = {
            r["worker_id"]: r["status"]
            for r in await sponsorship.fetch("SELECT worker_id, status FROM worker")
        }
        result.matched_or_waitlisted = sum(1 for w in registered.values() if w in workers)
        lost_in_sponsorship = [w for w in registered.values() if w not in workers]
        live = await sponsorship.fetch(
            "SELECT worker_id, count(*) AS n FROM enrollment WHERE status IN ('requested', 'confirmed') GROUP BY 1"
        )
        twice_enrolled = [r for r in live if r["n"] > 1]
        enrolled = {
            r["worker_id"]
            for r in await sponsorship.fetch("SELECT worker_id FROM enrollment WHERE status = 'confirmed'")
        }
        result.enrolled = len(enrolled)
        confirmations = {
            r["worker_id"]: r["n"]
            for r in await notifications.fetch(
                "SELECT worker_id, count(*) AS n FROM notification WHERE template = 'enrollment_confirmed'"
                " AND audience = 'worker' GROUP BY 1"
            )
        }
        result.notified = sum(1 for w in enrolled if confirmations.get(w) == 1)
        unnotified = [w for w in enrolled if w not in confirmations]
        notified_twice = [w for w, n in confirmations.items() if n > 1]
        stray = [w for w in confirmations if w not in enrolled]
        over = await sponsorship.fetch(
            "SELECT c.commitment_id FROM commitment c LEFT JOIN enrollment e ON e.commitment_id = c.commitment_id"
            " AND e.status IN ('requested', 'confirmed') GROUP BY c.commitment_id, c.slots, c.slots_used,"
            " c.budget_idr, c.budget_used_idr HAVING c.slots_used > c.slots OR c.budget_used_idr > c.budget_idr"
            " OR c.slots_used <> count(e.enrollment_id)"
        )
        result.overcommitted = len(over)
        result.lost = len(lost_registrations) + len(lost_in_sponsorship) + len(unnotified)
        result.duplicated = len(per_submission) + len(twice_enrolled) + len(notified_twice) + len(stray)
        dead = await list_dead_letters(BOOTSTRAP, None, prefix)
        # The outbox relay publishes at least once: a dead letter may sit on its topic twice.
        result.dead_letters = len(
            {
                (
                    d.original_topic,
                    d.headers.get("dlq_original_partition"),
                    d.headers.get("dlq_original_offset"),
                )
                for d in dead
            }
        )
        if result.dead_letters != result.poison:
            reasons = sorted({str(d.headers.get("dlq_reason")) for d in dead})
            result.problems.append(
                f"dead letters {result.dead_letters} != injected poison {result.poison} ({reasons})"
            )
        for name, items in [
            ("lost registrations", lost_registrations),
            ("not in sponsorship", lost_in_sponsorship),
            ("enrolled, not notified", unnotified),
            ("enrolled twice", twice_enrolled),
            ("notified twice", notified_twice),
            ("over-committed", over),
        ]:
            if items:
                result.problems.append(f"{name}: {len(items)}")
        waiting = sum(1 for s in workers.values() if s == "waitlisted")
        free = await sponsorship.fetchval("SELECT count(*) FROM commitment WHERE slots_used < slots")
        if waiting and free:
            # A worker may wait only while no commitment covering them has a free slot.
            stuck = await sponsorship.fetchval(
                "SELECT count(*) FROM worker w WHERE w.status = 'waitlisted' AND EXISTS (SELECT 1 FROM commitment c"
                " WHERE c.slots_used < c.slots AND c.budget_idr - c.budget_used_idr >= 16800 * c.months"
                " AND (c.whole_regency OR w.kecamatan_code = ANY (c.kecamatan_codes)))"
            )
            if stuck:
                result.problems.append(f"waitlisted although a covering commitment has room: {stuck}")
                result.lost += stuck
    finally:
        await registry.close()
        await sponsorship.close()
        await notifications.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="make chaos", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--workers", type=int, default=2000)
    parser.add_argument("--kills-per-service", type=int, default=5)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    database = "muba_chaos"
    admin = os.environ.get("MUBA_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/muba")
    base = admin.rsplit("/", 1)[0]
    urls = {
        s: os.environ.get(f"{s.upper()}_DATABASE_URL", f"postgresql://{s}:{s}@127.0.0.1:5432/muba").rsplit(
            "/", 1
        )[0]
        + f"/{database}"
        for s in SERVICES
    }
    del base
    asyncio.run(_reset_database(admin, database))
    result = asyncio.run(
        run_chaos(
            workers=args.workers,
            database_urls=urls,
            prefix=f"chaos{int(time.time())}.",
            kills_per_service=args.kills_per_service,
            restart_servers=True,
            seed=args.seed,
        )
    )
    print(
        f"chaos: kills {result.kills}, {result.seconds:.0f} s, {result.valid} valid workers, "
        f"{result.poison} poison messages injected"
    )
    for problem in result.problems:
        print(f"chaos: VIOLATION {problem}", file=sys.stderr)
    print(result.line())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
