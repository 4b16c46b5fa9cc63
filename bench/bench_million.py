"""Memory over one million messages / events, in up to three runs.

1. Whole pipeline (`mmstream up --exit-when-done`, simulated feeds), `pipeline`: one million
   messages offered at 1,000 msg/s for 1,000 s (`pipeline SECONDS` for a shorter run). The
   RSS of the simulators, both connectors and the worker every 100 s (a tenth of a shorter
   run) and at their peak; the messages the simulators sent, the records the connectors
   published. After the feed ends, `up` waits up to DRAIN_LIMIT_S for the worker to catch up:
   the bench reports when the worker's consumer lag reached 0 (the drain time) with the raw
   records its consumer group committed against those in the raw topics (read from the
   broker: equal = every record reached the agents), the worker's RSS then, and whether `up`
   ended as "scenario sent and processed". On the embedded Tansu the worker falls
   behind, its fetch cost growing with every batch kept (README, Known limitations).
2. The worker alone, `worker`: one million raw events (400k orders, 400k bets, 200k scores,
   event times spread as at 1,000 events/s over 1,000 s) written beforehand in large batches,
   then drained by one worker: its peak RSS and its table sizes during and after the drain.
3. The worker alone, `steady`: the same million events written at 2,000 events/s (stamped
   with the time they are written) while the worker runs: state in a steady flow.

All with retention shortened (orders idle 60 s leave the table, settled ones after 30 s,
instead of an hour) so that bounded state shows within the run.

Usage: bench/bench_million.py [pipeline|worker|steady ...] [ORDERS | SECONDS [DRAIN_LIMIT_S]]
       (default: all three, about 40 minutes; 400000 orders = one million events; for
       `pipeline` the number is the run's length in seconds at 1,000 msg/s)
Both brokers: bench/both_brokers.py bench_million.py pipeline
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import Consumer, Producer, TopicPartition

from bench.bench_agents import agent_counts, bet, order, prepare_topics, score, start_worker
from bench.bench_pipeline import children, environ
from bench.common import embedded_stack, listing, peak_rss_mb, stop_child, table
from mmstream.core.kafka.config import ClusterTarget, producer_config
from mmstream.core.settings import TopicSettings, load_settings
from mmstream.core.stackfile import read_stack_file
from mmstream.view.sources import scrape, total
from processors.settings import ProcessorSettings
from schemas.serde import AvroSerde

ORDERS = 400_000  # + as many bets + half as many scores = 1,000,000 events
SPACING_MS = 2.5  # per order: its order, bet and half a score -> 1,000 events/s of event time
RETENTION = {"MMSTREAM_PROCESSOR_RETENTION_S": "60", "MMSTREAM_PROCESSOR_CLOSED_RETENTION_S": "30"}
STALL_S = 120.0  # no progress for this long ends the drain
DEADLINE_S = 3600.0
STEADY_RATE = 2_000.0  # events/s: within one worker's ~2.7k, so it keeps up


PIPELINE_RATE = 1000.0
PIPELINE_S = 1000.0
SAMPLE_EVERY_S = 100.0  # the RSS timeline's step
# the processes followed, and where each says its metrics port is (None: it has none)
ROLES = {
    "simulate": None,
    "connect mmapi": "MMAPI_METRICS_PORT",
    "connect predexon": "PREDEXON_METRICS_PORT",
    "process": "MMSTREAM_PROCESSOR_METRICS_PORT",
}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


RAW_TOPICS = ("orders", "bets", "accounts", "scores", "emergency", "sports_live")
DRAIN_LIMIT_S = 1800.0  # after the feed's end: how long the worker may take to catch up
WORKER = "process"


class PipelineWatch:
    """RSS of each process of `up` (a timeline and the peak), connectors' records published,
    the worker's consumer lag and records in, from their metrics."""

    def __init__(self) -> None:
        self.timeline: dict[str, list[float]] = {role: [] for role in ROLES}
        self.peaks: dict[str, float] = {}
        self.last_rss: dict[str, float] = {}
        self.published: dict[str, float] = {}
        self.lag: float | None = None
        self.records_in: dict[str, float] = {}
        self.keys: dict[str, float] = {}
        self.max_keys: dict[str, float] = {}

    def sample(self, parent: int, timeline: bool) -> None:
        for pid, cmdline in children(parent).items():
            role = next((r for r in ROLES if f"mmstream.cli {r}" in cmdline), None)
            if role is None:
                continue
            try:
                self.peaks[role] = max(self.peaks.get(role, 0.0), peak_rss_mb(pid))
                self.last_rss[role] = rss_mb(pid)
                if timeline:
                    self.timeline[role].append(self.last_rss[role])
                variable = ROLES[role]
                if variable is None:
                    continue
                port = environ(pid).get(variable)
                samples = scrape(f"http://127.0.0.1:{port}/metrics") or {}
            except (OSError, ValueError):
                continue
            if role.startswith("connect") and samples:
                self.published[role] = total(samples, "mmstream_connector_records_published_total")
            elif role == WORKER and samples:
                lags = samples.get("mmstream_processor_consumer_lag", [])
                if lags:
                    self.lag = sum(value for _, value in lags)
                for labels, value in samples.get("mmstream_processor_records_in_total", []):
                    self.records_in[labels["agent"]] = value
                for labels, value in samples.get("mmstream_processor_table_keys", []):
                    table = labels["table"]
                    self.keys[table] = value
                    self.max_keys[table] = max(self.max_keys.get(table, 0.0), value)


def raw_offsets(data_dir: str) -> dict[str, tuple[int, int | None]]:
    """Per raw topic, read from the broker: (records in it, records the worker's consumer
    group has committed as processed; None where it committed nothing)."""
    info = read_stack_file(data_dir) or {}
    consumer = Consumer(
        {
            "bootstrap.servers": info["bootstrap_servers"],
            "group.id": load_settings(ProcessorSettings).app_id,
            "enable.auto.commit": False,
        }
    )
    try:
        names = TopicSettings()
        metadata = consumer.list_topics(timeout=10)
        counts: dict[str, tuple[int, int | None]] = {}
        for topic_id in RAW_TOPICS:
            topic = names.name(topic_id)
            tps = [TopicPartition(topic, p) for p in metadata.topics[topic].partitions]
            ends = sum(consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps)
            committed = [tp.offset for tp in consumer.committed(tps, timeout=10)]
            done = sum(o for o in committed if o >= 0) if any(o >= 0 for o in committed) else None
            counts[topic_id] = (ends, done)
        return counts
    finally:
        consumer.close()


def offsets_row(counts: dict[str, tuple[int, int | None]]) -> str:
    read = {t: c for t, c in counts.items() if c[1] is not None}
    unread = sorted(t for t, c in counts.items() if c[1] is None and c[0])
    raw, done = sum(c[0] for c in read.values()), sum(c[1] or 0 for c in read.values())
    return f"{done:,} of {raw:,}" + (f" (no commit on {', '.join(unread)})" if unread else "")


def rss_row(timeline: list[float], peak: float, after: float | None) -> str:
    if not timeline:
        return "-"
    steps = ", ".join(f"{v:.0f}" for v in timeline)
    drained = "-" if after is None else f"{after:.0f}"
    ends = f"first {timeline[0]:.0f}, peak {peak:.0f}, last {timeline[-1]:.0f}"
    return f"{steps}; {ends}, after the drain {drained}"


def whole_pipeline(seconds: float, drain_limit_s: float = DRAIN_LIMIT_S) -> list[tuple[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MMAPI_", "PREDEXON_"))}
    watch = PipelineWatch()
    step_s = min(SAMPLE_EVERY_S, max(10.0, seconds / 10))
    feed_end: float | None = None
    drained: float | None = None
    counts: dict[str, tuple[int, int | None]] = {}
    worker_after: float | None = None
    offsets_error = ""

    with tempfile.TemporaryDirectory() as data_dir:
        env.update({**RETENTION, "MMSTREAM_DATA_DIR": data_dir, "MMSTREAM_LOG_LEVEL": "WARNING"})
        output = Path(data_dir) / "up.out"
        done_file = Path(data_dir) / "simulators" / "info.done"
        with output.open("wb") as sink:
            up = subprocess.Popen(
                [sys.executable, "-m", "mmstream.cli", "up", "--no-view", "--exit-when-done",
                 "--rate", str(PIPELINE_RATE), "--duration", str(seconds), "--seed", "11",
                 "--summary-interval", "60", "--drain-limit", str(drain_limit_s)],
                env=env, stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip
            began = time.monotonic()
            next_point = began + step_s  # the first point after start-up
            try:
                while up.poll() is None:
                    point = time.monotonic() >= next_point
                    if point:
                        next_point += step_s
                    watch.sample(up.pid, point)
                    if feed_end is None and done_file.exists():
                        feed_end = time.monotonic()
                    if feed_end is not None and drained is None:
                        try:
                            counts = raw_offsets(data_dir)
                        except Exception as error:  # up may be stopping the broker
                            offsets_error = f"; last error reading offsets: {error!r}"
                        read = [c for c in counts.values() if c[1] is not None]
                        # committed >= end: Tansu reports short ends (BROKERS.md)
                        if read and all((done or 0) >= end for end, done in read):
                            drained = time.monotonic()
                            worker_after = watch.last_rss.get(WORKER)
                    time.sleep(2.0)
            finally:
                stop_child(up)
        took = time.monotonic() - began
        sent = done_file.read_text().strip() if done_file.exists() else "not finished"
        lines = output.read_text(errors="replace").splitlines()
    ending = next((line for line in reversed(lines) if line.startswith("mmstream up:")), "?")
    feed_s = "-" if feed_end is None else f"{feed_end - began:,.0f} s"
    drain_s = (
        f"not drained within {drain_limit_s:,.0f} s{offsets_error}"
        if drained is None or feed_end is None
        else f"{drained - feed_end:,.0f} s"
    )
    rows = [
        (
            f"offered {PIPELINE_RATE:,.0f} msg/s for {seconds:,.0f} s",
            f"exit code {up.returncode} after {took:,.0f} s",
        ),
        ("  up's last word", ending.split(";")[0]),
        ("  messages the simulators sent", sent),
        ("  feed ended after / worker's lag 0 after the end", f"{feed_s} / {drain_s}"),
        (
            "  records published: MM API / Predexon connector",
            f"{watch.published.get('connect mmapi', 0):,.0f}"
            f" / {watch.published.get('connect predexon', 0):,.0f}",
        ),
        ("  raw records committed by the worker, of those in its topics", offsets_row(counts)),
        ("  records in per agent", listing(watch.records_in)),
        (
            "  worker table keys: most / at the end",
            f"{listing(watch.max_keys)} / {listing(watch.keys)}",
        ),
        (
            "  worker's consumer lag at its last scrape",
            "not measured" if watch.lag is None else f"{watch.lag:,.0f}",
        ),
    ]
    for role in ROLES:
        rows.append(
            (
                f"  RSS {role} (MiB) every {step_s:.0f} s",
                rss_row(
                    watch.timeline[role],
                    watch.peaks.get(role, 0),
                    worker_after if role == WORKER else None,
                ),
            )
        )
    return rows


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
        seconds = float(sizes[0]) if sizes and parts == ["pipeline"] else PIPELINE_S
        rows += whole_pipeline(seconds, float(sizes[1]) if len(sizes) > 1 else DRAIN_LIMIT_S)
    if "worker" in parts:
        rows += worker_run(sizes[0] if sizes else ORDERS, None)
    if "steady" in parts:
        rows += worker_run(sizes[0] if sizes else ORDERS, STEADY_RATE)
    print(table(rows))
