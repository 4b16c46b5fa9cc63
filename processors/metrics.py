"""Prometheus metrics of a processor worker."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from mmstream.core.health import Health, HealthServer
from mmstream.core.health import serve as serve_health


class ProcessorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.records_in = Counter(
            "mmstream_processor_records_in", "Records consumed", ["agent"], registry=r
        )
        self.records_out = Counter(
            "mmstream_processor_records_out",
            "Derived records sent",
            ["agent", "topic"],
            registry=r,
        )
        self.lag = Gauge(
            "mmstream_processor_lag",
            "Records not yet processed on the agent's assigned input partitions (sum)",
            ["agent"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "mmstream_processor_consumer_lag",
            "End offset minus committed offset of an assigned input partition",
            ["topic", "partition"],
            registry=r,
        )
        self.lag_sampled = Gauge(
            "mmstream_processor_lag_sampled_timestamp_seconds",
            "Wall-clock time (epoch s) at which the lag figures were last read from the broker",
            registry=r,
        )
        self.last_processed = Gauge(
            "mmstream_processor_last_processed_timestamp_seconds",
            "Wall-clock time (epoch s) at which the agent last finished processing records",
            ["agent"],
            registry=r,
        )
        self.stalled = Gauge(
            "mmstream_processor_agent_stalled",
            "1 while the agent has input waiting (lag) and processed nothing for stall_after_s",
            ["agent"],
            registry=r,
        )
        self.dead_letters = Counter(
            "mmstream_processor_dead_letters",
            "Records sent to the processors' dead-letter topic",
            ["agent", "reason"],
            registry=r,
        )
        self.key_failures = Counter(
            "mmstream_processor_key_failures",
            "Timed per-key steps (deadlines, ticks) that raised; the key keeps its state",
            ["agent"],
            registry=r,
        )
        self.emergency_active = Gauge(
            "mmstream_processor_emergency_active",
            "1 while an emergency scope is on (set by the worker owning the emergency state)",
            ["scope"],
            registry=r,
        )
        self.unmapped = Counter(
            "mmstream_processor_unmapped_games",
            "Score records for games without a fixture mapping",
            ["provider"],
            registry=r,
        )
        self.table_size = Gauge(
            "mmstream_processor_table_keys", "Keys held in a state table", ["table"], registry=r
        )

    def serve(self, port: int, health: Health, host: str = "0.0.0.0") -> HealthServer:
        """`/metrics`, `/healthz` and `/readyz` on `port`."""
        return serve_health(health, self.registry, port, host)
