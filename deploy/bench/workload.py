"""What the benchmark generates and publishes: valid registrations at the income floor, one
whole-regency commitment with a slot for every worker, and a partner producer that sends them."""

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from deploy.bench.common import BenchFailure
from shared import validation
from shared.kafka_security import KafkaConnection, kafka_producer
from testkit.samples import sample_registration

# NIK serials the simulator treats as "not in Dukcapil" / "already a member", and the invalid one.
RESERVED_SERIALS = frozenset({"0000", "9998", "9999"})

# Each phase submits as a partner of its own (its intake topic; the registry's `source`).
BENCH_PARTNERS: Final = ("bench-warmup", "bench-full", "bench-steady")


class Registrations:
    """Valid registrations for one run: testkit.samples.sample_registration at the income floor,
    with the NIK made unique within the run and never one of the serials the simulator rejects
    (sample_registration gives serial 9998, "already a member", about once in 10,000)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.next_index = 0
        self.niks: set[str] = set()
        self.reassigned = 0

    def take(self, count: int, phase: str) -> list[dict[str, Any]]:
        out = []
        for _ in range(count):
            i = self.next_index
            self.next_index += 1
            registration = dict(
                sample_registration(i, source=f"bench-{phase}", run=self.seed), declared_income_idr=None
            )
            registration["nik"] = self._unique(str(registration["nik"]))
            out.append(registration)
        return out

    def _unique(self, nik: str) -> str:
        original, serial = nik, int(nik[12:])
        while nik in self.niks or nik[12:] in RESERVED_SERIALS:
            serial = serial % 9997 + 1  # 0001 .. 9997
            nik = nik[:12] + f"{serial:04d}"
            if nik == original:
                raise BenchFailure("ran out of NIK serials: too many workers for one run")
        self.reassigned += nik != original
        self.niks.add(nik)
        return nik


@dataclass
class Workload:
    """The registrations of each phase of one run, taken in this order from one `Registrations`."""

    warmup: list[dict[str, Any]]
    full: list[dict[str, Any]]
    steady: list[dict[str, Any]]
    reassigned: int

    @classmethod
    def build(cls, run: str, workers: int, warmup: int, rate: float, steady_seconds: float) -> "Workload":
        regs = Registrations(int(run[-4:], 16))
        return cls(
            warmup=regs.take(warmup, "warmup"),
            full=regs.take(workers, "full"),
            steady=regs.take(round(rate * steady_seconds), "steady"),
            reassigned=regs.reassigned,
        )

    @property
    def total(self) -> int:
        return len(self.warmup) + len(self.full) + len(self.steady)


def commitments(run: str, slots: int) -> list[dict[str, Any]]:
    """Commitments for `slots` workers in all, none above the largest a company may offer (as
    at scale: many sponsors)."""
    sizes = [min(validation.MAX_SLOTS, slots - start) for start in range(0, slots, validation.MAX_SLOTS)]
    return [
        {
            "commitment_id": f"bench-{run}-{i}",
            "company_id": f"bench-sponsor-{i}",
            "company_name": f"PT Sponsor Uji Beban {i}",
            "kecamatan": ["*"],
            "slots": size,
            "months": 12,
            "package": "JKK_JKM",
            "email": f"csr{i}@sponsor-uji.example",
        }
        for i, size in enumerate(sizes, 1)
    ]


def bodies(registrations: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(r).encode() for r in registrations]


async def publish(
    kafka: KafkaConnection, topic: str, bodies: Sequence[bytes], rate: float | None = None
) -> tuple[float, float]:
    """Publish plain JSON bodies without a key, as partner systems do: as fast as one idempotent
    acks=all producer can, or `rate` per second evenly spaced. Returns (first send, all acked)."""
    producer = kafka_producer(kafka, client_id="muba-bench-partner")
    await producer.start()
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        first = time.time()
        futures = []
        for i, body in enumerate(bodies):
            if rate:
                delay = start + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            futures.append(await producer.send(topic, value=body))
        await asyncio.gather(*futures)
        return first, time.time()
    finally:
        await producer.stop()
