"""Connector throughput: messages/s from each simulated feed into Kafka by one connector
process, against the bare receive rate of a plain `websockets` client that only parses JSON
(the ceiling), in the same run; and the connector's peak RSS. One feed at a time, each with
the machine to itself.

Usage: bench/bench_connectors.py [RATE] [SECONDS]   (defaults 12000 msg/s for 8 s, both feeds
together as the simulator counts them)
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websockets

from bench.common import embedded_stack, peak_rss_mb, stop_child, table
from mmstream.simulators import ScenarioConfig, SimulatorCluster, run_simulators
from mmstream.simulators.scenario import DEFAULT_CLIENT
from mmstream.stack import EmbeddedStack
from mmstream.view.sources import scrape, total

RATE = float(sys.argv[1]) if len(sys.argv) > 1 else 12_000.0
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 8.0


@dataclass(frozen=True)
class Feed:
    """How to connect to one simulated feed, as the connector and as a bare client."""

    name: str
    label: str
    ws_url: str
    subscribe: dict[str, Any]
    data_type: str  # the `type` of a data message
    expected: int  # data messages the connector's subscription receives
    env: dict[str, str]


def mmapi_feed(sims: SimulatorCluster) -> Feed:
    return Feed(
        "mmapi",
        "MM API",
        sims.mmapi_ws_url,
        {
            "type": "subscribe",
            "apiKey": sims.mmapi_api_key,
            "channels": ["orders", "bets", "accounts", "scores", "emergency"],
        },
        "broadcast",
        sum(1 for s in sims.steps if s.feed == "mmapi" and s.client in (None, DEFAULT_CLIENT)),
        {
            "MMAPI_API_KEY": sims.mmapi_api_key,
            "MMAPI_WS_URL": sims.mmapi_ws_url,
            "MMAPI_REST_URL": sims.mmapi_rest_url,
            "MMAPI_TIME_WINDOW_PAST_S": str(sims.accepted_past_s()),
        },
    )


def predexon_feed(sims: SimulatorCluster) -> Feed:
    return Feed(
        "predexon",
        "Predexon",
        f"{sims.predexon_ws_base_url}/v1/{sims.predexon_api_key}",
        {
            "action": "subscribe",
            "platform": "predexon",
            "version": 1,
            "type": "sports_live",
            "filters": {"game_ids": ["*"]},
        },
        "event",
        sum(1 for s in sims.steps if s.feed == "predexon"),
        {
            "PREDEXON_API_KEY": sims.predexon_api_key,
            "PREDEXON_WS_URL": sims.predexon_ws_base_url,
            "PREDEXON_REST_URL": sims.predexon_rest_url,
            "PREDEXON_TIME_WINDOW_PAST_S": str(sims.accepted_past_s()),
        },
    )


# Predexon sends ~10 states per game over a scenario: many games make it a load
FEEDS = ((mmapi_feed, 6), (predexon_feed, 2_500))


async def bare_client(feed: Feed, done: asyncio.Event) -> tuple[int, float]:
    """Count data messages a JSON-parsing client receives until the scenario is done."""
    count, first, last = 0, 0.0, 0.0
    async with websockets.connect(feed.ws_url, max_queue=None) as ws:
        await ws.send(json.dumps(feed.subscribe))
        await ws.recv()
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), 2.0 if done.is_set() else 30.0)
            except TimeoutError:
                break
            if json.loads(raw).get("type") == feed.data_type:
                count += 1
                last = time.monotonic()
                first = first or last
    return count, max(last - first, 1e-9)


async def measure(
    stack: EmbeddedStack, make_feed: Any, games: int, metrics_port: int
) -> list[tuple[str, str]]:
    config = ScenarioConfig(
        seed=1, rate=RATE, duration_s=SECONDS, games=games, heartbeat_interval_s=60
    )
    async with run_simulators(config, autoplay=False) as sims:
        feed: Feed = make_feed(sims)
        prefix = feed.name.upper()
        env = {
            **os.environ,
            "MMSTREAM_BOOTSTRAP_SERVERS": stack.bootstrap_servers,
            "MMSTREAM_SCHEMA_REGISTRY_URL": stack.registry_url,
            "MMSTREAM_BROKER_PROFILE": "embedded",
            **feed.env,
            f"{prefix}_METRICS_PORT": str(metrics_port),
            "MMSTREAM_LOG_LEVEL": "WARNING",
        }
        connector = subprocess.Popen(
            [sys.executable, "-m", "mmstream.cli", "connect", feed.name],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        atexit.register(stop_child, connector)  # never leave it behind, even on error
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        while (samples := scrape(url)) is None or not any(
            labels.get("state") == "streaming" and v == 1
            for labels, v in samples.get("mmstream_connector_session_state", [])
        ):
            await asyncio.sleep(0.1)
        done = asyncio.Event()
        bare = asyncio.create_task(bare_client(feed, done))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        sims.play()
        await sims.wait_finished()
        done.set()
        published, progress_at = 0.0, time.monotonic()
        while published < feed.expected and time.monotonic() - progress_at < 5:
            samples = scrape(url) or {}
            now_published = total(samples, "mmstream_connector_records_published_total") - total(
                samples, "mmstream_connector_resync_records_total"
            )  # live messages only
            if now_published > published:
                published, progress_at = now_published, time.monotonic()
            await asyncio.sleep(0.05)
        elapsed = progress_at - started
        samples = scrape(url) or {}
        reconnects = total(samples, "mmstream_connector_reconnects_total")
        resynced = total(samples, "mmstream_connector_resync_records_total")
        dropped = total(samples, "mmstream_connector_duplicates_dropped_total")
        rss = peak_rss_mb(connector.pid)
        connector.terminate()
        connector.wait(60)
        received, bare_seconds = await bare
    connector_rate = published / elapsed
    bare_rate = received / bare_seconds
    return [
        (f"**{feed.label}**: messages for the connector's subscription", f"{feed.expected:,}"),
        ("  connector: acknowledged by Kafka", f"{published:,.0f} in {elapsed:.1f} s"),
        ("  connector throughput into Kafka", f"{connector_rate:,.0f} msg/s"),
        ("  bare websockets + json.loads client", f"{bare_rate:,.0f} msg/s ({received:,} msgs)"),
        ("  ratio connector / bare", f"{connector_rate / bare_rate:.2f}"),
        ("  dropped as repeats or out of date", f"{dropped:,.0f}"),
        ("  reconnects / records re-fetched over REST", f"{reconnects:.0f} / {resynced:.0f}"),
        ("  connector peak RSS", f"{rss:.0f} MiB"),
    ]


async def main() -> None:
    rows = [("offered rate (simulator, both feeds)", f"{RATE:,.0f} msg/s for {SECONDS:.0f} s")]
    port = 19_000 + os.getpid() % 1000
    with embedded_stack() as stack:
        for make_feed, games in FEEDS:
            rows += await measure(stack, make_feed, games, port)
    print(table(rows))


if __name__ == "__main__":
    asyncio.run(main())
