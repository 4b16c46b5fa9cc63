"""The embedded broker with and without the tuned client profile (mmstream.core.kafka.config):
broker start-to-ready, consumer-group join, produce -> consume latency, and Faust worker
start -> first event. Bounded: each measurement gives up after its own limit."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bench.common import percentiles, table
from mmstream.core.kafka.config import EMBEDDED_CONSUMER_PROFILE
from mmstream.stack.embedded import Broker

APP = Path(__file__).resolve().parent.parent / "tests/integration/broker/faust_counter_app.py"


def topic(bootstrap: str) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the result
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
    return name


def consumer(bootstrap: str, tuned: bool) -> Consumer:
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": f"g-{uuid.uuid4()}",
        "auto.offset.reset": "earliest",
    }
    if tuned:
        conf.update(EMBEDDED_CONSUMER_PROFILE)
    return Consumer(conf)


def join_seconds(bootstrap: str, tuned: bool) -> float:
    name = topic(bootstrap)
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(name, b"x")
    producer.flush(10)
    c = consumer(bootstrap, tuned)
    started = time.monotonic()
    c.subscribe([name])
    while time.monotonic() - started < 60:
        message = c.poll(0.05)
        if message is not None and not message.error():
            break
    elapsed = time.monotonic() - started
    c.close()
    return elapsed


def latency_ms(bootstrap: str, tuned: bool, samples: int = 100) -> dict[str, float]:
    name = topic(bootstrap)
    c = consumer(bootstrap, tuned)
    c.subscribe([name])
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    producer.produce(name, b"warm")
    producer.flush(10)
    while (m := c.poll(0.1)) is None or m.error():
        pass
    results = []
    for _ in range(samples):
        sent = time.perf_counter()
        producer.produce(name, b"x")
        producer.flush(10)
        while (m := c.poll(0.5)) is None or m.error():
            pass
        results.append((time.perf_counter() - sent) * 1000)
    c.close()
    return percentiles(results)


def faust_first_event_seconds(bootstrap: str, tuned: bool) -> float:
    source, output = topic(bootstrap), topic(bootstrap)
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(source, key=b"k", value=b"1")
    producer.flush(10)
    with tempfile.TemporaryDirectory() as data:
        env = {
            **os.environ,
            "TEST_BOOTSTRAP": bootstrap,
            "TEST_EMBEDDED": "1" if tuned else "0",
            "TEST_APP_ID": f"bench-{uuid.uuid4().hex[:6]}",
            "TEST_INPUT": source,
            "TEST_OUTPUT": output,
            "TEST_DATADIR": data,
        }
        started = time.monotonic()
        worker = subprocess.Popen(
            [sys.executable, str(APP)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        c = consumer(bootstrap, True)
        c.subscribe([output])
        elapsed = float("nan")
        while time.monotonic() - started < 90:
            message = c.poll(0.05)
            if message is not None and not message.error():
                elapsed = time.monotonic() - started
                break
        c.close()
        worker.terminate()
        worker.wait(30)
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        broker = Broker(Path(directory))
        broker.start_ready()
        try:
            b = broker.bootstrap_servers
            rows = [
                ("broker start-to-ready (first metadata answer)", f"{broker.ready_s * 1000:.0f} ms")
            ]
            for tuned in (True, False):
                label = "tuned profile" if tuned else "client defaults"
                rows.append(
                    (
                        f"consumer group join + first record ({label})",
                        f"{join_seconds(b, tuned):.2f} s",
                    )
                )
                p = latency_ms(b, tuned)
                rows.append(
                    (
                        f"produce -> consume ({label})",
                        f"p50 {p['p50']:.1f} ms, p99 {p['p99']:.1f} ms",
                    )
                )
                rows.append(
                    (
                        f"Faust worker start -> first event ({label})",
                        f"{faust_first_event_seconds(b, tuned):.1f} s",
                    )
                )
        finally:
            broker.stop()
    print(table(rows))


if __name__ == "__main__":
    main()
