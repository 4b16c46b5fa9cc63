"""Memory over one million messages / events, in up to three runs.

1. Whole pipeline (`mmstream up`, simulated feeds): 1,000,000 messages offered at 1,000 msg/s
   for 1,000 s, `pipeline`. The MM API connector's peak RSS, records into Kafka and
   reconnects. The worker of that run falls behind on the embedded broker, whose fetch
   cost grows with every batch kept (README, Known limitations), so it does not see a million.
2. The worker alone, `worker`: one million raw events (400k orders, 400k bets, 200k scores,
   event times spread as at 1,000 events/s over 1,000 s) written beforehand in large batches,
   then drained by one worker: its peak RSS and its table sizes during and after the drain.
3. The worker alone, `steady`: the same million events written at 2,000 events/s (stamped
   with the time they are written) while the worker runs: state in a steady flow.

All with retention shortened (orders idle 60 s leave the table, settled ones after 30 s,
instead of an hour) so that bounded state shows within the run.

Usage: bench/bench_million.py [pipeline|worker|steady ...] [ORDERS]
       (default: all three, about 40 minutes; 400000 orders = one million events)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import Producer

from bench.bench_agents import agent_counts, bet, order, prepare_topics, score, start_worker
from bench.bench_pipeline import run as run_pipeline
from bench.common import embedded_stack, listing, peak_rss_mb, table
from mmstream.core.kafka.config import ClusterTarget, producer_config
from mmstream.core.settings import TopicSettings
from mmstream.view.sources import scrape
from schemas.serde import AvroSerde

ORDERS = 400_000  # + as many bets + half as many scores = 1,000,000 events
SPACING_MS = 2.5  # per order: its order, bet and half a score -> 1,000 events/s of event time
RETENTION = {"MMSTREAM_PROCESSOR_RETENTION_S": "60", "MMSTREAM_PROCESSOR_CLOSED_RETENTION_S": "30"}
STALL_S = 120.0  # no progress for this long ends the drain
DEADLINE_S = 3600.0
STEADY_RATE = 2_000.0  # events/s: within one worker's ~2.7k, so it keeps up


def whole_pipeline() -> list[tuple[str, str]]:
    os.environ.update(RETENTION)
    return run_pipeline(1000.0, 1000.0)


class Writer:
    """Writes an order, its hedge bet and (every other order) a score update, in large batches:
    the embedded broker's fetch cost grows with the number of batches kept."""

    def __init__(self, target: ClusterTarget, topics: TopicSettings, serde: AvroSerde) -> None:
        self.topics, self.serde = topics, serde
        self.producer = Producer(
            producer_config(
                target, **{"linger.ms": 200, "batch.num.messages": 10_000, "batch.size": 900_000}
            )
        )

    def order(self, i: int, now: int) -> None:
        key = str(i).encode()
        name, encode = self.topics.name, self.serde.encode
        self.producer.produce(name("orders"), key=key, value=encode("orders", order(i, now)))
        self.producer.produce(name("bets"), key=key, value=encode("bets", bet(i, now + 1)))
        if i % 2 == 0:
            fixture = f"fx{i % 50}".encode()
            self.producer.produce(
                name("scores"), key=fixture, value=encode("scores", score(i % 50, now))
            )
        self.producer.poll(0)


class WorkerWatch:
    """The worker's raw events in and its table sizes, sampled from its metrics."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.done = 0.0
        self.progress_at = time.monotonic()
        self.keys: dict[str, float] = {}
        self.max_keys: dict[str, float] = {}

    def sample(self) -> None:
        counts = agent_counts(self.url)
        inputs = counts.get("hedge", 0.0) + counts.get("score-router", 0.0)
        if inputs > self.done:
            self.done, self.progress_at = inputs, time.monotonic()
        for labels, value in (scrape(self.url) or {}).get("mmstream_processor_table_keys", []):
            self.keys[labels["table"]] = value
            self.max_keys[labels["table"]] = max(self.max_keys.get(labels["table"], 0.0), value)

    def wait_for(self, goal: float, began: float) -> None:
        while (
            time.monotonic() - began < DEADLINE_S and time.monotonic() - self.progress_at < STALL_S
        ):
            self.sample()
            if self.done >= goal:
                return
            time.sleep(2.0)


def worker_run(orders: int, steady_rate: float | None) -> list[tuple[str, str]]:
    """Backlog (`steady_rate` None): write everything, then start the worker and drain it.
    Steady: the worker runs while events are written at `steady_rate` events/s, stamped now."""
    goal = 2 * orders + orders // 2
    with embedded_stack() as stack, tempfile.TemporaryDirectory() as data_dir:
        target, topics, serde = prepare_topics(stack)
        writer = Writer(target, topics, serde)
        port = 19_900 + os.getpid() % 90
        watch = WorkerWatch(f"http://127.0.0.1:{port}/metrics")
        began = time.monotonic()
        if steady_rate is None:
            start_ms = int(time.time() * 1000) - int(orders * SPACING_MS)
            for i in range(orders):
                writer.order(i, start_ms + int(i * SPACING_MS))
            writer.producer.flush(120)
            write_s = time.monotonic() - began
            worker = start_worker(stack, data_dir, topics, port, **RETENTION)
            began = time.monotonic()
        else:
            worker = start_worker(stack, data_dir, topics, port, **RETENTION)
            per_order_s = 2.5 / steady_rate
            sampled = began
            for i in range(orders):
                pause = began + i * per_order_s - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                writer.order(i, int(time.time() * 1000))
                if time.monotonic() - sampled >= 2.0:
                    watch.sample()
                    sampled = time.monotonic()
            writer.producer.flush(120)
            write_s = time.monotonic() - began
        watch.wait_for(goal, began)
        rss = peak_rss_mb(worker.pid)
        worker.terminate()
        worker.wait(60)
    if steady_rate is None:
        mode, during = "backlog, written first", "during the drain"
    else:
        mode, during = f"written at {steady_rate:,.0f} events/s while it runs", "during the run"
    return [
        (f"worker alone, {mode}", f"{orders:,} orders + {orders:,} bets + {orders // 2:,} scores"),
        ("  written in", f"{write_s:.0f} s"),
        (
            "  raw events through the agents",
            f"{watch.done:,.0f} of {goal:,} in {watch.progress_at - began:.0f} s",
        ),
        ("  worker peak RSS", f"{rss:.0f} MiB"),
        (f"  table keys, most {during}", listing(watch.max_keys)),
        ("  table keys at the end", listing(watch.keys)),
    ]


if __name__ == "__main__":
    parts = [a for a in sys.argv[1:] if not a.isdigit()] or ["pipeline", "worker", "steady"]
    sizes = [int(a) for a in sys.argv[1:] if a.isdigit()]
    rows: list[tuple[str, str]] = []
    if "pipeline" in parts:
        rows += whole_pipeline()
    if "worker" in parts:
        rows += worker_run(sizes[0] if sizes else ORDERS, None)
    if "steady" in parts:
        rows += worker_run(sizes[0] if sizes else ORDERS, STEADY_RATE)
    print(table(rows))
