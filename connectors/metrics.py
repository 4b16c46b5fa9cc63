"""Prometheus metrics of a connector process, served on an HTTP port."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mmstream.core.health import CheckResult, Health, HealthServer
from mmstream.core.health import serve as serve_health

SESSION_STATES = ("connecting", "subscribed", "streaming", "backing_off", "stopped")
READY_STATE = "streaming"  # subscribed, and any REST resync done


class LastMessageAge(Collector):
    """`..._last_message_age_seconds{feed,channel}`, computed at scrape time."""

    def __init__(self, feed: str) -> None:
        self.feed = feed
        self.last_seen: dict[str, float] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "mmstream_connector_last_message_age_seconds",
            "Seconds since the last message on each channel",
            labels=["feed", "channel"],
        )
        now = time.time()
        for channel, seen in sorted(self.last_seen.items()):
            family.add_metric([self.feed, channel], now - seen)
        yield family


class ConnectorMetrics:
    """Every metric a connector exposes; one registry per process."""

    def __init__(self, feed: str) -> None:
        self.feed = feed
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "mmstream_connector_messages_received",
            "Feed messages received",
            ["feed", "channel"],
            registry=r,
        )
        self.published = Counter(
            "mmstream_connector_records_published",
            "Records acknowledged by Kafka",
            ["feed", "topic"],
            registry=r,
        )
        self.dlq = Counter(
            "mmstream_connector_dlq",
            "Messages sent to the dead-letter topic",
            ["feed", "reason"],
            registry=r,
        )
        self.frames = Counter(
            "mmstream_connector_frames",
            "Frames handled, by outcome: published, dead_lettered, control, dropped",
            ["feed", "outcome"],
            registry=r,
        )
        self.refused = Counter(
            "mmstream_connector_frames_refused",
            "Frames the WebSocket library refused, closing the connection (1009 / 1007)",
            ["feed", "reason"],
            registry=r,
        )
        self.outliers = Counter(
            "mmstream_connector_outliers",
            "Published records whose time or sequence did not advance their entity's state",
            ["feed", "channel", "kind"],
            registry=r,
        )
        self.reconnects = Counter(
            "mmstream_connector_reconnects", "Sessions re-established", ["feed"], registry=r
        )
        self.duplicates = Counter(
            "mmstream_connector_duplicates_dropped",
            "Messages not published: same content, older sequence or event time, or backfilled",
            ["feed", "channel"],
            registry=r,
        )
        self.gaps = Counter(
            "mmstream_connector_sequence_gaps", "Predexon sequence gaps seen", ["feed"], registry=r
        )
        self.resynced = Counter(
            "mmstream_connector_resync_records",
            "Records published by REST backfill / rehydration",
            ["feed", "channel"],
            registry=r,
        )
        self.session_state = Gauge(
            "mmstream_connector_session_state",
            "1 for the session's current state",
            ["feed", "state"],
            registry=r,
        )
        self.in_flight = Gauge(
            "mmstream_connector_producer_queue_depth",
            "Records handed to the producer and not yet acknowledged",
            ["feed"],
            registry=r,
        )
        self.lag = Histogram(
            "mmstream_connector_end_to_end_lag_seconds",
            "Provider event time to Kafka acknowledgement",
            ["feed"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.ages = LastMessageAge(feed)
        r.register(self.ages)
        self._received: dict[str, Any] = {}
        self._frames: dict[str, Any] = {}
        self._published: dict[str, Any] = {}
        self.lag_of_feed = self.lag.labels(feed)
        self.in_flight_of_feed = self.in_flight.labels(feed)
        self.state = "connecting"
        self.set_state("connecting")
        # served beside the metrics; the sink adds its Kafka and event-loop checks at start
        self.health = Health(f"connector-{feed}")
        self.health.ready_when(
            "session", lambda: CheckResult(self.state == READY_STATE, self.state)
        )

    def _session_ready(self) -> CheckResult:
        return CheckResult(self.state == READY_STATE, self.state)

    def set_state(self, state: str) -> None:
        self.state = state
        for candidate in SESSION_STATES:
            self.session_state.labels(self.feed, candidate).set(1 if candidate == state else 0)

    def message(self, channel: str) -> None:
        child = self._received.get(channel)
        if child is None:
            child = self._received[channel] = self.received.labels(self.feed, channel)
        child.inc()
        self.ages.last_seen[channel] = time.time()

    def frame(self, outcome: str) -> None:
        """Count a frame's outcome (the labelled child looked up once: this runs per frame)."""
        child = self._frames.get(outcome)
        if child is None:
            child = self._frames[outcome] = self.frames.labels(self.feed, outcome)
        child.inc()

    def delivered(self, topic: str, count: int) -> None:
        child = self._published.get(topic)
        if child is None:
            child = self._published[topic] = self.published.labels(self.feed, topic)
        child.inc(count)

    def serve(self, port: int, host: str = "0.0.0.0") -> HealthServer:
        """`/metrics`, `/healthz` and `/readyz` on `port`."""
        return serve_health(self.health, self.registry, port, host)
