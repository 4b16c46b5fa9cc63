"""Connector throughput against a source faster than any client (`bench/firehose.py`).

For each feed, in one run: the rate at which one `mmstream connect <feed>` process gets
records acknowledged by Kafka, beside the receive rate of a bare `websockets` client doing
only `json.loads` on the same frames (the ceiling any Python consumer of this socket has), and
the cost of each stage the connector adds, measured in-process over the same frames: parse
(`json.loads`), convert (the schema-driven JSON → Avro-shape step), fingerprint (dedupe),
encode (Confluent wire format through the project's serde), produce (librdkafka, the encoded
bytes, to the same broker).

Usage: bench/bench_connectors.py [MESSAGES] [FEED ...]   (default 100000, both feeds)
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websockets
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient

from bench.common import embedded_stack, peak_rss_mb, stop_child, table
from bench.firehose import (
    API_KEY,
    client_url,
    firehose,
    mmapi_frames,
    predexon_frames,
    subscribe_message,
)
from connectors.mmapi import CHANNELS, ChangeRecords
from connectors.records import Converter
from connectors.state import fingerprint
from mmstream.core.kafka.config import producer_config
from mmstream.core.settings import TopicSettings
from mmstream.stack import EmbeddedStack
from mmstream.view.sources import scrape, total
from schemas import load_schema_dict
from schemas.serde import AvroSerde

MESSAGES = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
FEEDS = tuple(sys.argv[2:]) or ("mmapi", "predexon")
FRAMES: dict[str, Callable[[int], list[str]]] = {
    "mmapi": mmapi_frames,
    "predexon": predexon_frames,
}
DATA_TYPE = {"mmapi": "broadcast", "predexon": "event"}
ENVELOPE = {
    "source": "bench",
    "connection_id": "c",
    "subscription_id": None,
    "received_at": 0,
    "event_time": None,
    "origin": "LIVE",
}


async def bare_client(feed: str, url: str, expected: int) -> float:
    """Messages/s a client that only parses JSON receives, first to last data message."""
    count, first = 0, 0.0
    async with websockets.connect(url, max_size=None, max_queue=None, compression=None) as ws:
        await ws.send(json.dumps(subscribe_message(feed)))
        while count < expected:
            if json.loads(await ws.recv()).get("type") == DATA_TYPE[feed]:
                count += 1
                first = first or time.monotonic()
    return count / max(time.monotonic() - first, 1e-9)


async def connector_rate(
    feed: str, stack: EmbeddedStack, ws_url: str, rest_url: str, expected: int
) -> tuple[float, float]:
    """Records/s acknowledged by Kafka for one connector process, and its peak RSS (MiB)."""
    port = 19_000 + os.getpid() % 1000
    prefix = feed.upper()
    suffix = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "MMSTREAM_BOOTSTRAP_SERVERS": stack.bootstrap_servers,
        "MMSTREAM_SCHEMA_REGISTRY_URL": stack.registry_url,
        "MMSTREAM_BROKER_PROFILE": "embedded",
        "MMSTREAM_LOG_LEVEL": "WARNING",
        f"{prefix}_API_KEY": API_KEY,
        f"{prefix}_WS_URL": ws_url,
        f"{prefix}_REST_URL": rest_url,
        f"{prefix}_METRICS_PORT": str(port),
        **{
            f"MMSTREAM_TOPIC_{k.upper()}": f"{v}.{suffix}"
            for k, v in TopicSettings().names().items()
        },
    }
    connector = subprocess.Popen(
        [sys.executable, "-m", "mmstream.cli", "connect", feed],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(stop_child, connector)  # never leave it behind, even on error
    url = f"http://127.0.0.1:{port}/metrics"
    published, first_at, progress_at = 0.0, 0.0, time.monotonic()
    while published < expected and time.monotonic() - progress_at < 10:
        now = total(scrape(url) or {}, "mmstream_connector_records_published_total")
        if now > published:
            published, progress_at = now, time.monotonic()
            first_at = first_at or progress_at
        await asyncio.sleep(0.05)
    rss = peak_rss_mb(connector.pid)
    stop_child(connector)
    if published < expected:
        raise SystemExit(f"{feed}: the connector published {published:,.0f} of {expected:,}")
    return published / max(progress_at - first_at, 1e-9), rss


def stage_costs(feed: str, frames: list[str], stack: EmbeddedStack) -> list[tuple[str, float]]:
    """Microseconds per message of each stage, in-process over the same frames."""
    timings: list[tuple[str, float]] = []

    def timed(name: str, work: Callable[[], list[Any]]) -> list[Any]:
        started = time.perf_counter()
        out = work()
        timings.append((name, (time.perf_counter() - started) / len(frames) * 1e6))
        return out

    bodies = timed("parse (json.loads)", lambda: [json.loads(f) for f in frames])
    if feed == "mmapi":
        builders = {name: ChangeRecords(channel) for name, channel in CHANNELS.items()}
        values = timed(
            "convert (schema-driven)",
            lambda: [
                (
                    b["channel"],
                    builders[b["channel"]].build(
                        b["event"], b["payload"], b.get("old"), dict(ENVELOPE)
                    ),
                )
                for b in bodies
            ],
        )
        timed(
            "fingerprint (dedupe)",
            lambda: [fingerprint(b["payload"], b.get("old")) for b in bodies],
        )
    else:
        converter = Converter(load_schema_dict("predexon_sports_live"))
        values = timed(
            "convert (schema-driven)",
            lambda: [
                (
                    "sports_live",
                    converter.record(
                        converter.schema,
                        b["data"],
                        "data",
                        owned={"envelope": dict(ENVELOPE), "frame_extra": {}},
                    ),
                )
                for b in bodies
            ],
        )
        timed("fingerprint (dedupe)", lambda: [fingerprint(b["data"]) for b in bodies])
    topics = TopicSettings(
        **{k: f"{v}.{uuid.uuid4().hex[:8]}" for k, v in TopicSettings().names().items()}
    )
    serde = AvroSerde(SchemaRegistryClient({"url": stack.registry_url}), topics)
    serde.register_all()
    encoded = timed(
        "encode (Confluent Avro)",
        lambda: [(topic_id, serde.encode(topic_id, value)) for topic_id, value in values],
    )
    producer = Producer(producer_config(stack.target))

    def produce() -> list[Any]:
        for topic_id, data in encoded:
            while True:
                try:
                    producer.produce(topics.name(topic_id), data, b"k")
                    break
                except BufferError:
                    producer.poll(0.01)
            producer.poll(0)
        producer.flush(60)
        return []

    timed("produce (librdkafka, acks=all)", produce)
    return timings


async def measure(feed: str, stack: EmbeddedStack) -> list[tuple[str, str]]:
    frames = FRAMES[feed](MESSAGES)
    async with firehose(feed, frames) as source:
        bare = await bare_client(feed, client_url(feed, source), len(frames))
        rate, rss = await connector_rate(feed, stack, source.ws_url, source.rest_url, len(frames))
    rows = [
        (f"**{feed}**: frames (pre-encoded, served as fast as read)", f"{len(frames):,}"),
        ("  bare websockets + json.loads client", f"{bare:,.0f} msg/s"),
        ("  connector → acknowledged by Kafka", f"{rate:,.0f} msg/s"),
        ("  ratio connector / bare client", f"{rate / bare:.2f}"),
        ("  connector peak RSS", f"{rss:.0f} MiB"),
    ]
    for name, micros in stage_costs(feed, frames, stack):
        rows.append((f"  stage {name}", f"{micros:.1f} µs/msg ({1e6 / micros:,.0f} msg/s alone)"))
    return rows


async def main() -> None:
    rows: list[tuple[str, str]] = []
    with embedded_stack() as stack:
        for feed in FEEDS:
            rows += await measure(feed, stack)
    print(table(rows))


if __name__ == "__main__":
    asyncio.run(main())
