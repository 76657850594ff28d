"""Prometheus metrics of one service process (its own registry, so tests can run several)."""

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import registry as prometheus_registry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from shared.consumer import MessageProcessor
from shared.relay import RelayStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _ConsumerStats(prometheus_registry.Collector):
    def __init__(
        self,
        processors: Sequence[MessageProcessor],
        published: Callable[[], Mapping[str, int]],
        relay: Callable[[], RelayStats] | None = None,
    ) -> None:
        self.processors = processors
        self.published = published
        self.relay = relay

    def collect(self) -> Iterable[Metric]:
        consumed = CounterMetricFamily(
            "muba_messages_consumed", "Messages consumed, by outcome", labels=["consumer", "topic", "outcome"]
        )
        retries = CounterMetricFamily(
            "muba_batch_retries", "Batches retried after a transient error", labels=["consumer"]
        )
        failing = GaugeMetricFamily(
            "muba_consumer_failing_seconds",
            "How long the batch in hand has been failing (0 while healthy): transient errors retry it",
            labels=["consumer"],
        )
        now = time.monotonic()
        for p in self.processors:
            since = p.stats.failing_since
            failing.add_metric([p.consumer], 0.0 if since is None else now - since)
            for outcome, value in (
                ("processed", p.stats.processed),
                ("duplicate", p.stats.duplicates),
                ("dead_lettered", p.stats.dead_lettered),
            ):
                consumed.add_metric([p.consumer, p.topic, outcome], value)
            retries.add_metric([p.consumer], p.stats.retries)
        yield consumed
        yield retries
        yield failing
        published = CounterMetricFamily(
            "muba_messages_published",
            "Events published to Kafka by this process's outbox relay",
            labels=["topic"],
        )
        for topic, count in sorted(self.published().items()):
            published.add_metric([topic], count)
        yield published
        if self.relay is None:
            return
        stats = self.relay()
        for name, help_text, value in (
            ("muba_outbox_rows_parked", "Outbox rows this process's relay parked", stats.parked),
            (
                "muba_outbox_send_failures",
                "Outbox rows whose send failed and is retried",
                stats.send_failures,
            ),
            (
                "muba_outbox_producer_restarts",
                "Kafka producers replaced after a failed send (a broken idempotent sequence)",
                stats.producer_restarts,
            ),
            ("muba_outbox_leads_lost", "Times this process's relay lost the lead", stats.leads_lost),
        ):
            counter = CounterMetricFamily(name, help_text)
            counter.add_metric([], value)
            yield counter


class ServiceMetrics:
    def __init__(
        self,
        processors: Sequence[MessageProcessor],
        published: Callable[[], Mapping[str, int]],
        relay: Callable[[], RelayStats] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.batch_seconds = Histogram(
            "muba_handler_batch_seconds",
            "Time to process one batch in one transaction",
            ["consumer"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.message_seconds = Histogram(
            "muba_handler_message_seconds",
            "Batch time per message",
            ["consumer"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "muba_outbox_backlog", "Outbox rows not yet published (parked ones apart)", registry=self.registry
        )
        self.outbox_parked = Gauge(
            "muba_outbox_parked",
            "Outbox rows parked: never sendable as they are, waiting for an operator (muba outbox parked)",
            registry=self.registry,
        )
        self.outbox_oldest_pending = Gauge(
            "muba_outbox_oldest_pending_seconds",
            "Age of the oldest outbox row waiting to be published (0 when none)",
            registry=self.registry,
        )
        self.outbox_leader_present = Gauge(
            "muba_outbox_leader_present",
            "1 when some relay (of any process) holds this schema's outbox lock",
            registry=self.registry,
        )
        self.outbox_relay_leader = Gauge(
            "muba_outbox_relay_leader", "1 when this process's relay is the leader", registry=self.registry
        )
        self.ready = Gauge(
            "muba_ready", "1 when the service is ready (as /readyz says)", registry=self.registry
        )
        self.lag = Gauge(
            "muba_consumer_lag",
            "Records on an assigned partition not yet consumed (high watermark - position)",
            ["group", "topic", "partition"],
            registry=self.registry,
        )
        self.assigned = Gauge(
            "muba_consumer_assigned_partitions",
            "Partitions assigned to this process",
            ["group"],
            registry=self.registry,
        )
        self.scheduled_runs = Counter(
            "muba_scheduled_runs",
            "Scheduled job runs of this process (shared/scheduler.py), by outcome: ran, failed",
            ["job", "outcome"],
            registry=self.registry,
        )
        self.registry.register(_ConsumerStats(processors, published, relay))
        self._service_gauges: dict[str, Gauge] = {}

    def gauge(self, name: str, help_text: str) -> Gauge:
        """A service's own gauge (ServiceRuntime.gauges), made on first use."""
        if name not in self._service_gauges:
            self._service_gauges[name] = Gauge(name, help_text, registry=self.registry)
        return self._service_gauges[name]

    def observe_scheduled_run(self, job: str, outcome: str) -> None:
        self.scheduled_runs.labels(job, outcome).inc()

    def observe_batch(self, consumer: str, seconds: float, messages: int) -> None:
        self.batch_seconds.labels(consumer).observe(seconds)
        if messages:
            self.message_seconds.labels(consumer).observe(seconds / messages)

    def observe_outbox(self, checks: Mapping[str, Any]) -> None:
        """The outbox's gauges from a readiness check (shared.runtime.ServiceRuntime.ready)."""
        if "outbox_backlog" in checks:
            self.outbox_backlog.set(checks["outbox_backlog"])
            self.outbox_parked.set(checks["outbox_parked"])
            self.outbox_oldest_pending.set(checks["outbox_oldest_pending_s"] or 0)
            self.outbox_leader_present.set(1 if checks["outbox_leader_present"] else 0)
        self.outbox_relay_leader.set(1 if checks.get("outbox_relay_leader") else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
