"""A run's result: every figure as JSON in bench/results/<UTC time>-<commit>.json (the chart
beside it), the goals checked, and the table printed at the end."""

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import subprocess
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from deploy.bench.chart import draw_chart
from deploy.bench.common import (
    GOAL_CPU_MS_PER_WORKER,
    GOAL_P99_MS,
    GOAL_RSS_MB,
    GOAL_STEADY_BUSY,
    GOAL_WORKERS_PER_S,
)
from deploy.bench.limits import DEFINITION, Limit
from deploy.bench.pipeline import Phase, PipelineRun
from deploy.bench.sampling import consumer_profile
from deploy.bench.settings import BenchSettings
from deploy.bench.tracing import Trace, phase_latencies, timeline
from deploy.stack import ROOT
from testkit.infra import Infra

# --- what the run is ----------------------------------------------------------------------------


def versions(infra: Infra, kafka_libs: Path) -> dict[str, str]:
    found = {"python": platform.python_version()}
    jars = sorted(kafka_libs.glob("kafka_2.13-*.jar"))
    found["kafka"] = jars[0].name.removeprefix("kafka_2.13-").removesuffix(".jar") if jars else "unknown"

    async def postgres() -> str:
        conn = await asyncpg.connect(infra.admin_database_url)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    try:
        found["postgres"] = asyncio.run(postgres())
    except Exception:
        found["postgres"] = "unknown"
    for package in ("aiokafka", "asyncpg", "faststream"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "unknown"
    return found


def git_commit() -> tuple[str, list[str]]:
    """The short commit and the tracked files that differ from it (read-only: no index refresh)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return commit, [line[3:] for line in status.splitlines() if line.strip()]
    except (OSError, subprocess.CalledProcessError):
        return "unknown", []


@dataclass
class RunInfo:
    """Which run this is: its id and topic prefix, when, on which commit and machine."""

    run_id: str
    prefix: str
    started_at: datetime
    log_dir: Path
    commit: str
    changed: list[str]
    machine: dict[str, Any]

    @classmethod
    def begin(cls, infra: Infra, settings: BenchSettings) -> "RunInfo":
        started_at = datetime.now(UTC)
        run_id = f"{uuid.uuid4().hex[:8]}"
        commit, changed = git_commit()
        machine: dict[str, Any] = {
            "cpu_count": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(),
            **versions(infra, settings.kafka_libs),
        }
        log_dir = ROOT / ".cache" / "logs" / f"bench-{run_id}"
        return cls(run_id, f"bench{run_id}.", started_at, log_dir, commit, changed, machine)


# --- the figures ----------------------------------------------------------------------------------


def process_figures(run: PipelineRun) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    labels = [*run.labels, "kafka", "postgres", "bench", "machine"]
    for label in labels:
        entry: dict[str, float] = {}
        if label in run.sampler.peak_rss_mb:
            entry["peak_rss_mb"] = round(run.sampler.peak_rss_mb[label], 1)
        for phase in (run.full, run.steady):
            if label in phase.cpu_after and label in phase.cpu_before:
                cpu = phase.cpu_after[label] - phase.cpu_before[label]
                entry[f"cpu_s_{phase.name}"] = round(cpu, 2)
                entry[f"cpu_share_{phase.name}"] = round(cpu / phase.wall_s, 3) if phase.wall_s > 0 else 0.0
                entry[f"cpu_ms_per_worker_{phase.name}"] = round(1000 * cpu / max(phase.workers, 1), 3)
        figures[label] = entry
    return figures


def phase_section(phase: Phase, traces: list[Trace], prefix: str) -> dict[str, Any]:
    """Throughput from the first submission to the last notification, latencies, records, consumers."""
    first = min((t.submitted for t in traces if t.submitted is not None), default=None)
    last = max((t.notified for t in traces if t.notified is not None), default=None)
    seconds = (last - first) / 1000 if first is not None and last is not None else phase.wall_s
    return {
        "workers": phase.workers,
        "seconds": round(seconds, 3),
        "workers_per_s": round(phase.workers / seconds, 1) if seconds > 0 else None,
        "publish_seconds": round(phase.all_acked - phase.first_send, 3),
        "offered_per_s": round(phase.workers / max(phase.all_acked - phase.first_send, 1e-9), 1),
        "latency": phase_latencies(traces),
        "records_written": {t: n for t, n in phase.records_written.items() if n},
        "pg_commits_database_wide": phase.pg_commits,
        "consumers": consumer_profile(phase.stats_before, phase.stats_after, prefix, phase.wall_s),
    }


def goals(
    rate: float,
    pipeline_wps: float,
    steady_p99: Any,
    cpu_ms_per_worker: float | None,
    steady_busy: float | None,
    stack_rss: dict[str, float],
) -> dict[str, dict[str, Any]]:
    return {
        "throughput >= 1000 workers/s": {
            "target": ">= 1000 workers/s",
            "value": pipeline_wps,
            "met": pipeline_wps >= GOAL_WORKERS_PER_S,
        },
        "machine CPU <= 2 ms per worker": {
            "target": "<= 2 ms",
            "value": cpu_ms_per_worker,
            "met": cpu_ms_per_worker is not None and cpu_ms_per_worker <= GOAL_CPU_MS_PER_WORKER,
        },
        f"p99 <= 150 ms at {rate:g}/s": {
            "target": "<= 150 ms",
            "value": steady_p99,
            "met": steady_p99 is not None and steady_p99 <= GOAL_P99_MS,
        },
        f"machine <= 25 % busy at {rate:g}/s": {
            "target": "<= 25 %",
            "value": None if steady_busy is None else round(100 * steady_busy, 1),
            "met": steady_busy is not None and steady_busy <= GOAL_STEADY_BUSY,
        },
        "peak RSS <= 120 MB per process": {
            "target": "<= 120 MB each",
            "value": max(stack_rss.values(), default=0.0),
            "met": all(v <= GOAL_RSS_MB for v in stack_rss.values()),
        },
    }


def anomalies(run: PipelineRun, duplicates: Counter[str], sections: dict[str, dict[str, Any]]) -> list[str]:
    found = run.isolation.warnings()
    if duplicates:
        found.append(f"events seen more than once per worker: {dict(duplicates)}")
    for name in ("full", "steady"):
        incomplete = sections[name]["latency"]["workers_incomplete"]
        if incomplete:
            found.append(f"{name}: {incomplete} workers without a complete trace")
        for consumer, c in sections[name]["consumers"].items():
            if c.get("retries") or c.get("dead_lettered"):
                found.append(
                    f"{name}: {consumer}: retries {c.get('retries')}, dead letters {c.get('dead_lettered')}"
                )
    return found


def run_section(info: RunInfo) -> dict[str, Any]:
    finished = datetime.now(UTC)
    return {
        "id": info.run_id,
        "topic_prefix": info.prefix,
        "started_at": info.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "finished_at": finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": round((finished - info.started_at).total_seconds(), 1),
        "commit": info.commit,
        "dirty": bool(info.changed),
        "uncommitted_changes": info.changed,
        "logs": str(info.log_dir),
    }


def parameters(args: argparse.Namespace, settings: BenchSettings) -> dict[str, Any]:
    return {
        "workers": args.workers,
        "rate": args.rate,
        "steady_seconds": args.steady_seconds,
        "warmup": args.warmup,
        "log_level": settings.log_level,
        "consumer_batch_size": settings.consumer_batch_size,
        "simulator_delay_ms": 0,
        "latency_source": "Kafka record timestamps (CreateTime: when each producer sent the record)",
    }


def build_report(
    args: argparse.Namespace,
    settings: BenchSettings,
    info: RunInfo,
    run: PipelineRun,
    limit: Limit,
    traces: dict[str, Trace],
    duplicates: Counter[str],
) -> dict[str, Any]:
    by_phase: dict[str, list[Trace]] = {}
    for trace in traces.values():
        by_phase.setdefault(trace.phase, []).append(trace)
    sections = {
        p.name: phase_section(p, by_phase.get(p.name, []), info.prefix) for p in (run.full, run.steady)
    }
    sections["full"]["timeline"] = timeline(by_phase.get("full", []))
    pipeline_wps = sections["full"]["workers_per_s"] or 0.0
    processes = process_figures(run)
    steady_p99 = sections["steady"]["latency"]["end_to_end_ms"]["p99"]
    stack_rss = {label: processes[label].get("peak_rss_mb", 0.0) for label in run.labels}
    found_anomalies = anomalies(run, duplicates, sections)
    machine = processes.get("machine", {})
    cpu_ms = machine.get("cpu_ms_per_worker_full")
    cores = info.machine.get("cpu_count") or 1
    steady_busy = machine["cpu_share_steady"] / cores if "cpu_share_steady" in machine else None
    limit_section = limit.section(pipeline_wps, cpu_ms)
    if limit_section["share"] > 1:
        found_anomalies.append(
            f"the pipeline ran at {100 * limit_section['share']:.1f} % of the limit: the limit program"
            " is meant to beat it (a noisy machine during the limit's runs?)"
        )
    return {
        "run": run_section(info),
        "machine": info.machine,
        "parameters": parameters(args, settings),
        "full_speed": sections["full"],
        "steady": sections["steady"],
        "processes": processes,
        "limit": limit_section,
        "goals": goals(args.rate, pipeline_wps, steady_p99, cpu_ms, steady_busy, stack_rss),
        "isolation": {
            "other_clients_before_truncate": run.isolation.others_before_truncate,
            "other_clients_during_run": run.isolation.others_during_run,
            "own_outbox_relay_is_leader": run.isolation.relay_leader,
        },
        "anomalies": found_anomalies,
        "notes": [
            "end_to_end_sent_at_ms uses the notification's sent_at, which is the created_at of its row: "
            "the start of the notifications consumer's batch transaction, not its commit",
            "CPU figures of postgres and machine include anything else running on this machine",
        ],
    }


def write_results(
    report: dict[str, Any], results: Path, info: RunInfo, traces: dict[str, Trace], run: PipelineRun
) -> tuple[Path, Path]:
    """The JSON and the chart beside it; a chart that cannot be drawn is an anomaly, not a failure."""
    results.mkdir(parents=True, exist_ok=True)
    stem = f"{info.started_at.strftime('%Y%m%dT%H%M%SZ')}-{info.commit}"
    json_path, png_path = results / f"{stem}.json", results / f"{stem}.png"
    report["chart"] = png_path.name
    try:
        draw_chart(png_path, report, traces, run)
    except Exception as exc:  # the figures matter more than the picture
        report["chart"] = None
        report["anomalies"].append(f"chart not drawn: {exc!r}")
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    return json_path, png_path


# --- the printed table ----------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def print_table(report: dict[str, Any]) -> None:
    print()
    _print_run(report)
    print()
    _print_latencies(report["parameters"], report["full_speed"], report["steady"])
    print()
    _print_throughput(report["full_speed"], report["limit"])
    print()
    _print_processes(report["processes"], report["full_speed"])
    print()
    for name, goal in report["goals"].items():
        print(
            f"  goal {name:<34} {goal['target']:<16} {_fmt(goal['value'], 1):>10}  {'MET' if goal['met'] else 'NOT MET'}"
        )
    print()


def _print_run(report: dict[str, Any]) -> None:
    m, p, steady = report["machine"], report["parameters"], report["steady"]
    print(
        f"muba bench  {report['run']['started_at']}  commit {report['run']['commit']}"
        f"{' (dirty)' if report['run']['dirty'] else ''}  {m['cpu_count']} CPUs  python {m['python']}"
        f"  kafka {m['kafka']}  postgres {m['postgres']}"
    )
    print(
        f"N={p['workers']} full speed, then {p['rate']:g}/s for {p['steady_seconds']:g} s"
        f" ({steady['workers']} workers); LOG_LEVEL={p['log_level']}"
    )


def _print_latencies(p: dict[str, Any], full: dict[str, Any], steady: dict[str, Any]) -> None:
    e2e_f, e2e_s = full["latency"]["end_to_end_ms"], steady["latency"]["end_to_end_ms"]
    print(f"{'end to end (ms)':<28}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    for label, lat in (("full speed", e2e_f), (f"steady {p['rate']:g}/s", e2e_s)):
        print(f"  {label:<26}" + "".join(f"{_fmt(lat[k], 0):>9}" for k in ("p50", "p95", "p99", "max")))
    print(f"{'stage (ms) p50 / p99':<28}{'full':>18}{'steady':>18}")
    for stage in full["latency"]["stages_ms"]:
        a, b = full["latency"]["stages_ms"][stage], steady["latency"]["stages_ms"][stage]
        print(
            f"  {stage:<26}{_fmt(a['p50']) + ' / ' + _fmt(a['p99']):>18}"
            f"{_fmt(b['p50']) + ' / ' + _fmt(b['p99']):>18}"
        )


def _print_throughput(full: dict[str, Any], limit: dict[str, Any]) -> None:
    print(
        f"throughput (full speed)     {full['workers_per_s']:,.1f} workers/s  ({full['workers']} in "
        f"{full['seconds']:.1f} s; published in {full['publish_seconds']:.2f} s)"
        f"  machine CPU {_fmt(limit['pipeline_cpu_ms_per_worker'], 2)} ms per worker"
    )
    runs = ", ".join(f"{r['workers_per_s']:,.0f}" for r in limit["runs"])
    best = max(limit["runs"], key=lambda r: r["workers_per_s"])
    print(
        f"the limit (same work, best) {limit['limit_workers_per_s']:,.1f} workers/s  (runs: {runs}; Kafka"
        f" {best['kafka_seconds']:.1f} s, PostgreSQL {best['postgres_seconds']:.1f} s at once)"
        f"  machine CPU {_fmt(limit['limit_cpu_ms_per_worker'], 2)} ms per worker"
    )
    print(
        f"  per worker: {limit['records_per_worker']:.2f} Kafka records of {limit['record_bytes']} bytes,"
        f" {limit['rows_per_worker']:.2f} rows kept; {limit['batch_workers']} workers per transaction"
    )
    print(f"share of the limit          {100 * limit['share']:.1f} %")
    print(f"  {DEFINITION}")


def _print_processes(processes: dict[str, dict[str, float]], full: dict[str, Any]) -> None:
    print(
        f"{'process':<16}{'peak RSS MB':>12}{'CPU s full':>12}{'CPU % full':>12}{'ms/worker':>11}"
        f"{'CPU % steady':>14}{'ms/worker':>11}"
    )
    for label, f in processes.items():
        print(
            f"  {label:<14}{_fmt(f.get('peak_rss_mb'), 1):>12}{_fmt(f.get('cpu_s_full'), 1):>12}"
            f"{_fmt(100 * f['cpu_share_full'] if 'cpu_share_full' in f else None, 0):>12}"
            f"{_fmt(f.get('cpu_ms_per_worker_full'), 2):>11}"
            f"{_fmt(100 * f['cpu_share_steady'] if 'cpu_share_steady' in f else None, 0):>14}"
            f"{_fmt(f.get('cpu_ms_per_worker_steady'), 2):>11}"
        )
    print(f"{'consumer (full speed)':<54}{'busy %':>8}{'rec/batch':>11}{'ms/rec':>8}")
    for name, c in full["consumers"].items():
        busy = _fmt(100 * c["busy_share"], 0) if "busy_share" in c else "-"
        per = _fmt(c.get("handler_ms_per_record"), 2)
        print(f"  {name:<52}{busy:>8}{c['records_per_batch']:>11}{per:>8}")


def print_summary(report: dict[str, Any], json_path: Path, png_path: Path) -> None:
    print_table(report)
    print(f"results: {json_path}")
    if report["chart"]:
        print(f"chart:   {png_path}")
    for anomaly in report["anomalies"]:
        print(f"note: {anomaly}")
