"""The benchmark's limit program and scale figures: the pure parts (tests/unit: no servers)."""

import pytest

from deploy.bench.limits import DurableWork, KeptTable, Limit, row_range
from deploy.bench.scale import flatness


@pytest.mark.parametrize(
    ("total", "workers", "batch"), [(10_000, 10_000, 200), (1, 10_000, 200), (37, 10, 3), (0, 5, 2)]
)
def test_the_batches_write_each_row_once(total: int, workers: int, batch: int) -> None:
    written = [
        i
        for first in range(0, workers, batch)
        for i in row_range(total, workers, first, min(first + batch, workers))
    ]
    assert written == list(range(total))


def _work() -> DurableWork:
    tables = (KeptTable("registry", "worker", 1.0, 300), KeptTable("sponsorship", "commitment", 0.0001, 200))
    return DurableWork(
        workers=10_000, records=90_000, record_bytes=700, headers=[], tables=tables, batch_workers=200
    )


def test_the_faster_run_of_the_limit_counts_and_gives_the_share() -> None:
    runs = [
        {"workers_per_s": 2000.0, "cpu_ms_per_worker": 1.5},
        {"workers_per_s": 2500.0, "cpu_ms_per_worker": 1.2},
    ]
    section = Limit(_work(), runs).section(pipeline_wps=500.0, pipeline_cpu_ms=6.0)
    assert section["limit_workers_per_s"] == 2500.0
    assert section["limit_cpu_ms_per_worker"] == 1.2
    assert section["share"] == 0.2
    assert section["rows"] == 10_001 and section["records_per_worker"] == 9.0


def _point(n: int, machine_ms: float, wps: float) -> dict[str, object]:
    return {"workers": n, "workers_per_s": wps, "cpu_ms_per_worker": {"machine": machine_ms}}


def test_flat_means_within_20_percent_of_the_smallest_n() -> None:
    assert flatness([_point(10_000, 5.0, 400), _point(100_000, 5.9, 380)])["flat_within_20_percent"]
    grown = flatness([_point(10_000, 5.0, 400), _point(1_000_000, 6.5, 300)])
    assert (
        not grown["flat_within_20_percent"] and grown["growth"] == 0.3 and grown["throughput_ratio"] == 0.75
    )
