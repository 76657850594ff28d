"""`make bench-scale`: the cost per worker as the programme grows, 10,000 to 1,000,000 workers.

    python -m deploy.bench.scale [--sizes 10000,100000,1000000] [--results bench/results]

For each N, on emptied schemas and fresh topics: the stack as processes (as `make bench`), a
warm-up, then N registrations at full speed until every worker is told their enrollment is
confirmed. Measured per N: throughput, the CPU time per worker of each process and of the whole
machine, what PostgreSQL holds (each table's heap and index bytes, dead rows) and what Kafka holds
(the run's topics on disk), per worker. Then whether the per-worker cost stays flat (within 20 %
of the smallest N's). Writes bench/results/scale-<UTC time>-<commit>.json and a chart beside it.
"""

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from deploy.bench.common import BenchFailure
from deploy.bench.isolation import Isolation, other_backends
from deploy.bench.pipeline import (
    Phase,
    Watch,
    delete_topics,
    prepare_databases,
    run_phase,
    stack_env,
    stack_labels,
    start_stack,
    warm_up,
)
from deploy.bench.report import RunInfo
from deploy.bench.sampling import Completions, Sampler, TopicProbe
from deploy.bench.settings import BenchSettings
from deploy.bench.workload import BENCH_PARTNERS, Workload, bodies
from deploy.stack import ROOT, Stack
from shared import contracts
from shared.kafka_admin import provision_topics
from testkit.infra import SERVICES, Infra

FLAT = 0.20  # the per-worker cost may grow this much from the smallest N to the largest
WARMUP = 20


async def database_sizes(infra: Infra) -> dict[str, dict[str, int]]:
    """Each table of the four schemas: heap bytes, index bytes, live and dead rows."""
    sizes: dict[str, dict[str, int]] = {}
    for service in SERVICES:
        conn = await asyncpg.connect(infra.database_urls[service])
        try:
            await conn.execute("ANALYZE")
            for r in await conn.fetch(
                "SELECT s.relname, pg_relation_size(s.relid) AS heap, pg_indexes_size(s.relid) AS idx,"
                " s.n_live_tup AS live, s.n_dead_tup AS dead"
                " FROM pg_stat_user_tables s WHERE s.schemaname = current_schema() ORDER BY 1"
            ):
                sizes[f"{service}.{r['relname']}"] = {
                    "heap_bytes": int(r["heap"]),
                    "index_bytes": int(r["idx"]),
                    "live_rows": int(r["live"]),
                    "dead_rows": int(r["dead"]),
                }
        finally:
            await conn.close()
    return sizes


def kafka_bytes(prefix: str) -> int:
    """The bytes of the run's records on the broker's disk: the log segments of its topics, every
    node (not the offset and time indexes, which Kafka preallocates at 10 MB a segment)."""
    cache = Path(os.environ.get("MUBA_CACHE", ROOT / ".cache")) / "kafka"
    total = 0
    for data in [cache / "data", *cache.glob("node-*/data")]:
        for partition in data.glob(f"{prefix}*"):
            total += sum(f.stat().st_size for f in partition.glob("*.log"))
    return total


async def one_size(infra: Infra, n: int, info: RunInfo) -> dict[str, Any]:
    work = Workload.build(info.run_id, n, WARMUP, 1.0, 0.0)
    print(f"N={n}: run {info.run_id}, {work.total} registrations ready")
    isolation = Isolation(others_before_truncate=await other_backends(infra.admin_database_url, []))
    await prepare_databases(infra)
    await provision_topics(infra.kafka, info.prefix, partners=BENCH_PARTNERS)
    sampler = Sampler()
    sampler.start()
    probe = TopicProbe(infra.kafka, info.prefix)
    completions = Completions(infra.kafka, info.prefix + contracts.NOTIFICATION_SENT_V1.topic)
    watch = Watch(infra, info.prefix, sampler, probe, completions, isolation)
    full = Phase("full", n)
    try:
        with Stack(env=stack_env(infra, info.prefix), log_dir=info.log_dir) as stack:
            await start_stack(watch, stack, info.log_dir)
            await warm_up(watch, info.run_id, work)
            timeout = 60 + n / 50
            print(f"  full speed: {n} registrations (timeout {timeout:.0f} s) ...")
            await run_phase(watch, full, bodies(work.full), len(work.warmup) + n, timeout, None)
            labels = stack_labels(watch, stack, info.log_dir)
    finally:
        await watch.stop()
    print(f"    {n} workers in {full.wall_s:.1f} s ({n / full.wall_s:,.0f} workers/s)")
    cpu = {
        label: round(1000 * (full.cpu_after[label] - full.cpu_before[label]) / n, 3)
        for label in [*labels, "kafka", "postgres", "machine"]
        if label in full.cpu_after and label in full.cpu_before
    }
    tables = await database_sizes(infra)
    on_disk = kafka_bytes(info.prefix)
    with contextlib.suppress(Exception):
        await delete_topics(infra.kafka, info.prefix)
    heap = sum(t["heap_bytes"] for t in tables.values())
    index = sum(t["index_bytes"] for t in tables.values())
    in_run = work.total
    return {
        "workers": n,
        "run": info.run_id,
        "seconds": round(full.wall_s, 3),
        "workers_per_s": round(n / full.wall_s, 1),
        "cpu_ms_per_worker": cpu,
        "records_written": sum(full.records_written.values()),
        "records_per_worker": round(sum(full.records_written.values()) / n, 3),
        "postgres": {
            "heap_bytes": heap,
            "index_bytes": index,
            "bytes_per_worker": round((heap + index) / in_run, 1),
            "dead_rows": sum(t["dead_rows"] for t in tables.values()),
            "tables": tables,
        },
        "kafka": {"bytes": on_disk, "bytes_per_worker": round(on_disk / in_run, 1)},
        "isolation_warnings": isolation.warnings(),
    }


def flatness(points: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The largest N's machine CPU per worker against the smallest's."""
    first, last = points[0], points[-1]
    a, b = first["cpu_ms_per_worker"].get("machine"), last["cpu_ms_per_worker"].get("machine")
    growth = (b / a - 1) if a and b else None
    return {
        "from_workers": first["workers"],
        "to_workers": last["workers"],
        "machine_cpu_ms_per_worker": [a, b],
        "growth": None if growth is None else round(growth, 3),
        "flat_within_20_percent": growth is not None and growth <= FLAT,
        "throughput_ratio": round(last["workers_per_s"] / first["workers_per_s"], 3),
    }


def draw(path: Path, points: Sequence[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [p["workers"] for p in points]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    (tput, cpu), (pg, kafka) = axes
    tput.plot(ns, [p["workers_per_s"] for p in points], marker="o")
    tput.set_title("throughput at full speed (workers/s)")
    labels = sorted({k for p in points for k in p["cpu_ms_per_worker"]})
    for label in labels:
        cpu.plot(ns, [p["cpu_ms_per_worker"].get(label) for p in points], marker="o", label=label)
    cpu.set_title("CPU ms per worker")
    cpu.legend(fontsize=7)
    pg.plot(ns, [p["postgres"]["heap_bytes"] / p["workers"] / 1024 for p in points], marker="o", label="heap")
    pg.plot(
        ns, [p["postgres"]["index_bytes"] / p["workers"] / 1024 for p in points], marker="o", label="indexes"
    )
    pg.set_title("PostgreSQL KiB per worker")
    pg.legend(fontsize=7)
    kafka.plot(ns, [p["kafka"]["bytes_per_worker"] / 1024 for p in points], marker="o")
    kafka.set_title("Kafka KiB per worker (the run's topics on disk)")
    for ax in (tput, cpu, pg, kafka):
        ax.set_xscale("log")
        ax.set_xlabel("workers (N)")
        ax.set_ylim(0, max(ax.get_ylim()[1], 1e-9) * 1.15)
        ax.grid(True, alpha=0.3)
    fig.suptitle("muba bench-scale: the cost per worker as N grows")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_points(points: Sequence[dict[str, Any]], flat: dict[str, Any]) -> None:
    labels = sorted({k for p in points for k in p["cpu_ms_per_worker"]} - {"machine"})
    head = f"{'N':>9}{'workers/s':>11}{'machine':>9}" + "".join(f"{label[:12]:>13}" for label in labels)
    print("\nCPU ms per worker at full speed")
    print(head + f"{'PG B/worker':>13}{'Kafka B/w':>11}{'dead rows':>11}")
    for p in points:
        c = p["cpu_ms_per_worker"]
        print(
            f"{p['workers']:>9,}{p['workers_per_s']:>11,.0f}{c.get('machine', 0):>9.2f}"
            + "".join(f"{c.get(label, 0):>13.2f}" for label in labels)
            + f"{p['postgres']['bytes_per_worker']:>13,.0f}{p['kafka']['bytes_per_worker']:>11,.0f}"
            f"{p['postgres']['dead_rows']:>11,}"
        )
    growth = flat["growth"]
    print(
        f"\nper-worker machine CPU from N={flat['from_workers']:,} to N={flat['to_workers']:,}:"
        f" {'-' if growth is None else f'{100 * growth:+.1f} %'}"
        f" ({'flat within 20 %' if flat['flat_within_20_percent'] else 'NOT flat within 20 %'});"
        f" throughput ratio {flat['throughput_ratio']:.2f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.bench.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="comma-separated N (10000,100000,1000000)"
    )
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    try:
        sizes = sorted(int(s) for s in args.sizes.split(","))
    except ValueError:
        parser.error(f"--sizes: {args.sizes!r} is not a list of whole numbers")
    if not sizes or sizes[0] < 100:
        parser.error("--sizes: each N must be at least 100")
    infra = Infra.from_env()
    if infra is None:
        print("bench-scale: the servers' variables are not set: run `make bench-scale`", file=sys.stderr)
        return 1
    settings = BenchSettings()
    started = datetime.now(UTC)
    points: list[dict[str, Any]] = []
    for n in sizes:
        try:
            # RunInfo.begin outside the event loop: it asks PostgreSQL its version with asyncio.run.
            points.append(asyncio.run(one_size(infra, n, RunInfo.begin(infra, settings))))
        except BenchFailure as exc:
            print(f"\nbench-scale FAILED at N={n}: {exc}", file=sys.stderr)
            return 1
    flat = flatness(points)
    info = RunInfo.begin(infra, settings)
    report = {
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": round(time.time() - started.timestamp(), 1),
        "commit": info.commit,
        "dirty": bool(info.changed),
        "machine": info.machine,
        "consumer_batch_size": settings.consumer_batch_size,
        "points": points,
        "flatness": flat,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    stem = f"scale-{started.strftime('%Y%m%dT%H%M%SZ')}-{info.commit}"
    json_path, png_path = args.results / f"{stem}.json", args.results / f"{stem}.png"
    try:
        draw(png_path, points)
        report["chart"] = png_path.name
    except Exception as exc:  # the figures matter more than the picture
        report["chart"] = None
        print(f"note: chart not drawn: {exc!r}", file=sys.stderr)
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    print_points(points, flat)
    print(f"results: {json_path}")
    if report["chart"]:
        print(f"chart:   {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
