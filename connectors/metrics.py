"""Prometheus metrics of a connector process, served on an HTTP port."""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from mmstream.core.health import CheckResult, Health, HealthServer
from mmstream.core.health import serve as serve_health

SESSION_STATES = ("connecting", "subscribed", "streaming", "backing_off", "stopped")
READY_STATE = "streaming"  # subscribed, and any REST resync done
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Tally:
    """Counts of one labelled counter kept as plain ints where they happen (a prometheus
    child's `inc` takes a lock: with several per record it was a tenth of a connector's CPU),
    added to the counter when the registry is collected (`FlushFirst`). One thread writes a
    tally; the collecting thread only reads it."""

    def __init__(self, counter: Counter, feed: str) -> None:
        self.counter = counter
        self.feed = feed
        self.counts: dict[str, int] = {}
        self._flushed: dict[str, int] = {}

    def add(self, label: str, count: int = 1) -> None:
        counts = self.counts
        counts[label] = counts.get(label, 0) + count

    def flush(self) -> None:
        for label, count in list(self.counts.items()):  # a copy: the writer may add a label
            delta = count - self._flushed.get(label, 0)
            if delta:
                self.counter.labels(self.feed, label).inc(delta)
                self._flushed[label] = count


class FlushFirst(Collector):
    """Registered before every other metric: brings the tallies into their counters at the
    start of each collection (a scrape), so a scrape reads them up to date."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        self._lock = threading.Lock()  # two scrapes at once must not add a delta twice

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            self._flush()
        return iter(())


class LagHistogram(Collector):
    """`mmstream_connector_end_to_end_lag_seconds{feed}`: counted in plain ints as records are
    acknowledged (one thread, the producer's poller), exposed as a histogram at scrape time."""

    name = "mmstream_connector_end_to_end_lag_seconds"

    def __init__(self, feed: str, buckets: tuple[float, ...] = LAG_BUCKETS) -> None:
        self.feed = feed
        self.bounds = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last one: above every bound (+Inf)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1  # le: value <= bound
        self.total += seconds

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(
            self.name, "Provider event time to Kafka acknowledgement", labels=["feed"]
        )
        counts, cumulative, buckets = list(self.counts), 0, []
        for bound, count in zip([*self.bounds, float("inf")], counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), cumulative))
        family.add_metric([self.feed], buckets, self.total)
        yield family


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
        r.register(FlushFirst(self.flush))
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
        self.lag_of_feed = LagHistogram(feed)
        r.register(self.lag_of_feed)
        self.ages = LastMessageAge(feed)
        r.register(self.ages)
        self._received = Tally(self.received, feed)
        self._frames = Tally(self.frames, feed)
        self._published = Tally(self.published, feed)
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

    def flush(self) -> None:
        """Bring the per-record tallies into their counters (at each collection)."""
        for tally in (self._received, self._frames, self._published):
            tally.flush()

    def message(self, channel: str, at: float | None = None) -> None:
        """A message received on `channel` (event loop thread), at `at` (epoch s) or now."""
        self._received.add(channel)
        self.ages.last_seen[channel] = time.time() if at is None else at

    def frame(self, outcome: str) -> None:
        """Count a frame's outcome (event loop thread)."""
        self._frames.add(outcome)

    def delivered(self, topic: str, count: int) -> None:
        """Records of `topic` acknowledged by Kafka (the producer's poller thread)."""
        self._published.add(topic, count)

    def serve(self, port: int, host: str = "0.0.0.0") -> HealthServer:
        """`/metrics`, `/healthz` and `/readyz` on `port`."""
        return serve_health(self.health, self.registry, port, host)
