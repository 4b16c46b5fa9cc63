"""Agent throughput and latency on one worker, beside a bare Faust agent and the peer.

1. Backlog: N orders with a fill and a hedge bet each (2N events) are written first. On that
   same backlog, in this order:
   - the baseline: a bare Faust agent (bench/faust_bare.py) iterating the 2N order and bet
     events one by one, decoding each through the one decoder, one table update per event;
   - the peer: Quix Streams (bench/peer_quix.py, in its own venv bench/.venv-peer, installed
     from PyPI on first use; `--no-peer` skips it): the same events, decode, per-key state
     with changelog, one Avro output per input;
   - one `mmstream process` worker draining it (the hedge join), then N/2 score updates
     written once it is done (the score router, downstream the reconciliation), then N/2
     emergency flags of the feed, on and off in turn (the emergency agent's own input):
     events/s through each agent, in wall time and per CPU-second of the worker (on a shared
     machine the CPU figure is the steadier one), and each agent's ratio to the baseline
     (the goal of issue #17: >= 2.5x).
2. Steady load: orders + bets written at RATE events/s for SECONDS; latency from the raw
   record's append to its `hedge.fills` record's append (Kafka timestamps): p50 / p99.

Usage: bench/bench_agents.py [N] [RATE] [SECONDS] [--no-peer]   (defaults 5000, 500, 10)
On both brokers: bench/both_brokers.py bench_agents.py 5000 500 5
"""

from __future__ import annotations

import atexit
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
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
from schemas import SCHEMA_DIR
from schemas.serde import AvroSerde

SESSION = Connection(connection_id="bench", subscription_id="1")
BENCH = Path(__file__).resolve().parent
PEER_VENV = BENCH / ".venv-peer"
PEER_PACKAGES = ("quixstreams==3.28.1", "fastavro")
SCRAPE_INTERVAL_S = 0.1


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


def emergency_flag(i: int, now: int) -> dict[str, Any]:
    """The feed's emergency flag, on and off in turn (each one a transition)."""
    return change(
        "UPDATE", now + i, {"emergency": i % 2 == 0, "reason": "bench", "triggeredAt": now + i}
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
    target = stack.target
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
        "MMSTREAM_BROKER_PROFILE": stack.target.profile,
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
    profile = os.environ.get("BENCH_PROFILE")  # a path: py-spy samples the worker into it
    if profile:
        spy = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(worker.pid)]
        subprocess.Popen([*spy, "--format", "raw", "--output", profile, "--nonblocking"])
    return worker


@dataclass
class Drain:
    """Events one process got through, in wall time and in the CPU time it used."""

    events: float
    seconds: float
    cpu: float

    def rate(self) -> float:
        return self.events / max(self.seconds, 1e-9)

    def cpu_rate(self) -> float:
        return self.events / max(self.cpu, 1e-9)


def timed_child(command: list[str], what: str, timeout_s: float = 900) -> Drain:
    """Run a bench child printing `events=<n> seconds=<s> cpu=<s>`."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    # Faust sends a worker's stdout to its log (stderr)
    found = re.findall(r"events=(\d+) seconds=([\d.]+) cpu=([\d.]+)", done.stdout + done.stderr)
    if not found:
        raise RuntimeError(f"{what} printed no result: {done.stdout[-2000:]} {done.stderr[-3000:]}")
    return Drain(*(float(v) for v in found[-1]))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def watch_drains(
    url: str,
    pid: int,
    targets: dict[str, int],
    done: set[str] | None = None,
    write: Callable[[], None] | None = None,
) -> dict[str, Drain]:
    """Each agent's drain of a backlog (but those `done` before), written by `write` once the
    counts before it are known (or written already): its records from the last scrape before
    its first one (the first one if written already) to its last one, and the worker's CPU
    time over that span (the worker's: the share of the agents downstream, running at the
    same time, is in it)."""
    done = done or set()
    base = agent_counts(url)  # what each agent counted before this backlog
    goals = {a: goal + base.get(a, 0.0) for a, goal in targets.items()}
    previous = (time.monotonic(), cpu_seconds(pid))  # the last scrape: when, worker CPU
    if write is not None:
        write()
    # a backlog written before: from the first scrape that counts (the last one before it
    # may be seconds earlier, the worker still starting)
    start_at_first = write is None
    first: dict[str, tuple[float, float]] = {}  # agent -> (when, cpu) just before it counted
    last: dict[str, tuple[float, float, float]] = {}  # agent -> (count, when, cpu) last grew
    deadline = time.monotonic() + 600
    settle: float | None = None  # after the targets: the downstream agents finish
    while time.monotonic() < deadline and (settle is None or time.monotonic() < settle):
        counts = agent_counts(url)
        now, cpu = time.monotonic(), cpu_seconds(pid)
        for agent, count in counts.items():
            if agent in done or count <= base.get(agent, 0.0):
                continue
            if agent not in first:
                first[agent] = (now, cpu) if start_at_first else previous
            if count > last.get(agent, (0.0, 0.0, 0.0))[0]:
                last[agent] = (count, now, cpu)
        if settle is None and all(counts.get(a, 0) >= goal for a, goal in goals.items()):
            settle = time.monotonic() + 3.0
        previous = (now, cpu)
        time.sleep(SCRAPE_INTERVAL_S)
    return {
        agent: Drain(count - base.get(agent, 0.0), when - first[agent][0], cpu - first[agent][1])
        for agent, (count, when, cpu) in last.items()
    }


def ratios(drain: Drain, baseline: Drain) -> str:
    return (
        f"{drain.rate() / baseline.rate():.1f}x in wall time, "
        f"{drain.cpu_rate() / baseline.cpu_rate():.1f}x per CPU-second"
    )


def ensure_peer() -> Path:
    """The peer's venv (bench/.venv-peer), created and filled from PyPI on first use."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    return python


def rate_row(what: str, drain: Drain) -> tuple[str, str]:
    return what, (
        f"{drain.events:,.0f} events in {drain.seconds:.1f} s = {drain.rate():,.0f} events/s "
        f"({drain.cpu:.1f} CPU-s, {drain.cpu_rate():,.0f} events per CPU-second)"
    )


def main(n: int, rate: float, seconds: float, peer: bool) -> None:
    with embedded_stack() as stack, tempfile.TemporaryDirectory() as data_dir:
        target, topics, serde = prepare_topics(stack)
        inputs = [f"{tid}={topics.name(tid)}" for tid in ("orders", "bets")]
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
            producer.poll(0)
        producer.flush(60)
        scores = [serde.encode("scores", score(i % 50, now)) for i in range(0, n, 2)]
        flags = [serde.encode("emergency", emergency_flag(i, now)) for i in range(0, n, 2)]
        load = {"before": os.getloadavg()[0]}
        bootstrap, expected = target.bootstrap_servers, str(2 * n)
        bare_args = [bootstrap, target.profile, stack.registry_url, expected, *inputs]
        bare = timed_child(
            [sys.executable, str(BENCH / "faust_bare.py"), *bare_args], "the bare Faust baseline"
        )
        quix = None
        if peer:
            peer_out = f"{topics.name('hedge_fills')}.peer"
            peer_args = [bootstrap, expected, peer_out, str(SCHEMA_DIR), *inputs]
            quix = timed_child(
                [str(ensure_peer()), str(BENCH / "peer_quix.py"), *peer_args],
                "the peer (Quix Streams)",
            )
        port = 19_500 + os.getpid() % 400
        worker = start_worker(stack, data_dir, topics, port)
        url = f"http://127.0.0.1:{port}/metrics"
        drains = watch_drains(url, worker.pid, {"hedge": 2 * n})
        # the emergency agent's own backlog comes later: what it got here are the join's signals
        drains.pop("emergency", None)

        # the score updates once the hedge join is done, then the feed's emergency flags (the
        # emergency agent's own input): each drain has the worker to itself
        def write(topic_id: str, records: list[tuple[bytes, bytes]]) -> Callable[[], None]:
            def produce() -> None:
                for key, value in records:
                    producer.produce(topics.name(topic_id), key=key, value=value)
                producer.flush(60)

            return produce

        score_records = [(f"fx{i % 50}".encode(), v) for i, v in enumerate(scores)]
        drains.update(
            watch_drains(
                url,
                worker.pid,
                {"score-router": n // 2},
                set(drains),
                write("scores", score_records),
            )
        )
        drains.pop("emergency", None)  # again: the router's activity signals
        flag_records = [(b"emergency", v) for v in flags]
        drains.update(
            watch_drains(
                url,
                worker.pid,
                {"emergency": n // 2},
                set(drains),
                write("emergency", flag_records),
            )
        )
        load["after backlog"] = os.getloadavg()[0]
        backlog_rows = [rate_row("baseline: bare Faust agent + table, orders + bets", bare)]
        if quix is not None:
            backlog_rows.append(rate_row("peer: Quix Streams, orders + bets", quix))
        for agent, drain in sorted(drains.items()):
            backlog_rows.append(rate_row(f"{agent}: backlog drain", drain))
            backlog_rows.append((f"{agent}: ratio to the baseline", ratios(drain, bare)))
        if quix is not None:
            backlog_rows.append(("peer: ratio to the baseline", ratios(quix, bare)))

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
                (
                    "backlog",
                    f"{n:,} orders + {n:,} bets, then {n // 2:,} scores, "
                    f"then {n // 2:,} emergency flags",
                ),
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
                ("load average (1 min)", ", ".join(f"{k} {v:.1f}" for k, v in load.items())),
            ]
        )
    )


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(
        int(args[0]) if len(args) > 0 else 5_000,
        float(args[1]) if len(args) > 1 else 500.0,
        float(args[2]) if len(args) > 2 else 10.0,
        "--no-peer" not in sys.argv,
    )
