"""Agent throughput and latency on one worker (embedded broker, tuned profile).

1. Backlog: N orders with a fill and a hedge bet each (2N events), plus score updates, are
   written first; one worker then drains them: events/s through each agent.
2. Steady load: orders + bets written at RATE events/s for SECONDS; latency from the raw
   record's append to its `hedge.fills` record's append (Kafka timestamps): p50 / p99.

Usage: bench/bench_agents.py [N] [RATE] [SECONDS]   (defaults 5000, 500, 10)
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient

from bench.common import embedded_stack, peak_rss_mb, percentiles, stop_child, table
from connectors.publisher import Connection
from connectors.records import change_record
from mmstream.core.kafka.admin import create_topics
from mmstream.core.kafka.config import ClusterTarget, consumer_config, producer_config
from mmstream.core.settings import TopicSettings
from mmstream.stack import EmbeddedStack
from mmstream.view.sources import scrape
from schemas.serde import AvroSerde

SESSION = Connection(connection_id="bench", subscription_id="1")


def change(event: str, now: int, payload: dict[str, Any]) -> dict[str, Any]:
    """A raw change record as the connectors write it, received when it happened."""
    return change_record(SESSION.envelope("mmapi", now, now, "LIVE"), event, payload)


def order(order_id: int, now: int) -> dict[str, Any]:
    return change(
        "UPDATE",
        now,
        {
            "orderId": order_id,
            "client": "desk",
            "fixtureId": "f1",
            "orderStake": 100.0,
            "matchedStake": 100.0,
            "matchedAt": now,
            "orderStatus": "FILLED",
            "updatedAt": now,
        },
    )


def bet(order_id: int, now: int) -> dict[str, Any]:
    return change(
        "INSERT",
        now,
        {
            "betId": order_id,
            "orderId": order_id,
            "bookmaker": "vertex",
            "placedStake": 100.0,
            "placedPrice": 1.9,
            "betStatus": "placed",
            "placedAt": now,
            "updatedAt": now,
        },
    )


def score(fixture: int, now: int) -> dict[str, Any]:
    return change(
        "UPDATE",
        now,
        {
            "fixtureId": f"fx{fixture}",
            "live": True,
            "scores": {"home": now % 7, "away": 1, "periods": {}},
        },
    )


def agent_counts(url: str) -> dict[str, float]:
    samples = scrape(url) or {}
    counts: dict[str, float] = {}
    for labels, value in samples.get("mmstream_processor_records_in_total", []):
        counts[labels["agent"]] = counts.get(labels["agent"], 0.0) + value
    return counts


def prepare_topics(stack: EmbeddedStack) -> tuple[ClusterTarget, TopicSettings, AvroSerde]:
    """Bench-named topics on the stack, with their schemas registered."""
    topics = TopicSettings(**{k: f"{v}.bench" for k, v in TopicSettings().names().items()})
    target = ClusterTarget(stack.bootstrap_servers, embedded=True)
    create_topics(target, topics, replication_factor=1)
    serde = AvroSerde(SchemaRegistryClient({"url": stack.registry_url}), topics)
    serde.register_all()
    return target, topics, serde


def start_worker(
    stack: EmbeddedStack, data_dir: str, topics: TopicSettings, port: int, **extra: str
) -> subprocess.Popen[bytes]:
    """`mmstream process` on the bench topics, metrics on `port`; stopped at exit."""
    env = {
        **os.environ,
        "MMSTREAM_BOOTSTRAP_SERVERS": stack.bootstrap_servers,
        "MMSTREAM_SCHEMA_REGISTRY_URL": stack.registry_url,
        "MMSTREAM_BROKER_PROFILE": "embedded",
        "MMSTREAM_DATA_DIR": data_dir,
        "MMSTREAM_PROCESSOR_METRICS_PORT": str(port),
        "MMSTREAM_LOG_LEVEL": "WARNING",
        "MMSTREAM_PROCESSOR_APP_ID": f"bench-{uuid.uuid4().hex[:6]}",
        **{f"MMSTREAM_TOPIC_{k.upper()}": v for k, v in topics.names().items()},
        **extra,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "mmstream.cli", "process"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(stop_child, worker)  # never leave it behind, even on error
    return worker


def main(n: int, rate: float, seconds: float) -> None:
    with embedded_stack() as stack, tempfile.TemporaryDirectory() as data_dir:
        target, topics, serde = prepare_topics(stack)
        producer = Producer(producer_config(target))
        now = int(time.time() * 1000)
        for i in range(n):
            producer.produce(
                topics.name("orders"),
                key=str(i).encode(),
                value=serde.encode("orders", order(i, now)),
            )
            producer.produce(
                topics.name("bets"),
                key=str(i).encode(),
                value=serde.encode("bets", bet(i, now + 1)),
            )
            if i % 2 == 0:
                producer.produce(
                    topics.name("scores"),
                    key=f"fx{i % 50}".encode(),
                    value=serde.encode("scores", score(i % 50, now)),
                )
            producer.poll(0)
        producer.flush(60)
        port = 19_500 + os.getpid() % 400
        worker = start_worker(stack, data_dir, topics, port)
        url = f"http://127.0.0.1:{port}/metrics"
        targets = {"hedge": 2 * n, "score-router": n // 2}
        first: dict[str, float] = {}
        last: dict[str, tuple[float, float]] = {}  # agent -> (count, when it last grew)
        deadline = time.monotonic() + 600
        counts: dict[str, float] = {}
        while time.monotonic() < deadline:
            counts = agent_counts(url)
            seen_at = time.monotonic()
            for agent, count in counts.items():
                if count and agent not in first:
                    first[agent] = seen_at
                if count > last.get(agent, (0.0, 0.0))[0]:
                    last[agent] = (count, seen_at)
            if all(counts.get(a, 0) >= goal for a, goal in targets.items()):
                break
            time.sleep(0.05)
        settle = time.monotonic() + 3.0  # the downstream agents (scores, emergency) finish
        while time.monotonic() < settle:
            for agent, count in agent_counts(url).items():
                if count > last.get(agent, (0.0, 0.0))[0]:
                    last[agent] = (count, time.monotonic())
            time.sleep(0.05)
        # each agent's own rate: its events over the time from its first to its last one
        backlog_rows = [
            (
                f"{agent}: backlog drain",
                f"{count:,.0f} events in {when - first[agent]:.1f} s = "
                f"{count / max(when - first[agent], 1e-9):,.0f} events/s",
            )
            for agent, (count, when) in sorted(last.items())
        ]

        # steady load: latency raw append -> hedge.fills append
        consumer = Consumer(
            consumer_config(target, f"bench-{uuid.uuid4()}", **{"enable.auto.commit": False})
        )
        fills = topics.name("hedge_fills")
        partitions = consumer.list_topics(fills, timeout=10).topics[fills].partitions
        consumer.assign([TopicPartition(fills, p, OFFSET_BEGINNING) for p in partitions])
        while consumer.poll(0.5) is not None:
            pass  # skip the backlog's outputs
        sent_at: dict[int, float] = {}
        interval = 2.0 / rate  # an order and its bet per interval
        begin = time.monotonic()
        i = n
        while time.monotonic() - begin < seconds:
            due = begin + (i - n) * interval
            if due > time.monotonic():
                time.sleep(max(0.0, due - time.monotonic()))
            stamp = int(time.time() * 1000)
            producer.produce(
                topics.name("orders"),
                key=str(i).encode(),
                value=serde.encode("orders", order(i, stamp)),
            )
            producer.produce(
                topics.name("bets"), key=str(i).encode(), value=serde.encode("bets", bet(i, stamp))
            )
            producer.poll(0)
            sent_at[i] = time.time()
            i += 1
        producer.flush(30)
        latencies = []
        wanted = set(sent_at)
        end = time.monotonic() + 60
        while wanted and time.monotonic() < end:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            order_id = int(message.key() or b"-1")
            if order_id in wanted:
                wanted.discard(order_id)
                _, appended_ms = message.timestamp()
                latencies.append(appended_ms - sent_at[order_id] * 1000)
        consumer.close()
        rss = peak_rss_mb(worker.pid)
        worker.terminate()
        worker.wait(60)
    p = percentiles(latencies)
    print(
        table(
            [
                ("backlog", f"{n:,} orders + {n:,} bets + {n // 2:,} scores"),
                *backlog_rows,
                (
                    "steady load",
                    f"{rate:,.0f} events/s for {seconds:.0f} s ({len(sent_at):,} orders)",
                ),
                (
                    "raw append -> hedge.fills append",
                    f"p50 {p['p50']:.0f} ms, p95 {p['p95']:.0f} ms, p99 {p['p99']:.0f} ms",
                ),
                ("orders without a derived record", f"{len(wanted)}"),
                ("worker peak RSS", f"{rss:.0f} MiB"),
            ]
        )
    )


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 5_000,
        float(sys.argv[2]) if len(sys.argv) > 2 else 500.0,
        float(sys.argv[3]) if len(sys.argv) > 3 else 10.0,
    )
