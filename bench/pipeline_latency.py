"""What bench/bench_pipeline.py measures while `mmstream up` runs: the derived records' latency
split by stage, and a bare produce → consume round trip on the same broker at the same rate.

Stages of a `hedge.fills` record, all wall-clock ms on this machine:
  event      the provider's event time (`updated_at`: the simulator stamps its scheduled send)
  received   the connector received the message (`source_received_at`)
  raw        the connector handed the raw record to librdkafka (the raw record's timestamp)
  derived    the worker handed the derived record to its producer (the derived record's
             timestamp: aiokafka stamps it when the record enters its batch)
  seen       this reader got the derived record (what a downstream consumer experiences:
             producer linger, the broker's append, the reader's fetch)
"""

from __future__ import annotations

import math
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient

from bench.common import percentiles
from mmstream.core.kafka.config import ClusterTarget, admin_config, consumer_config, producer_config
from mmstream.core.settings import TopicSettings
from schemas.serde import AvroSerde
from schemas.values import plain

# the worker has drained what the connectors published before it started
CAUGHT_UP_MS = 1000
RAW = ("orders", "bets")
# raw records are decoded for one order in RAW_SAMPLE only (the follower shares the machine)
RAW_SAMPLE = 4


def sampled(key: bytes) -> bool:
    return zlib.crc32(key) % RAW_SAMPLE == 0


DERIVED = ("hedge_fills", "scores_reconciled")


def wall_ms() -> float:
    return time.time() * 1000


@dataclass
class Sample:
    """One derived record's stage times (ms); `raw` filled in at the end from the raw index."""

    topic_id: str
    key: bytes
    event: float
    received: float | None
    derived: float
    seen: float
    raw: float | None = None


@dataclass
class Observed:
    samples: list[Sample] = field(default_factory=list)
    raw_times: dict[tuple[bytes, int], float] = field(default_factory=dict)
    first_seen: float | None = None
    caught_up: float | None = None  # first derived record seen within CAUGHT_UP_MS of its event


def assign_all(consumer: Consumer, names: list[str], stopping: threading.Event) -> None:
    assignment = []
    for name in names:
        while not stopping.is_set():
            metadata = consumer.list_topics(name, timeout=5).topics.get(name)
            if metadata is not None and metadata.partitions:
                assignment += [
                    TopicPartition(name, p, OFFSET_BEGINNING) for p in metadata.partitions
                ]
                break
            time.sleep(0.2)
    consumer.assign(assignment)


def arrived(consumer: Consumer) -> list[Message]:
    """The records there now, waiting at most 0.1 s for the first (`consume(n, timeout)` would
    wait the whole timeout for n records)."""
    first = consumer.poll(0.1)
    return [] if first is None else [first, *consumer.consume(500, 0)]


class Follower(threading.Thread):
    """Reads the raw order/bet topics and the derived topics from the beginning."""

    def __init__(self, target: ClusterTarget, registry_url: str) -> None:
        super().__init__(daemon=True)
        self.topics = TopicSettings()
        self.serde = AvroSerde(SchemaRegistryClient({"url": registry_url}), self.topics)
        self.consumer = Consumer(
            consumer_config(target, f"bench-{uuid.uuid4()}", **{"enable.auto.commit": False})
        )
        self.observed = Observed()
        self.stopping = threading.Event()

    def run(self) -> None:
        names = {self.topics.name(t): t for t in RAW + DERIVED}
        assign_all(self.consumer, list(names), self.stopping)
        while not self.stopping.is_set():
            for message in arrived(self.consumer):
                seen = wall_ms()
                payload, key = message.value(), message.key() or b""
                if message.error() or payload is None:
                    continue
                topic_id = names[str(message.topic())]
                if topic_id in RAW and not sampled(key):
                    continue
                value = plain(self.serde.decode(topic_id, payload))
                self.observe(topic_id, key, value, message.timestamp()[1], seen)
        self.consumer.close()

    def observe(
        self, topic_id: str, key: bytes, value: dict[str, Any], at: int, seen: float
    ) -> None:
        if topic_id in RAW:
            received = (value.get("envelope") or {}).get("received_at")
            if received is not None:
                self.observed.raw_times.setdefault((key, int(received)), float(at))
            return
        event = input_time(topic_id, value)
        if not event:
            return
        if self.observed.first_seen is None:
            self.observed.first_seen = seen
        if self.observed.caught_up is None and seen - event < CAUGHT_UP_MS:
            self.observed.caught_up = seen
        received = value.get("source_received_at") if topic_id == "hedge_fills" else None
        self.observed.samples.append(Sample(topic_id, key, event, received, at, seen))


def input_time(topic_id: str, value: dict[str, Any]) -> int | None:
    if topic_id == "hedge_fills":
        return value.get("updated_at")
    views = [value.get(p) or {} for p in ("mmapi", "predexon")]
    times = [v["updated_at"] for v in views if v.get("updated_at")]
    return max(times) if times else None


class Baseline(threading.Thread):
    """A bare confluent-kafka produce → consume round trip at `rate` msg/s on its own topic,
    with the connectors' producer settings and the profile's consumer settings: what the
    broker and the clients cost with no pipeline in between."""

    def __init__(self, target: ClusterTarget, rate: float) -> None:
        super().__init__(daemon=True)
        self.target, self.rate = target, rate
        self.topic = f"bench-baseline-{uuid.uuid4().hex[:8]}"
        self.latencies: list[float] = []
        self.stopping = threading.Event()
        self.sent = 0

    def run(self) -> None:
        admin = AdminClient(admin_config(self.target))
        admin.create_topics([NewTopic(self.topic, 4, -1)])[self.topic].result(30)
        consumer = Consumer(
            consumer_config(self.target, f"bench-{uuid.uuid4()}", **{"enable.auto.commit": False})
        )
        assign_all(consumer, [self.topic], self.stopping)
        reader = threading.Thread(target=self.read, args=(consumer,), daemon=True)
        reader.start()
        producer = Producer(producer_config(self.target))
        start = time.monotonic()
        while not self.stopping.is_set():
            due = start + self.sent / self.rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(min(pause, 0.05))
                continue
            producer.produce(
                self.topic, key=str(self.sent % 64).encode(), value=b"%.3f" % wall_ms()
            )
            producer.poll(0)
            self.sent += 1
        producer.flush(10)
        reader.join(10)
        consumer.close()

    def read(self, consumer: Consumer) -> None:
        while not self.stopping.is_set():
            for message in arrived(consumer):
                payload = message.value()
                if not message.error() and payload:
                    self.latencies.append(wall_ms() - float(payload))


def summary(latencies: list[float]) -> str:
    if not latencies:
        return "no records"
    p = percentiles(latencies)
    return (
        f"p50 {p['p50']:,.0f} ms, p95 {p['p95']:,.0f} ms, p99 {p['p99']:,.0f} ms"
        f" ({len(latencies):,})"
    )


def span(samples: list[Sample], start: str, end: str) -> list[float]:
    """`end - start` (ms) of every sample that has both stage times."""
    spans = []
    for sample in samples:
        begin, finish = getattr(sample, start), getattr(sample, end)
        if begin is not None and finish is not None:
            spans.append(finish - begin)
    return spans


STAGES = (
    ("event", "received", "connector received (simulator, WebSocket)"),
    ("received", "raw", "raw record stamped (connector: parse, convert, encode)"),
    ("raw", "derived", "derived stamped (connector produce, broker, worker fetch + batch)"),
    ("derived", "seen", "seen (worker producer linger + flush, broker, reader fetch)"),
)


def latency_rows(
    observed: Observed, steady_from: float, baseline: list[float]
) -> list[tuple[str, str]]:
    """The stage table of the records whose input event time is in the steady window (the
    figures from the raw record on: the orders whose raw records were decoded)."""
    window = "the steady window"
    if steady_from == math.inf:  # never caught up: the whole run, so the backlog shows
        steady_from, window = -math.inf, "the whole run (never caught up)"
    steady = [s for s in observed.samples if s.event >= steady_from]
    fills = [s for s in steady if s.topic_id == "hedge_fills"]
    scores = [s for s in steady if s.topic_id == "scores_reconciled"]
    for sample in fills:
        if sample.received is not None and sampled(sample.key):
            sample.raw = observed.raw_times.get((sample.key, int(sample.received)))
    rows = [
        (f"  derived records in {window}", f"{len(steady):,} of {len(observed.samples):,}"),
        ("  hedge.fills: event -> seen by a reader", summary(span(fills, "event", "seen"))),
        ("  hedge.fills: event -> derived stamped", summary(span(fills, "event", "derived"))),
        ("  hedge.fills: raw stamped -> seen by a reader", summary(span(fills, "raw", "seen"))),
        ("  hedge.fills: raw stamped -> derived stamped", summary(span(fills, "raw", "derived"))),
    ]
    rows += [(f"    {a} -> {label}", summary(span(fills, a, b))) for a, b, label in STAGES]
    rows += [
        ("  scores.reconciled: event -> seen by a reader", summary(span(scores, "event", "seen"))),
        ("  bare baseline: produce -> consume, same broker kind + rate", summary(baseline)),
    ]
    return rows
