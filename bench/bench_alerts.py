"""Unhedged-fill alerts at the deadline: alert time - (fill time + deadline) at steady load.

One worker (embedded broker, tuned profile, default tick and out-of-order grace) is fed RATE
orders/s for SECONDS, each filled when written; a share UNHEDGED of them gets no hedge bet, the
rest a bet at once. For each unhedged fill: the `risk.alerts` OPEN record's append time minus
(the fill's append time + the deadline), p50 / p90 / p99 / max, beside the deadline, the tick
interval, the out-of-order grace (what stream time waited out on every alert before inputs that
are caught up stopped holding it back), and the bare pipeline latency (raw append →
`hedge.fills` append of the hedged orders of the same run). Also counted: hedged fills alerted
(false alerts) and unhedged fills never alerted.

Usage: bench/bench_alerts.py [RATE] [SECONDS] [DEADLINE_S] [UNHEDGED]   (defaults 50 20 2 0.2)
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import OFFSET_END, Consumer, Message, Producer, TopicPartition

from bench.bench_agents import bet, order, prepare_topics, start_worker
from bench.common import embedded_stack, percentiles, table
from mmstream.core.kafka.config import consumer_config, producer_config
from processors.settings import ProcessorSettings


def pick(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main(rate: float, seconds: float, deadline_s: float, unhedged_share: float) -> None:
    defaults = ProcessorSettings()
    deadline_ms = int(deadline_s * 1000)
    rng = random.Random(7)
    with embedded_stack() as stack, tempfile.TemporaryDirectory() as data_dir:
        target, topics, serde = prepare_topics(stack)
        producer = Producer(producer_config(target))
        port = 19_100 + int(time.time()) % 400
        start_worker(
            stack, data_dir, topics, port, MMSTREAM_PROCESSOR_HEDGE_DEADLINE_S=str(deadline_s)
        )
        consumer = Consumer(
            consumer_config(target, f"bench-{uuid.uuid4()}", **{"enable.auto.commit": False})
        )
        names = {topics.name("risk_alerts"): "alerts", topics.name("hedge_fills"): "fills"}
        assigned = []
        for name in names:
            partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
            assigned += [TopicPartition(name, p, OFFSET_END) for p in partitions]
        consumer.assign(assigned)

        def produce(i: int, hedged: bool) -> int:
            stamp = int(time.time() * 1000)
            key = str(i).encode()
            producer.produce(
                topics.name("orders"), key=key, value=serde.encode("orders", order(i, stamp))
            )
            if hedged:
                producer.produce(
                    topics.name("bets"), key=key, value=serde.encode("bets", bet(i, stamp))
                )
            producer.poll(0)
            return stamp

        # warm-up: the worker has joined and derives records before the load starts
        warm = time.monotonic() + 120
        while time.monotonic() < warm:
            produce(rng.randrange(10**9, 2 * 10**9), True)
            message = consumer.poll(1.0)
            if message is not None and not message.error():
                break
        for _ in range(20):
            consumer.poll(0.1)

        filled_at: dict[int, int] = {}
        unhedged: set[int] = set()
        lateness: list[float] = []
        pipeline: list[float] = []
        alerted: set[int] = set()
        false_alerts = 0

        def read(message: Message | None) -> None:
            nonlocal false_alerts
            if message is None or message.error():
                return
            _, appended_ms = message.timestamp()
            if names[message.topic() or ""] == "fills":
                order_id = int(message.key() or b"-1")
                if order_id in filled_at and order_id not in unhedged:
                    pipeline.append(appended_ms - filled_at[order_id])
                return
            value = serde.decode("risk_alerts", message.value() or b"")
            if value["alert_type"] != "UNHEDGED_FILL" or value["state"] != "OPEN":
                return
            order_id = int(value["order_id"])
            if order_id in unhedged:
                alerted.add(order_id)
                lateness.append(appended_ms - (filled_at[order_id] + deadline_ms))
            elif order_id in filled_at:
                false_alerts += 1

        begin = time.monotonic()
        i = 0
        while time.monotonic() - begin < seconds:
            due = begin + i / rate
            if due > time.monotonic():
                time.sleep(max(0.0, due - time.monotonic()))
            hedged = rng.random() >= unhedged_share
            filled_at[i] = produce(i, hedged)
            if not hedged:
                unhedged.add(i)
            i += 1
            read(consumer.poll(0))
        producer.flush(30)

        deadline_passed = time.monotonic() + deadline_s + 30
        while time.monotonic() < deadline_passed and (len(alerted) < len(unhedged) or not pipeline):
            read(consumer.poll(0.2))
        consumer.close()
    late = percentiles(lateness) if lateness else {}
    floor = percentiles(pipeline) if pipeline else {}
    print(
        table(
            [
                ("steady load", f"{rate:,.0f} orders/s for {seconds:.0f} s ({i:,} orders)"),
                ("deadline", f"{deadline_ms} ms"),
                (
                    "tick interval / out-of-order grace",
                    f"{defaults.tick_interval_s * 1000:.0f} ms"
                    f" / {defaults.out_of_order_grace_s * 1000:.0f} ms",
                ),
                (
                    "alert append - (fill append + deadline)",
                    f"p50 {late.get('p50', float('nan')):.0f} ms, "
                    f"p90 {pick(lateness, 0.9):.0f} ms, p99 {late.get('p99', float('nan')):.0f} ms,"
                    f" max {max(lateness, default=float('nan')):.0f} ms "
                    f"({len(alerted)} of {len(unhedged)} unhedged fills alerted)",
                ),
                (
                    "within deadline + 1 s",
                    f"{sum(1 for x in lateness if x <= 1000)} of {len(unhedged)}",
                ),
                (
                    "bare: raw append -> hedge.fills append (hedged orders)",
                    f"p50 {floor.get('p50', float('nan')):.0f} ms, "
                    f"p99 {floor.get('p99', float('nan')):.0f} ms",
                ),
                ("hedged fills alerted (false alerts)", f"{false_alerts}"),
            ]
        )
    )


if __name__ == "__main__":
    main(
        float(sys.argv[1]) if len(sys.argv) > 1 else 50.0,
        float(sys.argv[2]) if len(sys.argv) > 2 else 20.0,
        float(sys.argv[3]) if len(sys.argv) > 3 else 2.0,
        float(sys.argv[4]) if len(sys.argv) > 4 else 0.2,
    )
