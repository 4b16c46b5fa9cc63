"""What the worker's fetch costs at 1,000 msg/s: an aiokafka consumer set up as the worker's
(`WorkerTuning`: fetch wait, and each FETCH_MIN_BYTES given) reading 8 partitions that a
librdkafka producer (the connectors' settings) feeds at RATE msg/s from another process.

Prints per setting: fetch requests a second, the consumer's and the broker's CPU (cores), and
produce → consume latency, measured for SECONDS after a 5 s warm-up, with the load average.
Settings alternate (1, 65536, 1, 65536 by default) so that a change of load hits both.

Usage: bench/bench_worker_fetch.py [SECONDS] [FETCH_MIN_BYTES ...]   (default 30 s, 1 65536 1 65536)
Both brokers: bench/both_brokers.py bench_worker_fetch.py 30
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiokafka
from aiokafka.consumer import fetcher
from confluent_kafka.admin import AdminClient, NewTopic

from bench.bench_pipeline import broker_cpu, broker_pids, load
from bench.common import embedded_stack, percentiles, table
from mmstream.core.kafka.config import ClusterTarget, producer_config

RATE = 1000.0
PARTITIONS = 8
WARMUP_S = 5.0

PRODUCE = r"""
import json, sys, time
from confluent_kafka import Producer
config, topic = json.loads(sys.argv[1]), sys.argv[2]
rate, seconds = float(sys.argv[3]), float(sys.argv[4])
producer = Producer(config)
start, sent = time.monotonic(), 0
while time.monotonic() - start < seconds:
    pause = start + sent / rate - time.monotonic()
    if pause > 0:
        time.sleep(min(pause, 0.01))
        continue
    value = b"%.3f|" % (time.time() * 1000) + b" " * 300  # about an order's Avro record
    producer.produce(topic, key=str(sent % 997).encode(), value=value)
    producer.poll(0)
    sent += 1
producer.flush(10)
"""

fetches = [0]


def count_fetches() -> None:
    original = fetcher.Fetcher._proc_fetch_request

    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        fetches[0] += 1
        return await original(self, *args, **kwargs)

    fetcher.Fetcher._proc_fetch_request = counted


async def measure(target: ClusterTarget, min_bytes: int, seconds: float) -> tuple[str, str]:
    topic = f"bench-fetch-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": target.bootstrap_servers})
    admin.create_topics([NewTopic(topic, PARTITIONS, -1)])[topic].result(30)
    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=target.bootstrap_servers,
        fetch_max_wait_ms=target.worker.fetch_max_wait_ms,
        fetch_min_bytes=min_bytes,
        enable_auto_commit=False,
    )
    await consumer.start()
    partitions = [aiokafka.TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    config = json.dumps(producer_config(target))
    producer = subprocess.Popen(
        [sys.executable, "-c", PRODUCE, config, topic, str(RATE), str(seconds + WARMUP_S + 5)]
    )
    latencies: list[float] = []
    try:
        warm_until = time.monotonic() + WARMUP_S
        while time.monotonic() < warm_until:
            await consumer.getmany(timeout_ms=200)
        brokers = broker_pids()
        broker_start, own_start = broker_cpu(brokers), time.process_time()
        fetch_start, started = fetches[0], time.monotonic()
        while time.monotonic() - started < seconds:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.time() * 1000
            for records in batch.values():
                latencies += [now - float(r.value.split(b"|", 1)[0]) for r in records if r.value]
        elapsed = time.monotonic() - started
        broker_used = broker_cpu(brokers) - broker_start
        own_used, fetched = time.process_time() - own_start, fetches[0] - fetch_start
    finally:
        producer.kill()
        producer.wait()
        await consumer.stop()
    p = percentiles(latencies)
    return (
        f"fetch_min_bytes {min_bytes:,}, fetch wait {target.worker.fetch_max_wait_ms} ms",
        f"{fetched / elapsed:,.0f} fetches/s, consumer {own_used / elapsed:.3f} core,"
        f" broker {broker_used / elapsed:.3f} core, {len(latencies) / elapsed:,.0f} msg/s,"
        f" p50 {p['p50']:,.0f} ms, p99 {p['p99']:,.0f} ms; load {load()}",
    )


def main(seconds: float, settings: list[int]) -> None:
    count_fetches()
    rows = []
    with embedded_stack() as stack:
        profile = "kafka-local" if stack.broker_kind == "kafka" else "tansu"
        target = ClusterTarget.with_profile(stack.bootstrap_servers, profile)
        rows.append(("broker / rate / partitions", f"{profile} / {RATE:,.0f} msg/s / {PARTITIONS}"))
        for min_bytes in settings:
            rows.append(asyncio.run(measure(target, min_bytes, seconds)))
    print(table(rows))


if __name__ == "__main__":
    os.environ.setdefault("MMSTREAM_LOG_LEVEL", "WARNING")
    main(
        float(sys.argv[1]) if len(sys.argv) > 1 else 30.0,
        [int(v) for v in sys.argv[2:]] or [1, 65536, 1, 65536],
    )
