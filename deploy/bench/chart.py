"""The PNG beside a run's JSON: latency CDF and histogram, workers past each event over time at
full speed, and CPU per process over the whole run."""

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploy.bench.common import GOAL_P99_MS, GOAL_WORKERS_PER_S
from deploy.bench.pipeline import PipelineRun
from deploy.bench.sampling import Sampler
from deploy.bench.tracing import Trace, percentiles

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def cpu_series(sampler: Sampler, labels: Sequence[str]) -> dict[str, list[tuple[float, float]]]:
    """CPU use of each process between consecutive samples, in % of one core."""
    series: dict[str, list[tuple[float, float]]] = {label: [] for label in labels}
    if not sampler.samples:
        return series
    origin = sampler.samples[0].t
    for before, after in zip(sampler.samples, sampler.samples[1:], strict=False):
        dt = after.t - before.t
        if dt <= 0.05:
            continue
        for label in labels:
            if label in before.cpu_s and label in after.cpu_s:
                used = 100 * (after.cpu_s[label] - before.cpu_s[label]) / dt
                series[label].append((after.t - origin, used))
    return series


def draw_chart(path: Path, report: dict[str, Any], traces: dict[str, Trace], run: PipelineRun) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    fig.suptitle(
        f"muba bench {report['run']['started_at']} ({report['run']['commit']}): "
        f"{report['parameters']['workers']} workers, {report['machine']['cpu_count']} CPUs",
        fontsize=11,
    )
    _latency(axes[0][0], axes[0][1], traces, report["parameters"]["rate"])
    _flow(axes[1][0], report["full_speed"])
    _cpu(axes[1][1], run)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _latency(cdf: "Axes", hist: "Axes", traces: dict[str, Trace], rate: float) -> None:
    for phase, colour in (("full", "tab:red"), ("steady", "tab:blue")):
        values = sorted(
            float(t.notified - t.submitted)
            for t in traces.values()
            if t.phase == phase and t.notified is not None and t.submitted is not None
        )
        if values:
            ys = [(i + 1) / len(values) for i in range(len(values))]
            cdf.plot(values, ys, color=colour, label=f"{phase} (p99 {percentiles(values)['p99']} ms)")
        if phase == "steady" and values:
            hist.hist(values, bins=60, color=colour, alpha=0.8)
            hist.axvline(GOAL_P99_MS, color="black", linestyle="--", label=f"goal p99 {GOAL_P99_MS:.0f} ms")
            p99 = percentiles(values)["p99"]
            if p99 is not None:
                hist.axvline(float(p99), color="tab:orange", label=f"p99 {p99} ms")
    cdf.axvline(GOAL_P99_MS, color="black", linestyle="--", linewidth=0.8)
    cdf.set_xscale("log")
    cdf.set_xlabel("submission -> enrollment_confirmed notification (ms, log)")
    cdf.set_ylabel("share of workers")
    cdf.set_title("end-to-end latency, CDF")
    cdf.grid(True, which="both", alpha=0.3)
    cdf.legend()
    hist.set_title(f"end-to-end latency at {rate:g} workers/s")
    hist.set_xlabel("ms")
    hist.set_ylabel("workers")
    hist.legend()


def _flow(flow: "Axes", full_speed: dict[str, Any]) -> None:
    # Cumulative workers past each point: the slope is the throughput, batches do not make it jagged.
    line = full_speed["timeline"]
    workers = full_speed["workers"]
    for name, values in line["series"].items():
        total, counts = 0.0, [0.0]
        for rate in values:
            total += rate * line["bin_s"]
            counts.append(total)
        flow.plot([i * line["bin_s"] for i in range(len(counts))], counts, label=name)
    goal_s = workers / GOAL_WORKERS_PER_S
    flow.plot([0, goal_s], [0, workers], color="black", linestyle="--", linewidth=0.8, label="goal: 500/s")
    flow.set_title(f"full speed: workers past each event ({full_speed['workers_per_s']} workers/s)")
    flow.set_xlabel("s since the first submission")
    flow.set_ylabel("workers (cumulative)")
    flow.grid(True, alpha=0.3)
    flow.legend()


def _cpu(cpu: "Axes", run: PipelineRun) -> None:
    series = cpu_series(run.sampler, [*run.labels, "kafka", "postgres", "bench"])
    origin = run.sampler.samples[0].t if run.sampler.samples else 0.0
    for label, points in series.items():
        if points:
            cpu.plot([p[0] for p in points], [p[1] for p in points], label=label, linewidth=1)
    for shaded, colour in ((run.full, "tab:red"), (run.steady, "tab:blue")):
        cpu.axvspan(shaded.first_send - origin, shaded.done - origin, color=colour, alpha=0.08)
    cpu.set_title("CPU per process (% of one core; shaded: full speed, steady)")
    cpu.set_xlabel("s since the stack started")
    cpu.grid(True, alpha=0.3)
    cpu.legend(fontsize=8)
