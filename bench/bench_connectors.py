"""Connector throughput against a source faster than any client (`bench/firehose.py`).

For each feed, in one run: the rate at which one `mmstream connect <feed>` process gets
records acknowledged by Kafka, beside the receive rate of a bare `websockets` client doing
only `json.loads` on the same frames (the ceiling any Python consumer of this socket has), and
the cost of each stage the connector adds, measured in-process over the same frames: parse
(`json.loads` and the edge checks), then the connector's one fused pass (convert + encode +
fingerprint, `connectors.wire`), then the same work in separate steps: convert (the compiled
JSON → Avro-shape converters), fingerprint (dedupe), encode (Confluent wire format through the
project's serde: the compiled Avro writer), produce (librdkafka, the encoded bytes, to the same
broker).

Usage: bench/bench_connectors.py [MESSAGES] [FEED ...]   (default 100000, both feeds)
With MMSTREAM_BENCH_PROFILE=DIR, py-spy (in the venv) samples each connector process while it
runs and writes DIR/<feed>.txt (collapsed stacks; `--format raw`).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websockets
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from fastavro import parse_schema, schemaless_writer

from bench.common import embedded_stack, peak_rss_mb, stop_child, table
from bench.firehose import (
    API_KEY,
    client_url,
    firehose,
    mmapi_frames,
    predexon_frames,
    subscribe_message,
)
from connectors.channels import CHANNELS, ChangeRecords
from connectors.edge import EdgeLimits, check_document
from connectors.fingerprints import RecordPrint
from connectors.predexon import compared_fields
from connectors.publisher import parse_frame
from connectors.records import Converter
from connectors.state import fingerprint
from connectors.wire import LiveStateWriter
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
OWNED: dict[str, Any] = {"envelope": {}, "frame_extra": {}}
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
) -> tuple[float, float, float]:
    """Records/s acknowledged by Kafka for one connector process, its peak RSS (MiB) and the
    CPU time it spent per record (µs; what a core of its own would make of it)."""
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
    profiler = profile(feed, connector.pid)
    url = f"http://127.0.0.1:{port}/metrics"
    published, first_at, progress_at = 0.0, 0.0, time.monotonic()
    first_count, first_cpu, cpu = 0.0, 0.0, 0.0
    # up to 60 s to start (imports, topics, subscription on a loaded machine), then 10 s stalls
    while published < expected and time.monotonic() - progress_at < (10 if first_at else 60):
        now = total(scrape(url) or {}, "mmstream_connector_records_published_total")
        if now > published:
            published, progress_at, cpu = now, time.monotonic(), cpu_seconds(connector.pid)
            if not first_at:
                first_at, first_count, first_cpu = progress_at, published, cpu
        await asyncio.sleep(0.25)  # a scrape costs the connector CPU: not too often
    rss = peak_rss_mb(connector.pid)
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
        profiler.wait(60)
    stop_child(connector)
    if published < expected:
        raise SystemExit(f"{feed}: the connector published {published:,.0f} of {expected:,}")
    cpu_per_message = (cpu - first_cpu) / max(published - first_count, 1) * 1e6
    return published / max(progress_at - first_at, 1e-9), rss, cpu_per_message


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile(feed: str, pid: int) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the connector, if MMSTREAM_BENCH_PROFILE names an output directory."""
    directory = os.environ.get("MMSTREAM_BENCH_PROFILE")
    if not directory:
        return None
    Path(directory).mkdir(parents=True, exist_ok=True)
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [str(py_spy), "record", "--format", "raw", "--rate", "250", "--nonblocking"]
    output = Path(directory) / f"{feed}.txt"
    process = subprocess.Popen(
        [*command, "-o", str(output), "-p", str(pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(stop_child, process)
    return process


def stage_costs(feed: str, frames: list[str], stack: EmbeddedStack) -> list[tuple[str, float]]:
    """Microseconds per message of each stage, in-process over the same frames."""
    timings: list[tuple[str, float]] = []

    def timed(name: str, work: Callable[[], list[Any]]) -> list[Any]:
        started = time.process_time()  # CPU time: less at the mercy of the machine's load
        out = work()
        timings.append((name, (time.process_time() - started) / len(frames) * 1e6))
        return out

    limits = EdgeLimits()
    bodies = timed(
        "parse (json.loads + edge checks)", lambda: [parse_frame(f, limits) for f in frames]
    )
    fused(feed, bodies, timed)
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
        prints = RecordPrint(converter.schema, compared_fields(converter.schema))
        timed("fingerprint (dedupe, own writer)", lambda: [prints(value) for _, value in values])
    topics = TopicSettings(
        **{k: f"{v}.{uuid.uuid4().hex[:8]}" for k, v in TopicSettings().names().items()}
    )
    serde = AvroSerde(SchemaRegistryClient({"url": stack.registry_url}), topics)
    serde.register_all()
    for topic_id, value in values[:1]:
        serde.encode(topic_id, value)  # the registry lookup of the id, once, outside the timing
    fields = timed(
        "encode (Confluent Avro, compiled writer)",
        lambda: [(topic_id, *serde.encode_fields(topic_id, value)) for topic_id, value in values],
    )
    encoded = [(topic_id, data) for topic_id, data, _ in fields]
    if feed == "mmapi":  # MM API's fingerprint digests a run of the encoded record
        timed(
            "fingerprint (dedupe, digest of the encoded payload…old_extra)",
            lambda: [builders[t].fingerprint(data, starts) for t, data, starts in fields],
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
    baselines(feed, frames, bodies, values, timed)
    return timings


def fused(
    feed: str,
    bodies: list[dict[str, Any]],
    timed: Callable[[str, Callable[[], list[Any]]], list[Any]],
) -> None:
    """The connectors' hot path: convert, encode and fingerprint in one pass
    (`connectors.wire`); the stages below are the same work in separate steps."""
    name = "convert + encode + fingerprint, fused (the connector's path)"
    prefix = b"\x00\x00\x00\x00\x01"
    if feed == "mmapi":
        records = {name: ChangeRecords(channel) for name, channel in CHANNELS.items()}
        timed(
            name,
            lambda: [
                records[b["channel"]].written(
                    prefix, b["event"], b["payload"], b.get("old"), dict(ENVELOPE), {}
                )
                for b in bodies
            ],
        )
        return
    converter = Converter(load_schema_dict("predexon_sports_live"))
    wire = LiveStateWriter(converter, compared_fields(converter.schema))
    timed(
        name,
        lambda: [
            wire.write(prefix, b["data"], {"envelope": dict(ENVELOPE), "frame_extra": {}})
            for b in bodies
        ],
    )


def baselines(
    feed: str,
    frames: list[str],
    bodies: list[dict[str, Any]],
    values: list[tuple[str, dict[str, Any]]],
    timed: Callable[[str, Callable[[], list[Any]]], list[Any]],
) -> None:
    """What the same stages cost before they were compiled, over the same frames."""
    timed("before: edge walk of every document", lambda: [walk(b) for b in bodies])
    if feed == "mmapi":
        compiled = Converter.compiled
        Converter.compiled = lambda *_: None  # type: ignore[method-assign]
        try:  # no compiled converter anywhere: Converter.record walks
            walked = {name: ChangeRecords(channel) for name, channel in CHANNELS.items()}
            timed(
                "before: convert walking the schema",
                lambda: [
                    walked[b["channel"]].build(
                        b["event"], b["payload"], b.get("old"), dict(ENVELOPE)
                    )
                    for b in bodies
                ],
            )
        finally:
            Converter.compiled = compiled  # type: ignore[method-assign]
        timed(
            "before: fingerprint as canonical JSON",
            lambda: [fingerprint(b["payload"], b.get("old")) for b in bodies],
        )
        schemas = {name: c.schema_name for name, c in CHANNELS.items()}
    else:
        converter = Converter(load_schema_dict("predexon_sports_live"))
        timed(
            "before: convert walking the schema",
            lambda: [
                converter.walk_record(converter.schema, b["data"], "data", None, OWNED)
                for b in bodies
            ],
        )
        timed(
            "before: fingerprint as canonical JSON",
            lambda: [fingerprint(b["data"]) for b in bodies],
        )
        schemas = {"sports_live": "predexon_sports_live"}
    parsed = {name: parse_schema(load_schema_dict(schema)) for name, schema in schemas.items()}

    def with_fastavro() -> list[Any]:
        out = []
        for name, value in values:
            buffer = BytesIO()
            schemaless_writer(buffer, parsed[name], value)
            out.append(buffer.getvalue())
        return out

    timed("before: encode with fastavro's schemaless writer", with_fastavro)


def walk(body: dict[str, Any]) -> dict[str, Any]:
    check_document(body, EdgeLimits().max_depth)
    return body


async def measure(feed: str, stack: EmbeddedStack) -> list[tuple[str, str]]:
    frames = FRAMES[feed](MESSAGES)
    async with firehose(feed, frames) as source:
        bare = await bare_client(feed, client_url(feed, source), len(frames))
        rate, rss, cpu = await connector_rate(
            feed, stack, source.ws_url, source.rest_url, len(frames)
        )
    rows = [
        (f"**{feed}**: frames (pre-encoded, served as fast as read)", f"{len(frames):,}"),
        ("  bare websockets + json.loads client", f"{bare:,.0f} msg/s"),
        ("  connector → acknowledged by Kafka", f"{rate:,.0f} msg/s"),
        ("  ratio connector / bare client", f"{rate / bare:.2f}"),
        ("  connector CPU time per record", f"{cpu:.1f} µs ({1e6 / cpu:,.0f} msg/s on a core)"),
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
