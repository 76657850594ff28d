"""`python -m deploy.bench`: the options, and the order of a run (the package docstring is --help)."""

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

import deploy.bench
from deploy.bench.common import BenchFailure
from deploy.bench.limits import measure_limit
from deploy.bench.pipeline import delete_topics, run_pipeline
from deploy.bench.report import RunInfo, build_report, print_summary, write_results
from deploy.bench.settings import BenchSettings
from deploy.bench.tracing import follow_workers
from deploy.stack import ROOT
from testkit.infra import Infra


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.bench",
        description=deploy.bench.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workers", type=int, default=10_000, help="registrations at full speed (10000)")
    parser.add_argument("--rate", type=float, default=50.0, help="steady offered load, workers/s (50)")
    parser.add_argument("--steady-seconds", type=float, default=20.0, help="length of the steady phase (20)")
    parser.add_argument("--warmup", type=int, default=20, help="workers sent through before measuring (20)")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds the full-speed phase may take (60 + N/20)"
    )
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results", help="where to write")
    parser.add_argument("--keep-topics", action="store_true", help="keep the run's Kafka topics")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a goal is not met")
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= 50_000:
        parser.error("--workers must be between 1 and 50000")
    if args.rate <= 0 or args.steady_seconds <= 0 or args.rate * args.steady_seconds < 1:
        parser.error("--rate and --steady-seconds must offer at least one worker")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = BenchSettings()
    infra = Infra.from_env()
    if infra is None:
        print(
            "bench: KAFKA_BOOTSTRAP_SERVERS, MUBA_ADMIN_DATABASE_URL and the *_DATABASE_URL variables are "
            "not set: run `make bench`, or `make infra-up` and export what `make env` prints",
            file=sys.stderr,
        )
        return 1
    info = RunInfo.begin(infra, settings)
    print(f"muba bench: run {info.run_id}, topics {info.prefix}*, {args.workers} workers at full speed")
    try:
        run = asyncio.run(run_pipeline(args, infra, info.run_id, info.prefix, info.log_dir))
        traces, duplicates = follow_workers(run.records)
        limit = measure_limit(infra, run, info.prefix, info.run_id, settings.consumer_batch_size)
    except BenchFailure as exc:
        print(f"\nbench FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep_topics:
            with contextlib.suppress(Exception):
                asyncio.run(delete_topics(infra.kafka, info.prefix))
    report = build_report(args, settings, info, run, limit, traces, duplicates)
    json_path, png_path = write_results(report, args.results, info, traces, run)
    print_summary(report, json_path, png_path)
    missed = [name for name, goal in report["goals"].items() if not goal["met"]]
    return 2 if args.strict and missed else 0
