"""Memory over one million messages / events, in two runs.

1. Whole pipeline (`mmstream up`, simulated feeds): 1,000,000 messages offered at 1,000 msg/s
   for 1,000 s. The MM API connector takes in every message; its peak RSS, records into Kafka
   and reconnects. The worker of that run falls behind on the embedded broker, whose fetch
   cost grows with every batch kept (README, Known limitations), so it does not see a million.
2. The worker alone: one million raw events (400k orders, 400k bets, 200k scores, event times
   spread as at 1,000 events/s over 1,000 s) written beforehand in large batches, then drained
   by one worker: its peak RSS and its table sizes during and after the drain.

Both with retention shortened (orders idle 60 s leave the table, settled ones after 30 s,
instead of an hour) so that bounded state shows within the run.

Usage: bench/bench_million.py [pipeline|worker ...] [ORDERS]   (default: both, 400000)
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
from bench.common import embedded_stack, peak_rss_mb, table
from mmstream.kafka.config import producer_config
from mmstream.view.sources import scrape

ORDERS = 400_000  # + as many bets + half as many scores = 1,000,000 events
SPACING_MS = 2.5  # per order: its order, bet and half a score -> 1,000 events/s of event time
RETENTION = {"MMSTREAM_PROCESSOR_RETENTION_S": "60", "MMSTREAM_PROCESSOR_CLOSED_RETENTION_S": "30"}
STALL_S = 120.0  # no progress for this long ends the drain
DEADLINE_S = 3600.0


def whole_pipeline() -> list[tuple[str, str]]:
    os.environ.update(RETENTION)
    return run_pipeline(1000.0, 1000.0)


def worker_drain(orders: int) -> list[tuple[str, str]]:
    with embedded_stack() as stack, tempfile.TemporaryDirectory() as data_dir:
        target, topics, serde = prepare_topics(stack)
        # large batches: the embedded broker's fetch cost grows with the number of batches
        producer = Producer(
            producer_config(
                target, **{"linger.ms": 200, "batch.num.messages": 10_000, "batch.size": 900_000}
            )
        )
        start_ms = int(time.time() * 1000) - 1_000_000
        written = time.monotonic()
        for i in range(orders):
            now = start_ms + int(i * SPACING_MS)
            key = str(i).encode()
            producer.produce(
                topics.name("orders"), key=key, value=serde.encode("orders", order(i, now))
            )
            producer.produce(
                topics.name("bets"), key=key, value=serde.encode("bets", bet(i, now + 1))
            )
            if i % 2 == 0:
                fixture = f"fx{i % 50}".encode()
                value = serde.encode("scores", score(i % 50, now))
                producer.produce(topics.name("scores"), key=fixture, value=value)
            producer.poll(0)
        producer.flush(120)
        write_s = time.monotonic() - written
        port = 19_900 + os.getpid() % 90
        worker = start_worker(stack, data_dir, topics, port, **RETENTION)
        url = f"http://127.0.0.1:{port}/metrics"
        goal = 2 * orders + orders // 2
        began, progress_at, done = time.monotonic(), time.monotonic(), 0.0
        max_keys: dict[str, float] = {}
        keys: dict[str, float] = {}
        while time.monotonic() - began < DEADLINE_S and time.monotonic() - progress_at < STALL_S:
            counts = agent_counts(url)
            inputs = counts.get("hedge", 0.0) + counts.get("score-router", 0.0)
            if inputs > done:
                done, progress_at = inputs, time.monotonic()
            samples = scrape(url) or {}
            for labels, value in samples.get("mmstream_processor_table_keys", []):
                keys[labels["table"]] = value
                max_keys[labels["table"]] = max(max_keys.get(labels["table"], 0.0), value)
            if done >= goal:
                break
            time.sleep(2.0)
        drain_s = progress_at - began
        rss = peak_rss_mb(worker.pid)
        worker.terminate()
        worker.wait(60)
    return [
        ("worker alone, backlog", f"{orders:,} orders + {orders:,} bets + {orders // 2:,} scores"),
        ("  written in", f"{write_s:.0f} s"),
        ("  raw events through the agents", f"{done:,.0f} of {goal:,} in {drain_s:.0f} s"),
        ("  worker peak RSS", f"{rss:.0f} MiB"),
        ("  table keys, most during the drain", listing(max_keys)),
        ("  table keys at the end", listing(keys)),
    ]


def listing(counts: dict[str, float]) -> str:
    return ", ".join(f"{name} {count:,.0f}" for name, count in sorted(counts.items()))


if __name__ == "__main__":
    parts = [a for a in sys.argv[1:] if not a.isdigit()] or ["pipeline", "worker"]
    sizes = [int(a) for a in sys.argv[1:] if a.isdigit()]
    rows: list[tuple[str, str]] = []
    if "pipeline" in parts:
        rows += whole_pipeline()
    if "worker" in parts:
        rows += worker_drain(sizes[0] if sizes else ORDERS)
    print(table(rows))
