"""Memory of the connector's published state: RSS before and after 60 distinct 900 kB orders.

The MM API connector's real frame path (protocol, publisher, sink, Avro encoding) over a producer
that drops what it is given, with confluent's in-memory registry, so the figure is the state the
connector keeps, not Kafka's buffers. Each frame is built, handled and freed in turn.

    .venv/bin/python bench/bench_state_memory.py [--orders 60] [--size 900000] [--entities 0]

`--entities N` first fills the state with N ordinary orders (the per-entity figure of the README).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from pathlib import Path
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from pydantic import SecretStr

from connectors.metrics import ConnectorMetrics
from connectors.mmapi import MmapiProtocol
from connectors.publisher import Connection, Publisher
from connectors.settings import MmapiSettings
from connectors.sink import KafkaSink
from mmstream.core.kafka.config import ClusterTarget
from mmstream.core.settings import TopicSettings
from schemas.serde import AvroSerde


class DroppingProducer:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def produce(self, topic: str, value: bytes, key: Any, headers: Any, on_delivery: Any) -> None:
        on_delivery(None, None)

    def poll(self, timeout: float) -> int:
        return 0


def rss_mb() -> float:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def order_frame(order_id: int, client: str) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    payload = {"orderId": order_id, "client": client, "orderStatus": "OPEN", "updatedAt": stamp}
    frame = {"type": "broadcast", "channel": "orders", "event": "UPDATE", "payload": payload}
    return json.dumps(frame)


async def run(orders: int, size: int, entities: int) -> dict[str, float]:
    topics = TopicSettings()
    registry = SchemaRegistryClient.new_client({"url": "mock://bench-state"})
    serde = AvroSerde(registry, topics)
    serde.register_all()
    metrics = ConnectorMetrics("mmapi")
    sink = KafkaSink(
        ClusterTarget("127.0.0.1:1", embedded=False),
        serde,
        topics,
        metrics,
        1_000_000,
        producer_factory=DroppingProducer,  # type: ignore[arg-type]  # produce() only
    )
    settings = MmapiSettings(
        api_key=SecretStr("k"), remembered_entities=max(100_000, entities + orders)
    )
    protocol = MmapiProtocol(settings, Publisher("mmapi", sink, metrics), metrics)
    session = Connection("bench", "1")
    await protocol.handle(order_frame(0, "warm-up"), session)
    start = rss_mb()
    for order_id in range(1, entities + 1):
        await protocol.handle(order_frame(order_id, f"client-{order_id}"), session)
    filled = rss_mb()
    for order_id in range(10**9, 10**9 + orders):
        frame = order_frame(order_id, f"{order_id}:" + "x" * size)
        await protocol.handle(frame, session)
        del frame
    end = rss_mb()
    state = protocol.published
    return {
        "rss_before_mb": start,
        "rss_after_ordinary_mb": filled,
        "rss_after_large_mb": end,
        "large_growth_mb": end - filled,
        "ordinary_bytes_each": (filled - start) * 2**20 / entities if entities else 0.0,
        "entries": len(state.entries),
        "budgeted_mb": getattr(state, "bytes", float("nan")) / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=60)
    parser.add_argument("--size", type=int, default=900_000)
    parser.add_argument("--entities", type=int, default=0)
    args = parser.parse_args()
    figures = asyncio.run(run(args.orders, args.size, args.entities))
    for name, value in figures.items():
        print(f"{name:>24}: {value:,.1f}")


if __name__ == "__main__":
    main()
