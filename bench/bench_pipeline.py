"""End-to-end latency and memory of the whole pipeline: `mmstream up` on simulated feeds.

For each offered RATE, `mmstream up --no-view --rate RATE --duration SECONDS --exit-when-done`
runs in a fresh data dir while this script follows `hedge.fills` and `scores.reconciled` on its
embedded broker. Latency of a derived record = its append time (Kafka timestamp) - the event
time of the newest input it reflects (`updated_at` of a fill; the newer provider view of a
reconciled game). The simulators stamp every message with its scheduled send time, so a
simulator or connector that falls behind shows up in the latency too. Peak RSS (VmHWM) of the
MM API connector and of the worker, and the worker's table sizes, are sampled every second.

Usage: bench/bench_pipeline.py [SECONDS] [RATE ...]   (defaults: 30 s at 1,000 and 10,000 msg/s)
The one-million-event memory run is bench/bench_million.py.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient

from bench.common import listing, peak_rss_mb, percentiles, stop_child, table
from mmstream.core.kafka.config import ClusterTarget, consumer_config
from mmstream.core.settings import TopicSettings
from mmstream.view.sources import scrape, total
from schemas.serde import AvroSerde
from schemas.values import plain

# the processes whose memory and metrics are followed, and where each says its metrics port is
METRICS_PORT_VARIABLE = {
    "connect mmapi": "MMAPI_METRICS_PORT",
    "process": "MMSTREAM_PROCESSOR_METRICS_PORT",
}


def children(parent: int) -> dict[int, str]:
    """Every descendant process of `parent` with its command line."""
    by_parent: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            by_parent.setdefault(ppid, []).append(int(entry.name))
    found: dict[int, str] = {}
    pending = [parent]
    while pending:
        for pid in by_parent.get(pending.pop(), []):
            try:
                found[pid] = (
                    Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                ).decode()
            except OSError:
                continue
            pending.append(pid)
    return found


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


class Follower(threading.Thread):
    """Reads the derived topics from the beginning; keeps each record's latency."""

    def __init__(self, target: ClusterTarget, registry_url: str) -> None:
        super().__init__(daemon=True)
        self.topics = TopicSettings()
        self.serde = AvroSerde(SchemaRegistryClient({"url": registry_url}), self.topics)
        self.consumer = Consumer(
            consumer_config(target, f"bench-{os.getpid()}", **{"enable.auto.commit": False})
        )
        self.latencies: dict[str, list[float]] = {"hedge_fills": [], "scores_reconciled": []}
        self.stopping = threading.Event()

    def run(self) -> None:
        names = {self.topics.name(t): t for t in self.latencies}
        assignment = []
        for name in names:
            while not self.stopping.is_set():
                metadata = self.consumer.list_topics(name, timeout=5).topics.get(name)
                if metadata is not None and metadata.partitions:
                    assignment += [
                        TopicPartition(name, p, OFFSET_BEGINNING) for p in metadata.partitions
                    ]
                    break
                time.sleep(0.2)
        self.consumer.assign(assignment)
        while not self.stopping.is_set():
            message = self.consumer.poll(0.2)
            raw = None if message is None or message.error() else message.value()
            if message is None or raw is None:
                continue
            topic_id = names[message.topic() or ""]
            value = plain(self.serde.decode(topic_id, raw))
            event_ms = input_time(topic_id, value)
            if event_ms:
                self.latencies[topic_id].append(message.timestamp()[1] - event_ms)
        self.consumer.close()


def input_time(topic_id: str, value: dict[str, Any]) -> int | None:
    if topic_id == "hedge_fills":
        return value.get("updated_at")
    views = [value.get(p) or {} for p in ("mmapi", "predexon")]
    times = [v["updated_at"] for v in views if v.get("updated_at")]
    return max(times) if times else None


def run(rate: float, seconds: float) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as data_dir:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MMAPI_", "PREDEXON_"))}
        env.update({"MMSTREAM_DATA_DIR": data_dir, "MMSTREAM_LOG_LEVEL": "WARNING"})
        up = subprocess.Popen(
            [sys.executable, "-m", "mmstream.cli", "up", "--no-view", "--exit-when-done",
             "--rate", str(rate), "--duration", str(seconds), "--seed", "11"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        atexit.register(stop_child, up)
        stack_file = Path(data_dir) / "stack.json"
        while not stack_file.exists() and up.poll() is None:
            time.sleep(0.1)
        stack = json.loads(stack_file.read_text())
        target = ClusterTarget(stack["bootstrap_servers"], embedded=True)
        follower = Follower(target, stack["registry_url"])
        follower.start()
        peaks: dict[str, float] = {}
        tables: dict[str, float] = {}
        records_in: dict[str, float] = {}
        connector: dict[str, float] = {}
        while up.poll() is None:
            for pid, cmdline in children(up.pid).items():
                role = next((r for r in METRICS_PORT_VARIABLE if r in cmdline), None)
                if role is None:
                    continue
                try:
                    peaks[role] = max(peaks.get(role, 0.0), peak_rss_mb(pid))
                    port = environ(pid).get(METRICS_PORT_VARIABLE[role])
                    samples = scrape(f"http://127.0.0.1:{port}/metrics") or {}
                    if role == "connect mmapi":
                        for name in ("records_published_total", "reconnects_total"):
                            if f"mmstream_connector_{name}" in samples:
                                connector[name] = total(samples, f"mmstream_connector_{name}")
                    else:
                        for labels, value in samples.get("mmstream_processor_table_keys", []):
                            tables[labels["table"]] = value
                        for labels, value in samples.get("mmstream_processor_records_in_total", []):
                            records_in[labels["agent"]] = value
                except (OSError, ValueError):
                    continue
            time.sleep(1.0)
        follower.stopping.set()
        follower.join(10)
    inputs = records_in.get("hedge", 0) + records_in.get("score-router", 0)
    connector_mb, worker_mb = peaks.get("connect mmapi", math.nan), peaks.get("process", math.nan)
    return [
        (f"offered {rate:,.0f} msg/s for {seconds:.0f} s", f"exit code {up.returncode}"),
        (
            "  MM API connector: records into Kafka / reconnects",
            f"{connector.get('records_published_total', 0):,.0f}"
            f" / {connector.get('reconnects_total', 0):,.0f}",
        ),
        ("  raw events through the agents", f"{inputs:,.0f}"),
        ("  fill/bet sent -> hedge.fills append", summary(follower.latencies["hedge_fills"])),
        ("  score sent -> scores.reconciled", summary(follower.latencies["scores_reconciled"])),
        ("  peak RSS: MM API connector / worker", f"{connector_mb:.0f} / {worker_mb:.0f} MiB"),
        ("  worker table keys at the end", listing(tables)),
    ]


def summary(latencies: list[float]) -> str:
    if not latencies:
        return "no records"
    p = percentiles(latencies)
    return (
        f"p50 {p['p50']:,.0f} ms, p95 {p['p95']:,.0f} ms, p99 {p['p99']:,.0f} ms"
        f" ({len(latencies):,} records)"
    )


def main(seconds: float, rates: list[float]) -> None:
    rows: list[tuple[str, str]] = []
    for rate in rates:
        rows += run(rate, seconds)
    print(table(rows))


if __name__ == "__main__":
    main(
        float(sys.argv[1]) if len(sys.argv) > 1 else 30.0,
        [float(r) for r in sys.argv[2:]] or [1000.0, 10000.0],
    )
